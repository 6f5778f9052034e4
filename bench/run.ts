/**
 * `npm run bench [-- options]`: every benchmark of issue 8 in one run, results in bench/results/
 * (fanout.json, fanout.svg, startup.json, rotation.json, pki.json via bench/pki.ts, summary.md).
 * The last line printed is one JSON object (fanout50: {kcarun_s, ansible_s, floor_s}, ...).
 *   --quick                 N = 10 and 50, one run each, start-up x5, PKI at 200 certificates
 *   --ns 10,50,100          fan-out sizes (default 10,50,100)
 *   --repeats R             runs per tool and N (default 3; medians are reported)
 *   --startup-repeats R     (default 10)
 *   --pki-n N | --no-pki    certificates for bench/pki.ts (default 1000) | keep results/pki.json
 *   --rotation | --no-rotation   run the demo rotation on the real kubeadm lab (lab/demo.ts --layout
 *                           kubeadm) and measure it (default: on, off with --quick; ~10-15 minutes:
 *                           ~1-2 to bring the lab up, ~8-13 of rotation); needs the pinned build
 *                           (scripts/install-deps.sh, cached in /var/cache/kcarun/): checked first
 *   --rotation-events FILE  instead, read the events of an earlier `kcarun rotate-ca ... --output json`
 *                           (or a run journal)
 *   --rotation-playbook F   the playbook that produced them (default playbooks/rotate-ca.yaml)
 *   --only rotation         just kcarun's rotate-ca against bench/script/rotate-ca.sh (adapted as its
 *                           header says), each on a fresh genuine 3-node kubeadm cluster (real kubelet,
 *                           containerd, control plane, etcd; haproxy in front) under traffic
 *                           (bench/rotation-vs-script.ts); needs the pinned build (scripts/install-deps.sh,
 *                           checked first), ~40 min; results in real-rotation-vs-script.json; the last
 *                           line is {"rotation": {kcarun_s, script_s, kcarun_restarts, script_restarts,
 *                           kcarun_failures, script_failures, kcarun_apiserver_unavailable_s,
 *                           script_apiserver_unavailable_s}}; failures through the load balancer
 *   --only real-rotation    the same (its name before the emulated comparison was removed, issue 18);
 *                           the last line's key is "real-rotation"
 *   --only etcd-rotation    just kcarun's rotate-etcd-ca (vars from `kcarun discover`) against
 *                           bench/script/rotate-etcd-ca.sh, each on a fresh 3-node etcd-only lab (etcd
 *                           from a config file, an init script) under traffic; last line
 *                           {"etcd-rotation": {...the same keys}}
 *   --subnet 10.X.0.0/16    the real lab's range for --only rotation, --only scale and the demo rotation
 *                           (default 10.234.0.0/16)
 *   --only scale            just the stock rotate-ca on the real kubeadm lab (lab/real/: 3 control-plane
 *                           nodes + N real workers joined with kubeadm), for each N of --workers (default
 *                           0,3,6,9; at most 9), on one lab: workers join between sizes, each rotation
 *                           forced (force_rotation=true) from the second on; kubelets in batches
 *                           (--kubelet-batch, default the playbook's 25 %); on --subnet; needs the pinned
 *                           build (checked first); ~1 h on 2 cores (bench/scale.ts: scale.json,
 *                           scale.svg, scale-N.out); last line
 *                           {"scale": [{workers, wall_s, peak_rss_mb, restarts, failures, ok}], "per_worker_s"}
 *                           (until issue 18 it ran on the emulated kubeadm lab with 20/50/100 emulated
 *                           workers; those results are kept in bench/results/emulated-scale/)
 *   --ip-prefix 127.X.Y     the etcd-only lab's loopback addresses for --only etcd-rotation (default 127.0.9)
 * Run as root (sshd on loopback, apt-get for missing tools: bench/install-deps.sh).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { fanoutAt, type FanoutRow, type RunSample } from './fanout.js';
import { parse as parseYaml } from 'yaml';
import { DEMO_ROTATION_SUBNET, measureDemoRotation, rotationFromFile, type RotationResult } from './rotation.js';
import { requireArtifacts } from '../lab/real/artifacts.js';
import { onlyComparison } from './only-comparison.js';
import { COMPARISONS, rotationVsScript } from './rotation-vs-script.js';
import { scaleBench, scaleSizes } from './scale.js';
import { startupBench, type StartupResult } from './startup.js';
import { linePlot } from './svg.js';
import { summaryMarkdown, type BenchSummary } from './summary.js';

const run = promisify(execFile);
const HERE = import.meta.dirname;
// KCARUN_BENCH_RESULTS: write elsewhere (it must hold a pki.json when --no-pki is given).
const RESULTS = process.env.KCARUN_BENCH_RESULTS ?? join(HERE, 'results');
const ROOT = join(HERE, '..');

const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    ns: { type: 'string' },
    repeats: { type: 'string' },
    'startup-repeats': { type: 'string' },
    'pki-n': { type: 'string' },
    'no-pki': { type: 'boolean' },
    rotation: { type: 'boolean' },
    'no-rotation': { type: 'boolean' },
    'rotation-events': { type: 'string' },
    'rotation-playbook': { type: 'string' },
    only: { type: 'string' },
    subnet: { type: 'string' },
    workers: { type: 'string' },
    'kubelet-batch': { type: 'string' },
    'ip-prefix': { type: 'string' },
  },
});
const quick = o.quick ?? false;
const ns = (o.ns ?? (quick ? '10,50' : '10,50,100')).split(',').map(Number);
const repeats = Number(o.repeats ?? (quick ? 1 : 3));
const startupRepeats = Number(o['startup-repeats'] ?? (quick ? 5 : 10));
const pkiN = Number(o['pki-n'] ?? (quick ? 200 : 1000));
const log = (s: string) => process.stderr.write(`${s}\n`);

const loadNow = () => loadavg().map((x) => +x.toFixed(2));

async function tool(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? e.stderr ?? '' }))).stdout.trim().split('\n')[0] ?? '';
}

/**
 * kcarun against the careful script (issue 19): both with the gate timing of playbooks/defaults.yaml;
 * which comparison and results file each `--only` name means: bench/only-comparison.ts. The last line
 * printed is {"<name as given>": {kcarun_s, script_s, kcarun_restarts, script_restarts,
 * kcarun_failures, script_failures, kcarun_apiserver_unavailable_s, script_apiserver_unavailable_s}}
 * (the last two: seconds summed over the apiservers, from requests straight to each; 0 on the
 * etcd-only layout, which has none); the key is the name as given, so a parser of an old command
 * line's output (`--only real-rotation`) still finds its key.
 */
