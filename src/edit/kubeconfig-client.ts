import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KcarunError } from '../core/errors.js';

/**
 * Where a kubeconfig keeps its user's client certificate: embedded (`client-certificate-data`, as
 * older kubeadm writes kubelet.conf and every control-plane kubeconfig) or referenced by path
 * (`client-certificate` / `client-key`, as kubeadm >= 1.17 writes kubelet.conf, pointing both at
 * /var/lib/kubelet/pki/kubelet-client-current.pem).
 */
export type KubeconfigClientCert =
  | { kind: 'embedded'; user: string; certPem: Buffer }
  | { kind: 'file'; user: string; certPath: string; keyPath: string | undefined };

type UserEntry = { name?: unknown; user?: Record<string, unknown> };

/**
 * The client certificate of a kubeconfig's only user with one, or null when no user has one (token
 * or exec credentials). Relative paths are resolved against the kubeconfig's folder, as kubectl
 * does. Several users with certificates are refused: which one to handle would be a guess.
 */
export function kubeconfigClientCert(text: string, kubeconfigPath: string, host?: string): KubeconfigClientCert | null {
  let doc: { users?: UserEntry[] } | null;
  try {
    doc = parseYaml(text) as typeof doc;
  } catch (err) {
    throw new KcarunError('E_PKI', `${kubeconfigPath} is not a valid kubeconfig: ${(err as Error).message}`, { host, path: kubeconfigPath }, { cause: err });
  }
  const withCert = (doc?.users ?? []).filter((u) => typeof u?.user?.['client-certificate-data'] === 'string' || typeof u?.user?.['client-certificate'] === 'string');
  if (withCert.length === 0) return null;
  if (withCert.length > 1) {
    throw new KcarunError('E_PKI', `${kubeconfigPath} has ${withCert.length} users with client certificates; list their files under paths instead`, { host, path: kubeconfigPath });
  }
  const entry = withCert[0]!;
  const user = String(entry.name ?? '');
  const u = entry.user!;
  if (typeof u['client-certificate-data'] === 'string') return { kind: 'embedded', user, certPem: Buffer.from(u['client-certificate-data'], 'base64') };
  const resolve = (p: string) => (posix.isAbsolute(p) ? p : posix.join(posix.dirname(kubeconfigPath), p));
  const keyPath = typeof u['client-key'] === 'string' ? resolve(u['client-key']) : undefined;
  return { kind: 'file', user, certPath: resolve(String(u['client-certificate'])), keyPath };
}

/** kubelet-client-current.pem -> kubelet-client-2026-11-28-20-51-07.pem: the name the kubelet itself gives a renewed pair. */
export function timestampedPairName(linkName: string, now: Date): string {
  const ts = now.toISOString().slice(0, 19).replace(/[T:]/g, '-');
  const m = /^(.*)-current\.pem$/.exec(linkName);
  const prefix = m ? m[1]! : linkName.replace(/\.pem$/, '');
  return `${prefix}-${ts}.pem`;
}
