/**
 * The apiserver's current client files, read from its own configuration (static pod manifest or unit
 * file) rather than assumed: a rotation may point --etcd-cafile at a new bundle file, and the lab's
 * clients that act "as the apiserver" must follow the flags the way the restarted apiserver does.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseFlags } from './common.js';
import { parseUnit } from './systemctl.js';

export interface ApiserverConfigRef {
  kind: 'manifest' | 'unit';
  /** Node path, e.g. /etc/kubernetes/manifests/kube-apiserver.yaml. */
  path: string;
}

export interface ApiserverClientFiles {
  etcd: { ca: string; cert: string; key: string };
  proxyClient?: { cert: string; key: string };
}

/** Node paths of the files; `resolve` maps a node path to where it can be read (the node's folder). */
export function apiserverClientFiles(ref: ApiserverConfigRef, resolve: (p: string) => string): ApiserverClientFiles {
  const text = readFileSync(resolve(ref.path), 'utf8');
  let argv: string[];
  if (ref.kind === 'manifest') {
    const doc = parse(text) as { spec?: { containers?: Array<{ command?: string[]; args?: string[] }> } };
    const c = doc.spec?.containers?.[0];
    argv = [...(c?.command ?? []), ...(c?.args ?? [])];
  } else {
    argv = parseUnit(text, (p) => {
      try {
        return readFileSync(resolve(p), 'utf8');
      } catch {
        return undefined;
      }
    }).execStart;
  }
  const flags = parseFlags(argv);
  const need = (name: string): string => {
    const v = flags.get(name);
    if (!v) throw new Error(`${ref.path}: no --${name}`);
    return v;
  };
  const proxyCert = flags.get('proxy-client-cert-file');
  const proxyKey = flags.get('proxy-client-key-file');
  return {
    etcd: { ca: need('etcd-cafile'), cert: need('etcd-certfile'), key: need('etcd-keyfile') },
    proxyClient: proxyCert && proxyKey ? { cert: proxyCert, key: proxyKey } : undefined,
  };
}
