/**
 * The apiserver's current client files, read from its own static pod manifest rather than assumed:
 * a rotation may point --etcd-cafile at a new bundle file, and the lab's clients that act "as the
 * apiserver" must follow the flags the way the restarted apiserver does. (Only the emulated kubeadm
 * layout runs an apiserver stand-in: the emulated binary lab, whose apiserver was a unit, is retired.)
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseFlags } from './common.js';

export interface ApiserverClientFiles {
  etcd: { ca: string; cert: string; key: string };
  proxyClient?: { cert: string; key: string };
}

/**
 * Node paths of the files the manifest (a node path, e.g. /etc/kubernetes/manifests/kube-apiserver.yaml)
 * names; `resolve` maps a node path to where it can be read (the node's folder). Throws when the
 * manifest cannot be read or names no --etcd-cafile, --etcd-certfile or --etcd-keyfile.
 */
export function apiserverClientFiles(manifest: string, resolve: (p: string) => string): ApiserverClientFiles {
  const doc = parse(readFileSync(resolve(manifest), 'utf8')) as { spec?: { containers?: Array<{ command?: string[]; args?: string[] }> } };
  const c = doc.spec?.containers?.[0];
  const flags = parseFlags([...(c?.command ?? []), ...(c?.args ?? [])]);
  const need = (name: string): string => {
    const v = flags.get(name);
    if (!v) throw new Error(`${manifest}: no --${name}`);
    return v;
  };
  const proxyCert = flags.get('proxy-client-cert-file');
  const proxyKey = flags.get('proxy-client-key-file');
  return {
    etcd: { ca: need('etcd-cafile'), cert: need('etcd-certfile'), key: need('etcd-keyfile') },
    proxyClient: proxyCert && proxyKey ? { cert: proxyCert, key: proxyKey } : undefined,
  };
}
