/**
 * Emulated Prometheus: reads --config.file (scrape_configs with tls_config ca_file/cert_file/key_file
 * and static targets) and scrapes every target's /metrics every scrape_interval. The TLS files are
 * re-read for every scrape, as Prometheus picks up changed files. Failed scrapes are events.
 */
import { parse } from 'yaml';
import { errorMessage, every, logEvent, pairMatches, parseFlags, readText, requireFlag, setComponent, tlsRequest } from '../shared/common.js';

interface ScrapeConfig {
  job_name: string;
  scheme?: string;
  tls_config?: { ca_file?: string; cert_file?: string; key_file?: string };
  static_configs?: Array<{ targets?: string[] }>;
}

export async function prometheusMain(argv: string[]): Promise<void> {
  setComponent('prometheus');
  const flags = parseFlags(argv);
  const config = parse(readText(requireFlag(flags, 'config.file'))) as { global?: { scrape_interval?: string }; scrape_configs?: ScrapeConfig[] };
  const interval = Number.parseFloat(config.global?.scrape_interval ?? '1') * 1000 || 1000;
  // The last consistent TLS files per job: a torn write (new certificate, old key) is skipped.
  const lastGood = new Map<string, { ca: string; cert: string | undefined; key: string | undefined }>();
  every(interval, async () => {
    await Promise.all(
      (config.scrape_configs ?? []).flatMap((job) =>
        (job.static_configs ?? []).flatMap((sc) =>
          (sc.targets ?? []).map(async (target) => {
            const url = `${job.scheme ?? 'http'}://${target}/metrics`;
            try {
              const t = job.tls_config ?? {};
              let tls = { ca: t.ca_file ? readText(t.ca_file) : '', cert: t.cert_file ? readText(t.cert_file) : undefined, key: t.key_file ? readText(t.key_file) : undefined };
              if (tls.cert && tls.key && !pairMatches(tls.cert, tls.key) && lastGood.has(job.job_name)) tls = lastGood.get(job.job_name)!;
              else lastGood.set(job.job_name, tls);
              const r = await tlsRequest(url, tls, { timeoutMs: 2000 });
              if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
            } catch (err) {
              logEvent('error', 'scrape', `prometheus job ${job.job_name} -> ${url}: ${errorMessage(err)}`, { target });
            }
          }),
        ),
      ),
    );
  });
}
