/**
 * Reading a node's kubeconfig from the machine, the way an operator copies one to their workstation.
 * kubeadm's kubeconfigs embed their PEM (`*-data` fields); hand-installed ones (the binary layout)
 * name files by node-absolute paths (/etc/kubernetes/ssl/admin.pem), which are resolved here in the
 * node's private folder (`nodeFs`). Relative paths are relative to the kubeconfig's own folder, as in
 * client-go (tools/clientcmd/loader.go ResolveLocalPaths).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { parse, stringify } from 'yaml';

/** PEM of the cluster's CA, the client certificate and its key, as a client presents them. */
export interface Creds {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

interface KubeconfigDoc {
  clusters?: Array<{ name?: string; cluster: Record<string, string> }>;
  users?: Array<{ name?: string; user: Record<string, string> }>;
}

/**
 * The first cluster's CA and the first user's client pair of `nodePath`, a kubeconfig inside the node
 * whose files lie under `nodeFs` (maps a node-absolute path to the machine's). Throws naming the file
 * and the field when one is missing.
 */
export function readNodeKubeconfig(nodeFs: (p: string) => string, nodePath: string): Creds {
  const file = nodeFs(nodePath);
  const doc = parse(readFileSync(file, 'utf8')) as KubeconfigDoc;
  const field = (o: Record<string, string> | undefined, name: string): Buffer => {
    const data = o?.[`${name}-data`];
    if (data) return Buffer.from(data, 'base64');
    const ref = o?.[name];
    if (!ref) throw new Error(`${file}: neither ${name}-data nor ${name}`);
    return readFileSync(nodeFs(isAbsolute(ref) ? ref : posix.join(posix.dirname(nodePath), ref)));
  };
  return {
    ca: field(doc.clusters?.[0]?.cluster, 'certificate-authority'),
    cert: field(doc.users?.[0]?.user, 'client-certificate'),
    key: field(doc.users?.[0]?.user, 'client-key'),
  };
}

/**
 * Writes to `to` (mode 0600: it holds a private key) a copy of the node's kubeconfig with its files
 * embedded, so the operator's kubectl on the machine can use it; the server address is kept.
 */
export function writeEmbeddedKubeconfig(nodeFs: (p: string) => string, nodePath: string, to: string): string {
  const doc = parse(readFileSync(nodeFs(nodePath), 'utf8')) as KubeconfigDoc & Record<string, unknown>;
  const creds = readNodeKubeconfig(nodeFs, nodePath);
  const cluster = doc.clusters?.[0]?.cluster ?? {};
  const user = doc.users?.[0]?.user ?? {};
  delete cluster['certificate-authority'];
  delete user['client-certificate'];
  delete user['client-key'];
  cluster['certificate-authority-data'] = creds.ca.toString('base64');
  user['client-certificate-data'] = creds.cert.toString('base64');
  user['client-key-data'] = creds.key.toString('base64');
  mkdirSync(dirname(to), { recursive: true });
  writeFileSync(`${to}.tmp`, stringify(doc), { mode: 0o600 });
  renameSync(`${to}.tmp`, to);
  return to;
}

/** Maps node-absolute paths into the node's private folder `root` (LabPaths.node(name).fs('/')). */
export const nodeFsAt = (root: string) => (p: string): string => join(root, p);
