/**
 * PKI benchmark: re-issuing certificates with kcarun's src/pki vs. an `openssl` CLI loop doing
 * the same work on the same machine (both sides use both cores).
 *   reuse:  re-sign an existing public key (kcarun: parse the PEM + re-issue; openssl: `x509 -req`
 *           from a CSR with an extensions file, since OpenSSL 3.0's `x509 -CA` refuses non-self-signed input)
 *   rotate: a new RSA-2048 key + certificate (kcarun: keys on libuv's pool; openssl: `req -x509 -newkey -CA`)
 * The openssl loops run fewer iterations (they are slow) on 2 parallel workers, and their rate is
 * extrapolated to 1,000. Run: npx tsx bench/pki.ts  (env KCARUN_BENCH_N, KCARUN_BENCH_OPENSSL_N)
 */
import { execFile } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCa } from '../src/pki/ca.js';
import { parseSingleCertificate } from '../src/pki/certificate.js';
import { privateKeyToPem } from '../src/pki/keys.js';
import { reissueLeafCertificate } from '../src/pki/reissue.js';

const run = promisify(execFile);
const N = Number(process.env.KCARUN_BENCH_N ?? 1000);
const OPENSSL_N = { reuse: Number(process.env.KCARUN_BENCH_OPENSSL_N ?? 100), rotate: Number(process.env.KCARUN_BENCH_OPENSSL_N ?? 40) };
const OPENSSL_WORKERS = 2;
const SANS = 'DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc.cluster.local,DNS:cp1,IP:10.96.0.1,IP:192.168.56.11,IP:127.0.0.1';

interface Row {
  case: 'reuse' | 'rotate';
  tool: 'kcarun' | 'openssl';
  count: number;
  seconds: number;
  perSecond: number;
  /** Seconds for 1,000 at the measured rate. */
  secondsPer1000: number;
  /** CPU seconds (all threads, or all openssl child processes) per 1,000: does not depend on the machine's load. */
  cpuSecondsPer1000: number;
}

/** CPU seconds of this process (every thread) and of its waited-for children (/proc/self/stat cutime+cstime). */
async function cpuSeconds(): Promise<{ self: number; children: number }> {
  const u = process.cpuUsage();
  const stat = (await readFile('/proc/self/stat', 'utf8')).slice((await readFile('/proc/self/stat', 'utf8')).lastIndexOf(')') + 2).split(' ');
  const ticks = Number(stat[13]) + Number(stat[14]); // fields 16, 17: cutime, cstime (USER_HZ = 100)
  return { self: (u.user + u.system) / 1e6, children: ticks / 100 };
}

async function measure(c: Row['case'], tool: Row['tool'], count: number, work: () => Promise<void>): Promise<Row> {
  const cpu0 = await cpuSeconds();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const cpu1 = await cpuSeconds();
  const cpu = tool === 'kcarun' ? cpu1.self - cpu0.self : cpu1.children - cpu0.children;
  return { case: c, tool, count, seconds: ms / 1000, perSecond: count / (ms / 1000), secondsPer1000: (ms / 1000) * (1000 / count), cpuSecondsPer1000: cpu * (1000 / count) };
}

