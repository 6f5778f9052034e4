import type { Certificate } from './certificate.js';

/**
 * The kubelet's rotating pair beside a legacy client certificate: `kubelet-client.crt` ->
 * `kubelet-client-current.pem` in the same folder (kubeadm < 1.17 wrote kubelet.conf naming
 * kubelet-client.crt/.key; with client certificate rotation the kubelet keeps its valid
 * certificate and key in kubelet-client-current.pem, and the legacy file expires unnoticed).
 * null for a file that already is a `*-current.pem`.
 */
export function currentPairPath(certPath: string): string | null {
  const slash = certPath.lastIndexOf('/');
  const dir = certPath.slice(0, slash + 1);
  const base = certPath.slice(slash + 1);
  if (base.endsWith('-current.pem')) return null;
  const stem = base.replace(/\.(crt|cert|pem)$/, '');
  if (stem === base) return null;
  return `${dir}${stem}-current.pem`;
}

/**
 * For a kubeconfig's client certificate that has expired while the current pair beside it is
 * valid: what to do instead of renewing the dead file. null when that is not the case.
 */
export function expiredLegacyClientCertHint(
  kubeconfig: string,
  certPath: string,
  cert: Certificate,
  current: { path: string; certificate: Certificate } | null,
  now: Date,
): string | null {
  if (cert.notAfter > now || !current || current.path === certPath) return null;
  const c = current.certificate;
  if (c.notAfter <= now || c.notBefore > now) return null;
  return (
    `${kubeconfig} names ${certPath}, which expired on ${cert.notAfter.toISOString()}; ${current.path} beside it is valid until ${c.notAfter.toISOString()} ` +
    `(${c.subjectText}): point client-certificate and client-key of ${kubeconfig} at ${current.path} instead of renewing the expired file`
  );
}