async function onlyRotation(which: string): Promise<void> {
  const only = onlyComparison(which);
  const comparison = COMPARISONS[only.comparison];
  // The genuine cluster needs the pinned build: say so before anything starts.
  if (comparison.layout === 'kubeadm-real') requireArtifacts();
  await mkdir(RESULTS, { recursive: true });
  const defaults = parseYaml(await readFile(join(ROOT, 'playbooks/defaults.yaml'), 'utf8')) as Record<string, number>;
  const gate = { successes: defaults.gate_successes ?? 3, intervalSeconds: defaults.gate_interval_seconds ?? 2, timeoutSeconds: defaults.gate_timeout_seconds ?? 180 };
  const started = new Date();
  const loadBefore = loadNow();
  log(`kcarun bench --only ${which} ${started.toISOString()} load ${loadBefore.join(' ')}; gates: ${JSON.stringify(gate)}`);
  const r = await rotationVsScript({ comparison, ipPrefix: o['ip-prefix'] ?? '127.0.9', subnet: o.subnet ?? '10.234.0.0/16', gate, outDir: RESULTS, log });
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version };
  await writeFile(
    join(RESULTS, `${only.results}-vs-script.json`),
    `${JSON.stringify({ date: started.toISOString(), machine, loadavg: { before: loadBefore, after: loadNow() }, gate, kcarun: { ...r.kcarun, kcarun: undefined }, script: r.script }, null, 2)}\n`,
  );
  const line = {
    [which]: {
      kcarun_s: r.kcarun.wall_s,
      script_s: r.script.wall_s,
      kcarun_restarts: r.kcarun.restarts,
      script_restarts: r.script.restarts,
      kcarun_failures: r.kcarun.failures,
      script_failures: r.script.failures,
      kcarun_apiserver_unavailable_s: r.kcarun.apiserverUnavailable_s,
      script_apiserver_unavailable_s: r.script.apiserverUnavailable_s,
    },
  };
  if (r.kcarun.exitCode !== 0 || r.script.exitCode !== 0 || !r.kcarun.allCertsOnNewCA || !r.script.allCertsOnNewCA) {
    log(`${which}: a run failed or did not rotate (kcarun exit ${r.kcarun.exitCode}, on new CAs ${r.kcarun.allCertsOnNewCA}; script exit ${r.script.exitCode}, on new CAs ${r.script.allCertsOnNewCA})`);
    process.exitCode = 1;
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The rotation at 3 control-plane nodes + N workers on the real kubeadm lab, for each N (bench/scale.ts). */
async function onlyScale(): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  const workers = scaleSizes(o.workers ?? '0,3,6,9');
  log(`kcarun bench --only scale ${new Date().toISOString()} load ${loadNow().join(' ')}; workers ${workers.join(', ')}`);
  const r = await scaleBench({ workers, subnet: o.subnet ?? '10.234.0.0/16', batch: o['kubelet-batch'], outDir: RESULTS, log });
  if (r.rows.some((row) => !row.ok) || r.notMeasured.length) process.exitCode = 1;
  const line = { scale: r.rows.map((row) => ({ workers: row.workers, wall_s: row.wall_s, peak_rss_mb: row.peak_rss_mb, restarts: row.restarts, failures: row.failures, ok: row.ok })), per_worker_s: r.perWorker === null ? null : +r.perWorker.toFixed(2) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  if (o.only !== undefined) {
    if (o.only === 'scale') return onlyScale();
    return onlyRotation(o.only);
  }
  // The demo rotation runs on the real kubeadm lab: without its pinned build, say so before the
  // other benchmarks have run for minutes (the build itself is scripts/install-deps.sh, ~17-24 min cold).
  const measureRotation = !o['rotation-events'] && (o.rotation ?? (!o['no-rotation'] && !quick));
  if (measureRotation) requireArtifacts();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('sh', [join(HERE, 'install-deps.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench/install-deps.sh exited ${code}`))));
  });
  await mkdir(RESULTS, { recursive: true });
  const started = new Date();
  const loadBefore = loadNow();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    node: process.version,
    ansible: await tool('ansible-playbook', ['--version']),
    openssh: (await run('ssh', ['-V']).catch((e: { stderr?: string }) => ({ stderr: e.stderr ?? '' }))).stderr.trim(),
    openssl: await tool('openssl', ['version']),
  };
  log(`kcarun bench ${quick ? '(quick) ' : ''}${started.toISOString()} load ${loadBefore.join(' ')}`);

  // Start-up, PKI and rotation first (short), then the fan-out sizes in ascending order; every file
  // is rewritten after each size, so an interrupted run still leaves complete results for the sizes done.
  log(`start-up, ${startupRepeats} runs each`);
  const startup: StartupResult = await startupBench(startupRepeats, log);

  // PKI (bench/pki.ts writes results/pki.json itself).
  if (!o['no-pki']) {
    log(`PKI: bench/pki.ts with ${pkiN} certificates`);
    await new Promise<void>((resolve, reject) => {
      const c = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(HERE, 'pki.ts')], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, KCARUN_BENCH_N: String(pkiN), ...(quick ? { KCARUN_BENCH_OPENSSL_N: '20' } : {}) },
      });
      c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench/pki.ts exited ${code}`))));
    });
  } else log('PKI: kept bench/results/pki.json (--no-pki)');
  const pki = JSON.parse(await readFile(join(RESULTS, 'pki.json'), 'utf8')) as BenchSummary['pki'];

  // Rotation: the demo rotation measured now, or a recording of one.
  let rotation: RotationResult | undefined;
  if (o['rotation-events']) {
    rotation = await rotationFromFile(o['rotation-events'], o['rotation-playbook'] ?? join(ROOT, 'playbooks/rotate-ca.yaml'));
  } else if (measureRotation) {
    log(`rotation: the demo rotation on the real 3-node kubeadm lab (~10-15 min; load ${loadNow().join(' ')})`);
    rotation = await measureDemoRotation(log, o.subnet ?? DEMO_ROTATION_SUBNET);
  } else log('rotation: skipped (--quick or --no-rotation; --rotation runs the demo rotation on the real kubeadm lab, about 10-15 minutes)');
  if (rotation) {
    log(
      `rotation: wall ${rotation.wall_s.toFixed(1)} s, waiting ${(rotation.waiting_share * 100).toFixed(1)} %, kcarun's own work ${((1 - rotation.waiting_share) * 100).toFixed(1)} %` +
        ` (tasks ${(rotation.work_share * 100).toFixed(1)} %, runner ${(rotation.overhead_share * 100).toFixed(1)} %)` +
        (rotation.cpu_share !== undefined ? `, kcarun CPU ${(rotation.cpu_share * 100).toFixed(1)} % of wall` : ''),
    );
  }

  const rows: FanoutRow[] = [];
  const samples: RunSample[] = [];
  let summary!: BenchSummary;
  const writeAll = async () => {
    summary = { date: started.toISOString(), quick, repeats, machine, loadavg: { before: loadBefore, after: loadNow() }, fanout: rows, startup, pki, rotation };
    await writeFile(join(RESULTS, 'fanout.json'), `${JSON.stringify({ date: started.toISOString(), quick, repeats, loadavg: summary.loadavg, machine, rows, samples }, null, 2)}\n`);
    await writeFile(join(RESULTS, 'startup.json'), `${JSON.stringify({ date: started.toISOString(), loadavg: summary.loadavg, ...startup }, null, 2)}\n`);
    if (rotation) await writeFile(join(RESULTS, 'rotation.json'), `${JSON.stringify({ date: started.toISOString(), ...rotation }, null, 2)}\n`);
    const colors = { kcarun: '#1f77b4', ansible: '#d62728', floor: '#2ca02c' } as const;
    await writeFile(
      join(RESULTS, 'fanout.svg'),
      linePlot(
        `Fan-out, five-step job (median wall time), ${started.toISOString().slice(0, 10)}`,
        'hosts (N)',
        'seconds',
        (['kcarun', 'ansible', 'floor'] as const).map((t) => ({ name: t, color: colors[t], points: rows.map((r) => ({ x: r.n, y: r.tools[t].wall_s })) })),
      ),
    );
    await writeFile(join(RESULTS, 'summary.md'), summaryMarkdown(summary));
  };
  for (const n of [...ns].sort((a, b) => a - b)) {
    log(`fan-out N=${n}, ${repeats} run(s) per tool (load ${loadNow().join(' ')})`);
    const r = await fanoutAt(n, repeats, log);
    rows.push(r.row);
    samples.push(...r.samples);
    await writeAll();
  }
  if (rows.length === 0) await writeAll();
  log(`results in ${RESULTS}`);
  const at = (n: number) => rows.find((r) => r.n === n);
  const fig = (n: number) => {
    const r = at(n);
    return r && { kcarun_s: r.tools.kcarun.wall_s, ansible_s: r.tools.ansible.wall_s, floor_s: r.tools.floor.wall_s, kcarun_cpu_s: r.tools.kcarun.cpu_s, ansible_cpu_s: r.tools.ansible.cpu_s, floor_cpu_s: r.tools.floor.cpu_s };
  };
  const last = {
    date: started.toISOString(),
    quick,
    loadavg: summary.loadavg,
    fanout10: fig(10),
    fanout50: fig(50),
    fanout100: fig(100),
    peak_rss_mb_max_n: rows.length ? rows[rows.length - 1]!.tools.kcarun.peak_rss_mb : null,
    validate_ms: { wall: startup.kcarun.wall_ms, cpu: startup.kcarun.cpu_ms },
    pki_reuse_1000_s: pki.rows.find((r) => r.case === 'reuse' && r.tool === 'kcarun')?.secondsPer1000 ?? null,
    rotation_own_work_share: rotation ? 1 - rotation.waiting_share : null,
    rotation_cpu_share: rotation?.cpu_share ?? null,
    rotation_overhead_share: rotation?.overhead_share ?? null,
  };
  process.stdout.write(`${JSON.stringify(last)}\n`);
}

await main();
