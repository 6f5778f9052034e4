import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../../core/errors.js';
import { safeFileName } from '../../core/names.js';
import type { CertificateAuthority } from '../../pki/ca.js';
import { type Certificate, parseCertificates, parseSingleCertificate } from '../../pki/certificate.js';
import { keyMatchesSpki, loadPrivateKey, privateKeyToPem } from '../../pki/keys.js';
import { defaultKeyPath } from './cert-scan.js';
import type { RunState, TaskContext } from '../define.js';
import type { CertPath, CertSource } from './schemas.js';

/** The passphrase for stored CA keys (KCARUN_CA_PASSPHRASE, read by src/engine/state-dir.ts into RunState). */
export function caPassphrase(state: RunState): string | undefined {
  return state.caPassphrase;
}

export const caCertArtifact = (name: string): string => `ca/${name}.crt`;
export const caKeyArtifact = (name: string): string => `ca/${name}.key`;
/** The CA a rotation replaces, as first seen on the cluster (saved by ca-status, or by ca-generate from its oldCa). */
export const oldCaArtifact = (name: string): string => `ca/${name}-old.crt`;

/** Where a host's re-issued file goes: hosts/<host>/<absolute path without the leading slash>. */
export function hostArtifact(host: string, path: string): string {
  if (path.split('/').includes('..')) throw new KcarunError('E_SCHEMA', `certificate paths must not contain "..": ${path}`, { host });
  return `hosts/${safeFileName(host)}/${path.replace(/^\/+/, '')}`;
}

export { defaultKeyPath };

export function describeSource(source: CertSource, defaultHost: string): string {
  return 'artifact' in source ? `artifact ${source.artifact}` : `${source.host ?? defaultHost}:${source.path}`;
}

/** The certificates of a source (a bundle gives several). Missing artifacts say which task makes them. */
export async function readSourceCertificates(ctx: TaskContext<unknown>, source: CertSource): Promise<Certificate[]> {
  let data: Buffer;
  const what = describeSource(source, ctx.host.name);
  if ('artifact' in source) {
    const found = await ctx.state.readArtifact(source.artifact);
    if (!found) throw new KcarunError('E_STATE', `${what} does not exist yet (made by ca-generate / ca-bundle / cert-reissue)`, { host: ctx.host.name });
    data = found;
  } else {
    const host = source.host ?? ctx.host.name;
    const transport = source.host && source.host !== ctx.host.name ? await ctx.transportFor(source.host) : ctx.transport;
    const become = ctx.inventoryHosts.get(host)?.become ?? ctx.host.become;
    data = await transport.readFile(source.path, { become });
  }
  const certs = parseCertificates(data);
  if (certs.length === 0) throw new KcarunError('E_PKI', `${what}: no PEM certificate found`, { host: ctx.host.name });
  return certs;
}

/** The CA made by ca-generate, from the state dir. */
export async function loadCa(state: RunState, name: string): Promise<CertificateAuthority | null> {
  const certPem = await state.readArtifact(caCertArtifact(name));
  if (!certPem) return null;
  const keyPem = await state.readArtifact(caKeyArtifact(name));
  if (!keyPem) throw new KcarunError('E_STATE', `CA ${name}: ${caCertArtifact(name)} exists but its key ${caKeyArtifact(name)} is missing`);
  const certificate = parseSingleCertificate(certPem, caCertArtifact(name));
  const privateKey = loadPrivateKey(keyPem, `CA key ${caKeyArtifact(name)}`, caPassphrase(state));
  if (!keyMatchesSpki(privateKey, certificate.spkiDer)) {
    throw new KcarunError('E_STATE', `CA ${name}: the key in ${caKeyArtifact(name)} does not match ${caCertArtifact(name)}`);
  }
  return { certificate, privateKey };
}

export async function requireCa(state: RunState, name: string): Promise<CertificateAuthority> {
  const ca = await loadCa(state, name);
  if (!ca) throw new KcarunError('E_STATE', `CA ${name} does not exist in the state dir: run a ca-generate task with name: ${name} first`);
  return ca;
}

export function keyPem(key: KeyObject, passphrase?: string): string {
  return privateKeyToPem(key, passphrase);
}

const KUBEADM_SETS: Record<string, string[]> = {
  'kubeadm-kubernetes': ['apiserver.crt', 'apiserver-kubelet-client.crt'],
  'kubeadm-etcd': ['etcd/server.crt', 'etcd/peer.crt', 'etcd/healthcheck-client.crt', 'apiserver-etcd-client.crt'],
  'kubeadm-front-proxy': ['front-proxy-client.crt'],
};

export interface CertTarget {
  cert: string;
  key: string;
  sans: string[];
  /** From `set`: skip when absent. */
  optional: boolean;
}

/** The certificate files a task works on: `paths` plus the files of a kubeadm `set`. */
export function resolveTargets(params: { paths?: CertPath[]; set?: string; pkiDir?: string; missing?: 'error' | 'skip' }): CertTarget[] {
  const targets: CertTarget[] = [];
  for (const p of params.paths ?? []) {
    const t = typeof p === 'string' ? { cert: p } : p;
    targets.push({ cert: t.cert, key: ('key' in t && t.key) || defaultKeyPath(t.cert), sans: ('sans' in t && t.sans) || [], optional: params.missing === 'skip' });
  }
  if (params.set) {
    const dir = (params.pkiDir ?? '/etc/kubernetes/pki').replace(/\/+$/, '');
    for (const rel of KUBEADM_SETS[params.set] ?? []) {
      const cert = `${dir}/${rel}`;
      if (!targets.some((t) => t.cert === cert)) targets.push({ cert, key: defaultKeyPath(cert), sans: [], optional: true });
    }
  }
  return targets;
}
