import { KcarunError } from '../../core/errors.js';
import { shellQuote } from '../../core/shell.js';
import type { Transport } from '../../transport/types.js';
import { type Certificate, parseCertificates } from '../../pki/certificate.js';
import { kubeconfigClientCert, parseKubeconfig } from '../../edit/kubeconfig.js';
import { certificatesInFile } from '../../pki/cert-file.js';

/** Where kubeadm and hand-installed clusters keep certificates and kubeconfigs. */
export const DEFAULT_CERT_DIRS = ['/etc/kubernetes', '/etc/etcd/ssl', '/var/lib/kubelet/pki'];

/** A certificate found in a file; `source` tells where in the file (`pem#2`, `client-certificate-data`). */
export interface FoundCertificate {
  path: string;
  source: string;
  certificate: Certificate;
}

export interface ScanFailure {
  path: string;
  message: string;
}

/** A kubeconfig that names its client certificate by path (kubelet.conf -> kubelet-client-current.pem). */
export interface KubeconfigReference {
  kubeconfig: string;
  certPath: string;
}

export interface ScanResult {
  found: FoundCertificate[];
  failures: ScanFailure[];
  references: KubeconfigReference[];
}

/**
 * Certificates in one file: every PEM CERTIFICATE block, or the embedded CA and client
 * certificates of a kubeconfig (`certificate-authority-data`, `client-certificate-data`). Private
 * key blocks and `client-key-data` are never decoded; a file that is neither yields nothing.
 */
export function extractCertificates(path: string, content: Buffer): FoundCertificate[] {
  const text = content.toString('utf8');
  const found: FoundCertificate[] = [];
  const add = (field: string, certs: Certificate[]) => certs.forEach((certificate, i) => found.push({ path, source: certs.length > 1 ? `${field}#${i + 1}` : field, certificate }));
  // PEM, DER or PKCS#7; a file that holds certificates only in part throws (an error row, issue 13.7).
  const direct = certificatesInFile(content, path);
  if (direct.length) {
    add(text.includes('-----BEGIN ') ? 'pem' : 'der', direct);
    return found;
  }
  if (!/certificate-authority-data|client-certificate-data/.test(text)) {
    if (/\.(crt|cert|der|p7b|p7c)$/i.test(path)) throw new KcarunError('E_PKI', `${path}: no certificate found (not PEM, DER or PKCS#7)`);
    return found;
  }
  let kc;
  try {
    kc = parseKubeconfig(text, path);
  } catch {
    return found; // not YAML: no kubeconfig, nothing embedded
  }
  for (const cluster of kc.clusters) if (cluster.ca && 'data' in cluster.ca) add('certificate-authority-data', parseCertificates(cluster.ca.data));
  for (const user of kc.users) if (user.certificate && 'data' in user.certificate) add('client-certificate-data', parseCertificates(user.certificate.data));
  return found;
}

/** foo.crt -> foo.key, foo.cert -> foo.key, foo.pem -> foo-key.pem (the "binary" layout). */
export function defaultKeyPath(certPath: string): string {
  if (/\.(crt|cert)$/.test(certPath)) return certPath.replace(/\.(crt|cert)$/, '.key');
  if (certPath.endsWith('.pem')) return certPath.replace(/\.pem$/, '-key.pem');
  return `${certPath}.key`;
}

/** Names that hold certificates; anything named like a key is never read. */
const FIND_NAMES = ['*.crt', '*.pem', '*.cert', '*.der', '*.p7b', '*.p7c', '*.conf', 'kubeconfig', '*.kubeconfig'];

/**
 * Files to scan on a host: each target that is a file, and matching files under each target that
 * is a directory (following symlinks such as kubelet-client-current.pem). One command per host.
 */
