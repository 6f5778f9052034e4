import { type Certificate, daysLeft } from './certificate.js';
import { formatSubjectAltName } from './extensions.js';
import { discoveryTokenCaCertHash, formatKeyId } from './issuer.js';
import { terminalText } from '../core/terminal.js';

/** One certificate as `certs inspect` / `certs expiry` show it (JSON-safe, no key material). */
export interface CertificateReport {
  path: string;
  source: string;
  subject: string;
  issuer: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  kind: 'CA' | 'leaf';
  serialNumber: string;
  key: string;
  keyUsage: string[];
  extKeyUsage: string[];
  fingerprintSha256: string;
  /** Key identifiers as `openssl x509 -text` prints them (`AB:CD:...`); null when absent. */
  subjectKeyId: string | null;
  authorityKeyId: string | null;
  /** CAs only: what `kubeadm join --discovery-token-ca-cert-hash` pins (`sha256:<hex>` of the SPKI). */
  caCertHash: string | null;
}

export function certificateReport(path: string, source: string, cert: Certificate, now: Date): CertificateReport {
  return {
    path,
    source,
    subject: cert.subjectText,
    issuer: cert.issuerText,
    sans: cert.subjectAltNames.map(formatSubjectAltName),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    daysLeft: daysLeft(cert, now),
    kind: cert.isCa ? 'CA' : 'leaf',
    serialNumber: cert.serialNumber,
    key: cert.keyDescription,
    keyUsage: cert.keyUsage ?? [],
    extKeyUsage: cert.extKeyUsage ?? [],
    fingerprintSha256: cert.fingerprintSha256,
    subjectKeyId: formatKeyId(cert.subjectKeyId),
    authorityKeyId: formatKeyId(cert.authorityKeyId),
    caCertHash: cert.isCa ? discoveryTokenCaCertHash(cert) : null,
  };
}

/** A plain text table with a header row; columns padded to their widest cell. */
export function formatTable(header: readonly string[], rowsIn: readonly (readonly string[])[]): string {
  // Cells hold certificate text (subjects, SANs) that anyone who made the certificate chose: one
  // line each, control characters escaped, so a subject with a newline cannot forge a row.
  const rows = rowsIn.map((r) => r.map((c) => terminalText(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function displayPath(r: { path: string; source: string }): string {
  return r.source === 'pem' ? r.path : `${r.path} (${r.source})`;
}