async function parallel(count: number, workers: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] ?? NaN;
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-bench-pki-'));
  try {
    const o = (args: string[]) => run('openssl', args, { cwd: dir });
    // The "old" cluster PKI, made by OpenSSL.
    await o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'old-ca.key', '-out', 'old-ca.crt', '-days', '3650', '-subj', '/CN=kubernetes']);
    await o(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=kube-apiserver']);
    await writeFile(join(dir, 'leaf.ext'), `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=${SANS}\n`);
    await o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'old-ca.crt', '-CAkey', 'old-ca.key', '-set_serial', '1', '-days', '365', '-extfile', 'leaf.ext', '-out', 'leaf.crt']);
    const leafPem = await readFile(join(dir, 'leaf.crt'), 'utf8');
    const ca = await createCa({ oldCa: parseSingleCertificate(await readFile(join(dir, 'old-ca.crt')), 'old CA') });
    await writeFile(join(dir, 'new-ca.crt'), ca.certificate.pem);
    await writeFile(join(dir, 'new-ca.key'), privateKeyToPem(ca.privateKey), { mode: 0o600 });
    await mkdir(join(dir, 'out'));
    const rows: Row[] = [];

    // Warm-up (JIT, OpenSSL init), not measured.
    for (let i = 0; i < 20; i++) await reissueLeafCertificate(parseSingleCertificate(leafPem, 'leaf'), ca);

    let bytes = 0;
    rows.push(
      await measure('reuse', 'kcarun', N, () =>
        parallel(N, 8, async () => {
          bytes += (await reissueLeafCertificate(parseSingleCertificate(leafPem, 'leaf'), ca)).certificate.pem.length;
        }),
      ),
    );
    if (bytes === 0) throw new Error('nothing produced');

    rows.push(
      await measure('rotate', 'kcarun', N, () =>
        parallel(N, 16, async () => {
          const r = await reissueLeafCertificate(parseSingleCertificate(leafPem, 'leaf'), ca, { keyPolicy: 'rotate' });
          if (!r.privateKey) throw new Error('rotate made no key');
        }),
      ),
    );

    rows.push(
      await measure('reuse', 'openssl', OPENSSL_N.reuse, () =>
        parallel(OPENSSL_N.reuse, OPENSSL_WORKERS, (i) =>
          o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'new-ca.crt', '-CAkey', 'new-ca.key', '-set_serial', String(i + 2), '-days', '365', '-extfile', 'leaf.ext', '-out', `out/reuse-${i}.crt`]),
        ),
      ),
    );

    rows.push(await measure('rotate', 'openssl', OPENSSL_N.rotate, () =>
      parallel(OPENSSL_N.rotate, OPENSSL_WORKERS, (i) =>
      o([
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `out/rotate-${i}.key`, '-subj', '/CN=kube-apiserver',
        '-addext', `subjectAltName=${SANS}`, '-addext', 'extendedKeyUsage=serverAuth', '-CA', 'new-ca.crt', '-CAkey', 'new-ca.key', '-days', '365', '-out', `out/rotate-${i}.crt`,
      ]),
    )));
    // The openssl output must be real certificates, or the comparison means nothing.
    await o(['verify', '-CAfile', 'new-ca.crt', 'out/reuse-0.crt', 'out/rotate-0.crt']);

    const rate = (c: Row['case'], tool: Row['tool']) => rows.find((r) => r.case === c && r.tool === tool)?.perSecond ?? NaN;
    const cpu = (c: Row['case'], tool: Row['tool']) => rows.find((r) => r.case === c && r.tool === tool)?.cpuSecondsPer1000 ?? NaN;
    const ratios = {
      reuse: rate('reuse', 'kcarun') / rate('reuse', 'openssl'),
      rotate: rate('rotate', 'kcarun') / rate('rotate', 'openssl'),
      reuseByCpu: cpu('reuse', 'openssl') / cpu('reuse', 'kcarun'),
      rotateByCpu: cpu('rotate', 'openssl') / cpu('rotate', 'kcarun'),
    };
    const { stdout: opensslVersion } = await run('openssl', ['version']);
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', node: process.version, openssl: opensslVersion.trim(), loadAverage1m: { start: loadAtStart, end: loadavg()[0] } },
      notes: [
        `openssl loops ran ${OPENSSL_N.reuse} (reuse) and ${OPENSSL_N.rotate} (rotate) iterations on ${OPENSSL_WORKERS} parallel workers; their secondsPer1000 is extrapolated from that rate.`,
        'kcarun parses the PEM, re-issues and signs each certificate; signatures (reuse, 8 in flight) and keys (rotate, 16 in flight) are computed on libuv\'s thread pool, so both use both cores like the 2 openssl workers.',
        'openssl reuse signs a CSR with an extensions file (OpenSSL 3.0 x509 -CA refuses non-self-signed certificate input).',
      ],
      rows,
      ratios,
      target: { reuse1000UnderSeconds: 2, minRatio: 20, reuseMet: (rows[0]?.secondsPer1000 ?? Infinity) < 2 && ratios.reuse >= 20 },
    };
    const fmt = (n: number, d = 1) => n.toFixed(d);
    const lines = [
      '| case | tool | certificates | seconds | certs/s | s per 1,000 | CPU s per 1,000 |',
      '|---|---|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.case} | ${r.tool} | ${r.count} | ${fmt(r.seconds, 2)} | ${fmt(r.perSecond)} | ${fmt(r.secondsPer1000, 2)}${r.tool === 'openssl' ? ' (extrapolated)' : ''} | ${fmt(r.cpuSecondsPer1000, 2)} |`,
      ),
      '',
      `kcarun / openssl, wall-clock rate: reuse ${fmt(ratios.reuse)}x, rotate ${fmt(ratios.rotate, 2)}x; by CPU time: reuse ${fmt(ratios.reuseByCpu)}x, rotate ${fmt(ratios.rotateByCpu, 2)}x`,
      `load average (1 min) at start/end: ${fmt(loadAtStart, 2)} / ${fmt(loadavg()[0] ?? NaN, 2)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    // Where bench/run.ts reads it (KCARUN_BENCH_RESULTS moves all results elsewhere).
    const resultsDir = process.env.KCARUN_BENCH_RESULTS ?? join(import.meta.dirname, 'results');
    const out = join(resultsDir, 'pki.json');
    await mkdir(resultsDir, { recursive: true });
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written ${out}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
