import { KcarunError } from '../core/errors.js';
import { LocalTransport } from '../transport/local.js';

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
  const [{ scanCertificates, defaultKeyPath }, { certificateReport, formatTable, displayPath }, { verifyChain }, { keyMatchesSpki, loadPrivateKey }] = await Promise.all([
    import('../tasks/shared/cert-scan.js'),
    import('../pki/report.js'),
    import('../pki/checks.js'),
    import('../pki/keys.js'),
  ]);
  const transport = new LocalTransport();
  if ((await transport.stat(args.target)) === null) throw new KcarunError('E_USAGE', `${args.target}: no such file or directory`);
  const now = args.now ?? new Date();
  const { found, failures } = await scanCertificates(transport, [args.target]);
  const cas = found.map((f) => f.certificate).filter((c) => c.isCa);
  /**
   * Whether the key beside a certificate file (foo.crt -> foo.key, foo.pem -> foo-key.pem) is its key:
   * null when there is none or it cannot be read unencrypted. The key stays in memory, unprinted.
   */
  const keyMatch = async (path: string, source: string, spki: Buffer): Promise<boolean | null> => {
    if (source !== 'pem') return null;
    try {
      const keyPath = defaultKeyPath(path);
      const key = loadPrivateKey(await transport.readFile(keyPath), keyPath);
      return keyMatchesSpki(key, spki);
    } catch {
      return null;
    }
  };
  const rows = [];
  for (const f of found) {
    const { chain, trusted } = verifyChain(f.certificate, cas);
    rows.push({
      ...certificateReport(f.path, f.source, f.certificate, now),
      chainsTo: trusted ? (chain.at(-1)?.subjectText ?? null) : null,
      keyMatch: await keyMatch(f.path, f.source, f.certificate.spkiDer),
    });
  }
  if (args.output === 'json') {
    io.stdout(`${JSON.stringify({ certificates: rows, errors: failures }, null, 2)}\n`);
  } else {
    io.stdout(
      formatTable(
        ['PATH', 'SUBJECT', 'ISSUER', 'SANS', 'NOT AFTER', 'DAYS LEFT', 'TYPE', 'KEY'],
        rows.map((r) => [displayPath(r), r.subject, r.issuer, r.sans.join(',') || '-', r.notAfter, String(r.daysLeft), r.kind, r.keyMatch === null ? '-' : r.keyMatch ? 'match' : 'MISMATCH']),
      ),
    );
    for (const f of failures) io.stdout(`error: ${f.path}: ${f.message}\n`);
    if (rows.length === 0 && failures.length === 0) io.stdout(`no certificates found in ${args.target}\n`);
  }
  return failures.length > 0 || rows.some((r) => new Date(r.notAfter) <= now || r.keyMatch === false) ? 1 : 0;
}
