import { KcarunError } from '../errors.js';
import { LocalTransport } from '../transport/local.js';

export interface CertsInspectArgs {
  /** A certificate/bundle/kubeconfig file, or a directory scanned for them. */
  target: string;
  output: 'table' | 'json';
  now?: Date;
}

/**
 * `kcarun certs inspect FILE|DIR`: every certificate found, with subject, issuer, SANs and expiry.
 * Exit code 1 when a file could not be parsed or a certificate has expired, else 0.
 */
export async function certsInspect(args: CertsInspectArgs, io: { stdout: (s: string) => void }): Promise<number> {
  const [{ scanCertificates }, { certificateReport, formatTable, displayPath }, { verifyChain }] = await Promise.all([
    import('../pki/scan.js'),
    import('../pki/report.js'),
    import('../pki/checks.js'),
  ]);
  const transport = new LocalTransport();
  if ((await transport.stat(args.target)) === null) throw new KcarunError('E_USAGE', `${args.target}: no such file or directory`);
  const now = args.now ?? new Date();
  const { found, failures } = await scanCertificates(transport, [args.target]);
  const cas = found.map((f) => f.certificate).filter((c) => c.isCa);
  const rows = found.map((f) => {
    const { chain, trusted } = verifyChain(f.certificate, cas);
    return { ...certificateReport(f.path, f.source, f.certificate, now), chainsTo: trusted ? (chain.at(-1)?.subjectText ?? null) : null };
  });
  if (args.output === 'json') {
    io.stdout(`${JSON.stringify({ certificates: rows, errors: failures }, null, 2)}\n`);
  } else {
    io.stdout(
      formatTable(
        ['PATH', 'SUBJECT', 'ISSUER', 'SANS', 'NOT AFTER', 'DAYS LEFT', 'TYPE'],
        rows.map((r) => [displayPath(r), r.subject, r.issuer, r.sans.join(',') || '-', r.notAfter, String(r.daysLeft), r.kind]),
      ),
    );
    for (const f of failures) io.stdout(`error: ${f.path}: ${f.message}\n`);
    if (rows.length === 0 && failures.length === 0) io.stdout(`no certificates found in ${args.target}\n`);
  }
  return failures.length > 0 || rows.some((r) => r.daysLeft < 0 || new Date(r.notAfter) <= now) ? 1 : 0;
}
