import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import { LocalTransport } from '../transport/local.js';
import { terminalText } from '../core/terminal.js';

export interface CertsInspectArgs {
  /** A certificate/bundle/kubeconfig file, or a directory scanned for them. */
  target: string;
  output: 'table' | 'json';
  now?: Date;
}

/**
 * `kcarun certs inspect FILE|DIR`: every certificate found, with subject, issuer, SANs and expiry.
 * Exit code 1 when a file could not be parsed, a certificate has expired or does not match the key
 * beside it, else 0.
 */
export async function certsInspect(args: CertsInspectArgs, io: { stdout: (s: string) => void }): Promise<number> {
  const [{ scanCertificates, defaultKeyPath }, { certificateReport, formatTable, displayPath }, { verifyChain }, { keyMatchesSpki, loadPrivateKey }, { containsPrivateKey }] =
    await Promise.all([
      import('../tasks/shared/cert-scan.js'),
      import('../pki/report.js'),
      import('../pki/checks.js'),
      import('../pki/keys.js'),
      import('../pki/pem.js'),
    ]);
  const transport = new LocalTransport();
  if ((await transport.stat(args.target)) === null) throw new KcarunError('E_USAGE', `${args.target}: no such file or directory`);
  const now = args.now ?? new Date();
  const { found, failures } = await scanCertificates(transport, [args.target]);
  const cas = found.map((f) => f.certificate).filter((c) => c.isCa);
  /**
   * The key beside a certificate file (foo.crt -> foo.key, foo.pem -> foo-key.pem), or the one in the
   * file itself (kubelet-client-current.pem): null when there is none or it cannot be read
   * unencrypted. The key stays in memory, unprinted.
   */
  const keyFor = async (path: string): Promise<{ keyPath: string; key: KeyObject } | null> => {
    for (const keyPath of [defaultKeyPath(path), path]) {
      try {
        const pem = await transport.readFile(keyPath);
        if (keyPath === path && !containsPrivateKey(pem.toString('latin1'))) continue;
        return { keyPath, key: loadPrivateKey(pem, keyPath) };
      } catch {
        // no such file, or not a readable key: try the next place
      }
    }
    return null;
  };
  const rows = [];
  const notes: string[] = [];
  // Per PEM file: the key is matched against whichever of its certificates it belongs to (a ca.crt
  // in the wrong order, a leaf + chain file), and a certificate repeated in the file is flagged.
  for (const [path, inFile] of groupBy(found, (f) => f.path)) {
    const pem = inFile.filter((f) => f.source === 'pem' || f.source.startsWith('pem#'));
    const key = pem.length > 0 ? await keyFor(path) : null;
    const owner = key ? pem.find((f) => keyMatchesSpki(key.key, f.certificate.spkiDer)) : undefined;
    const firstSeen = new Map<string, string>();
    for (const f of inFile) {
      const { chain, trusted } = verifyChain(f.certificate, cas);
      let keyMatch: boolean | null = null;
      if (key && pem.includes(f)) keyMatch = owner ? (f === owner ? true : null) : f === pem[0] ? false : null;
      const duplicateOf = firstSeen.get(f.certificate.fingerprintSha256) ?? null;
      if (duplicateOf === null) firstSeen.set(f.certificate.fingerprintSha256, f.source);
      const row = {
        ...certificateReport(f.path, f.source, f.certificate, now),
        chainsTo: trusted ? (chain.at(-1)?.subjectText ?? null) : null,
        keyMatch,
        keyPath: keyMatch === null ? null : (key?.keyPath ?? null),
        duplicateOf,
      };
      rows.push(row);
      if (keyMatch === true && pem.length > 1) notes.push(`key ${key?.keyPath}: matches ${displayPath(row)} (${row.subject}), certificate ${pem.indexOf(f) + 1} of ${pem.length} in the file`);
      if (keyMatch === false) notes.push(`key ${key?.keyPath}: matches none of the ${pem.length} certificate(s) in ${path}`);
      if (duplicateOf !== null) notes.push(`duplicate: ${displayPath(row)} (${row.subject}) is the same certificate as ${duplicateOf} of the same file`);
      if (row.caCertHash) notes.push(`kubeadm join hash of ${displayPath(row)} (${row.subject}): --discovery-token-ca-cert-hash ${row.caCertHash}`);
    }
  }
  if (args.output === 'json') {
    io.stdout(`${JSON.stringify({ certificates: rows, errors: failures }, null, 2)}\n`);
  } else {
    io.stdout(
      formatTable(
        ['PATH', 'SUBJECT', 'ISSUER', 'SANS', 'NOT AFTER', 'DAYS LEFT', 'TYPE', 'KEY'],
        rows.map((r) => [
          displayPath(r),
          r.subject,
          r.issuer,
          r.sans.join(',') || '-',
          r.notAfter,
          String(r.daysLeft),
          r.duplicateOf ? `${r.kind} (DUPLICATE)` : r.kind,
          r.keyMatch === null ? '-' : r.keyMatch ? 'match' : 'MISMATCH',
        ]),
      ),
    );
    for (const n of notes) io.stdout(`${terminalText(n)}\n`);
    for (const f of failures) io.stdout(`${terminalText(`error: ${f.path}: ${f.message}`)}\n`);
    if (rows.length === 0 && failures.length === 0) io.stdout(`no certificates found in ${args.target}\n`);
  }
  return failures.length > 0 || rows.some((r) => new Date(r.notAfter) <= now || r.keyMatch === false) ? 1 : 0;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
}