export async function listCertificateFiles(transport: Transport, targets: readonly string[], options: { become?: boolean } = {}): Promise<string[]> {
  const nameTest = FIND_NAMES.map((n) => `-name ${shellQuote(n)}`).join(' -o ');
  const script = targets
    .map((t) => {
      const q = shellQuote(t);
      return `if [ -d ${q} ]; then find -L ${q} -maxdepth 8 -type f \\( ${nameTest} \\) ! -iname '*key*' 2>/dev/null; elif [ -f ${q} ]; then printf '%s\\n' ${q}; fi`;
    })
    .join('; ');
  const res = await transport.exec(`${script}; true`, { become: options.become });
  if (res.rc !== 0) throw new KcarunError('E_REMOTE_EXIT', `cannot list certificate files: ${res.stderr.trim()}`, { host: transport.host });
  return [...new Set(res.stdout.split('\n').filter(Boolean))].sort();
}

/**
 * Most characters of quoted paths per `readlink` command. The remote shell gets the whole command as
 * one argument (`sh -c`), and Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN); OpenSSH
 * adds its own limit of 256 KiB per command. 64 KiB leaves room for the loop around the paths.
 */
const COMMAND_PATH_CHARS = 64 * 1024;

/** `paths` shell-quoted and cut into runs whose quoted length stays under COMMAND_PATH_CHARS (a longer path alone). */
function quotedChunks(paths: readonly string[]): Array<{ paths: string[]; quoted: string[] }> {
  const chunks: Array<{ paths: string[]; quoted: string[] }> = [];
  let current = { paths: [] as string[], quoted: [] as string[] };
  let length = 0;
  for (const p of paths) {
    const q = shellQuote(p);
    if (current.paths.length > 0 && length + q.length + 1 > COMMAND_PATH_CHARS) {
      chunks.push(current);
      current = { paths: [], quoted: [] };
      length = 0;
    }
    current.paths.push(p);
    current.quoted.push(q);
    length += q.length + 1;
  }
  if (current.paths.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Each path's file as the host resolves it (`readlink -f`: every symlink of the path resolved), one
 * command per run of paths up to COMMAND_PATH_CHARS. A folder reached through a symlink (kubespray
 * links /etc/kubernetes/pki to its /etc/kubernetes/ssl: kube_cert_compat_dir) gives every file two
 * names; callers use this to tell such aliases from distinct files. A path that does not resolve
 * maps to itself. Returns path -> canonical path. Throws KcarunError E_REMOTE_EXIT when a command
 * cannot run.
 */
export async function canonicalPaths(transport: Transport, paths: readonly string[], options: { become?: boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const chunk of quotedChunks(paths)) {
    const script = `for f in ${chunk.quoted.join(' ')}; do printf '%s\\0' "$(readlink -f -- "$f" 2>/dev/null)"; done; true`;
    const res = await transport.exec(script, { become: options.become });
    if (res.rc !== 0) throw new KcarunError('E_REMOTE_EXIT', `cannot resolve certificate paths: ${res.stderr.trim()}`, { host: transport.host });
    const resolved = res.stdout.split('\0');
    chunk.paths.forEach((p, i) => out.set(p, resolved[i] || p));
  }
  return out;
}

export async function scanCertificates(transport: Transport, targets: readonly string[], options: { become?: boolean } = {}): Promise<ScanResult> {
  const files = await listCertificateFiles(transport, targets, options);
  const result: ScanResult = { found: [], failures: [], references: [] };
  for (const path of files) {
    try {
      const content = await transport.readFile(path, { become: options.become });
      result.found.push(...extractCertificates(path, content));
      if (/^\s*client-certificate:/m.test(content.toString('utf8'))) {
        // Only to say which kubeconfig names a file: one this cannot read is still scanned as before.
        const client = (() => {
          try {
            return kubeconfigClientCert(content.toString('utf8'), path, transport.host);
          } catch {
            return null;
          }
        })();
        if (client?.kind === 'file') result.references.push({ kubeconfig: path, certPath: client.certPath });
      }
    } catch (err) {
      result.failures.push({ path, message: (err as Error).message });
    }
  }
  return result;
}
