import { unifiedDiff } from '../../edit/unified-diff.js';
import type { Certificate } from '../../pki/certificate.js';
import { containsPrivateKey } from '../../pki/pem.js';
import type { PlannedFile } from '../define.js';
import { redactDiff } from './redact-diff.js';

/** Lines added and removed by a unified diff (its `---`/`+++` header lines excluded). */
export function diffStats(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ') || line.startsWith('--- ')) continue;
    if (line.startsWith('+')) added++;
    else if (line.startsWith('-')) removed++;
  }
  return { added, removed };
}

type Describe = (c: Certificate) => string;

/**
 * The certificates a file holds (null: none, or not readable PEM), and how to describe one. The PKI
 * modules (node-forge, ~40 ms to load) are imported only for a file that has a PEM certificate
 * marker: a plain config's diff, the common case of file-upload and file-patch, never loads them.
 */
async function certificatesOf(data: Buffer): Promise<{ certs: Certificate[]; describe: Describe } | null> {
  if (!data.includes('CERTIFICATE-----')) return null;
  const [{ parseCertificates }, { formatSubjectAltName }] = await Promise.all([import('../../pki/certificate.js'), import('../../pki/extensions.js')]);
  const describe: Describe = (c) => {
    const sans = c.subjectAltNames.map(formatSubjectAltName);
    return `subject ${c.subjectText}${sans.length ? `, SANs ${sans.join(', ')}` : ''}, issuer ${c.issuerText}, ${c.notBefore.toISOString()} .. ${c.notAfter.toISOString()}`;
  };
  try {
    const certs = parseCertificates(data);
    return certs.length ? { certs, describe } : null;
  } catch {
    return null;
  }
}

/**
 * How a dry run shows a host file it would write: a key as "(key material, not shown)"; a
 * certificate or bundle by its certificates (subject, SANs, issuer, validity), old then new, each
 * counted as one line; any other text as a unified diff with secrets redacted.
 */
export async function plannedFileChange(
  host: string,
  path: string,
  before: Buffer | null,
  after: Buffer,
  mode: number | undefined,
  beforeMode: number | undefined,
): Promise<{ file: PlannedFile; diff: string }> {
  const kind: PlannedFile['kind'] = before === null ? 'create' : before.equals(after) ? 'mode' : 'modify';
  const label = `${host}:${path}`;
  const file = { path, kind, content: after, mode };
  if (kind === 'mode') return { file, diff: `${label}: mode ${beforeMode?.toString(8) ?? '?'} -> ${mode?.toString(8) ?? '?'} (content unchanged)` };
  const hasKey = containsPrivateKey(after.toString('latin1')) || (before !== null && containsPrivateKey(before.toString('latin1')));
  const newFound = await certificatesOf(after);
  const oldCerts = before ? ((await certificatesOf(before))?.certs ?? null) : null;
  if (newFound && (before === null || oldCerts)) {
    const { certs: newCerts, describe: describeCertificate } = newFound;
    const oldFp = new Set((oldCerts ?? []).map((c) => c.fingerprintSha256));
    const newFp = new Set(newCerts.map((c) => c.fingerprintSha256));
    const lines = [
      `--- ${label} (${oldCerts ? `${oldCerts.length} certificate(s)` : 'absent'})`,
      `+++ ${label} (${newCerts.length} certificate(s))`,
      ...(oldCerts ?? []).map((c) => `${newFp.has(c.fingerprintSha256) ? ' ' : '-'} ${describeCertificate(c)}`),
      ...newCerts.filter((c) => !oldFp.has(c.fingerprintSha256)).map((c) => `+ ${describeCertificate(c)}`),
      ...(hasKey ? ['  (the file holds a private key too: not shown)'] : []),
    ];
    const diff = lines.join('\n');
    return { file: { ...file, ...diffStats(diff) }, diff };
  }
  if (hasKey) {
    return { file: { ...file, added: 1, removed: before ? 1 : 0 }, diff: `${label}: ${kind === 'create' ? 'new' : 'replaced'} private key (key material, not shown)` };
  }
  const diff = redactDiff(unifiedDiff(before?.toString('utf8') ?? '', after.toString('utf8'), { oldLabel: label, newLabel: label }));
  return { file: { ...file, ...diffStats(diff) }, diff };
}
