import type { Transport } from '../transport/types.js';
import type { CertificateReport } from '../pki/report.js';
import { terminalText } from '../core/terminal.js';

export interface CertsExpiryHost {
  host: string;
  transport: Transport;
  /** Read this host's files through sudo (its inventory `become`); default: `args.become`. */
  become?: boolean;
}

export interface CertsExpiryArgs {
  hosts: readonly CertsExpiryHost[];
  /** Files or directories to scan on every host (default: /etc/kubernetes, /etc/etcd/ssl, /var/lib/kubelet/pki). */
  paths?: readonly string[];
  /** Exit 1 when a certificate has fewer days left than this (default 30). */
  warnDays?: number;
  output: 'table' | 'json';
  /** Writes node_exporter textfile-collector metrics here (atomically). */
  prometheusFile?: string;
  /** Read files through sudo (inventory `become`). */
  become?: boolean;
  now?: Date;
}

export interface ExpiryRow extends CertificateReport {
  host: string;
  warn: boolean;
  /** Kubeconfigs on the host that name this file as their client certificate. */
  kubeconfigs: string[];
  /** An expired legacy client certificate whose valid `*-current.pem` pair is beside it: what to do. */
  hint: string | null;
}

export const DEFAULT_WARN_DAYS = 30;

/**
 * `kcarun certs expiry`: every certificate on every host, like `kubeadm certs check-expiration`
 * for the whole cluster. Uses only Transport.exec/readFile, so SSH and local hosts work alike.
 * Exit 1 when anything is under the threshold, a host/file could not be read, or the check found
 * nothing (a `--path` with no certificate on any host, or no certificate at all): a cron check
 * pointed at a typo must not pass.
 */
export async function certsExpiry(args: CertsExpiryArgs, io: { stdout: (s: string) => void }): Promise<number> {
  const [{ scanCertificates, DEFAULT_CERT_DIRS }, { certificateReport, formatTable }, { currentPairPath, expiredLegacyClientCertHint }] = await Promise.all([
    import('../tasks/shared/cert-scan.js'),
    import('../pki/report.js'),
    import('../pki/client-cert-hints.js'),
  ]);
  const now = args.now ?? new Date();
  const warnDays = args.warnDays ?? DEFAULT_WARN_DAYS;
  const paths = args.paths && args.paths.length > 0 ? args.paths : DEFAULT_CERT_DIRS;
  const rows: ExpiryRow[] = [];
  const errors: Array<{ host: string; path?: string; message: string }> = [];
  const scanned = await Promise.all(
    args.hosts.map(async (h) => {
      try {
        return { host: h.host, result: await scanCertificates(h.transport, paths, { become: h.become ?? args.become }) };
      } catch (err) {
        return { host: h.host, error: (err as Error).message };
      }
    }),
  );
  for (const s of scanned) {
    if (s.error !== undefined || !s.result) {
      errors.push({ host: s.host, message: s.error ?? 'scan failed' });
      continue;
    }
    for (const f of s.result.failures) errors.push({ host: s.host, path: f.path, message: f.message });
    const { found, references } = s.result;
    for (const f of found) {
      const report = certificateReport(f.path, f.source, f.certificate, now);
      const kubeconfigs = f.source === 'pem' || f.source === 'pem#1' ? references.filter((r) => r.certPath === f.path).map((r) => r.kubeconfig) : [];
      const currentPath = currentPairPath(f.path);
      const current = found.find((c) => c.path === currentPath);
      const hint = kubeconfigs[0] ? expiredLegacyClientCertHint(kubeconfigs[0], f.path, f.certificate, current ? { path: current.path, certificate: current.certificate } : null, now) : null;
      rows.push({ host: s.host, ...report, warn: f.certificate.notAfter.getTime() - now.getTime() < warnDays * 86_400_000, kubeconfigs, hint });
    }
  }
  rows.sort((a, b) => a.notAfter.localeCompare(b.notAfter) || a.host.localeCompare(b.host) || a.path.localeCompare(b.path));
  // A check that found nothing must not look healthy from cron: a --path that matched no
  // certificate on any host is a typo or the wrong inventory, and so is an empty report.
  const reachable = scanned.some((s) => s.result);
  if (reachable && args.paths && args.paths.length > 0) {
    for (const p of args.paths) {
      const under = p.endsWith('/') ? p : `${p}/`;
      if (!rows.some((r) => r.path === p || r.path.startsWith(under))) errors.push({ host: '(every host)', path: p, message: 'no certificate found there on any host' });
    }
  } else if (reachable && rows.length === 0) {
    errors.push({ host: '(every host)', message: `no certificate found on any host in ${paths.join(', ')}` });
  }

  if (args.prometheusFile) {
    const { writeFileAtomic } = await import('../transport/local.js');
    await writeFileAtomic(args.prometheusFile, prometheusText(rows, scanned.map((s) => ({ host: s.host, ok: s.error === undefined && s.result?.failures.length === 0 }))), 0o644);
  }
  if (args.output === 'json') {
    io.stdout(`${JSON.stringify({ warnDays, certificates: rows, errors }, null, 2)}\n`);
  } else {
    io.stdout(
      formatTable(
        ['HOST', 'PATH', 'SUBJECT', 'NOT AFTER', 'DAYS LEFT', 'TYPE', ''],
        rows.map((r) => [r.host, displayPath(r), r.subject, r.notAfter, String(r.daysLeft), r.kind, r.warn ? `WARN (< ${warnDays} days)` : '']),
      ),
    );
    for (const r of rows.filter((x) => x.warn && x.kubeconfigs.length > 0)) {
      io.stdout(`${terminalText(`${r.host}: ${r.path} is the client certificate of ${r.kubeconfigs.join(', ')}${r.hint ? `: ${r.hint}` : ''}`)}\n`);
    }
    for (const e of errors) io.stdout(`${terminalText(`error: ${e.host}${e.path ? `:${e.path}` : ''}: ${e.message}`)}\n`);
  }
  return rows.some((r) => r.warn) || errors.length > 0 ? 1 : 0;
}

/**
 * A label value of the Prometheus text exposition format. The format knows three escapes, `\\`,
 * `\"` and `\n` (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text format
 * details"); any other backslash sequence, a `\u202e` included, is a parse error that loses the
 * whole file. Other control characters (C0 but the newline, DEL, C1) and the bidi controls (U+061C,
 * U+200E/F, U+202A-202E, U+2066-2069) and line/paragraph separators, which a host can put in a
 * file name or a certificate subject to hide text or reorder what a dashboard shows, are written
 * as the visible text `<U+XXXX>` instead: legal in a label value, and readable.
 */
function label(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`)).replace(UNSAFE_IN_LABEL, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
}

const UNSAFE_IN_LABEL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/** The textfile-collector format: one gauge per certificate, plus whether each host could be scanned. */
export function prometheusText(rows: readonly ExpiryRow[], hosts: ReadonlyArray<{ host: string; ok: boolean }>): string {
  const lines = [
    '# HELP kcarun_cert_expiry_timestamp_seconds NotAfter of a certificate, as a Unix timestamp.',
    '# TYPE kcarun_cert_expiry_timestamp_seconds gauge',
    ...rows.map(
      (r) =>
        `kcarun_cert_expiry_timestamp_seconds{host="${label(r.host)}",path="${label(displayPath(r))}",subject="${label(r.subject)}"} ${Math.floor(Date.parse(r.notAfter) / 1000)}`,
    ),
    '# HELP kcarun_cert_expiry_scan_success 1 when every certificate file of the host could be read.',
    '# TYPE kcarun_cert_expiry_scan_success gauge',
    ...hosts.map((h) => `kcarun_cert_expiry_scan_success{host="${label(h.host)}"} ${h.ok ? 1 : 0}`),
  ];
  return `${lines.join('\n')}\n`;
}

function displayPath(r: { path: string; source: string }): string {
  return r.source === 'pem' ? r.path : `${r.path} (${r.source})`;
}
