/**
 * How a rotation grows with the number of nodes (issue 19, "Scale"): the stock rotate-ca on the
 * emulated kubeadm lab of 3 control-plane nodes plus N worker nodes (`lab up --layout kubeadm-emulated
 * --workers N`: light nodes, each its own namespace, sshd and emulated kubelet renewing its Lease every
 * 10 s, as the real one does), the lab's traffic running, kubelets in batches (`kubelet_batch`, default
 * 25 %). Per N: kcarun's wall time, CPU and peak RSS (GNU time), the restarts that really happened (the
 * lab's own process records, as in bench/rotation-vs-script.ts), failed requests and the lab's verdict.
 * A run that did not rotate every node counts as failed (exit 1).
 *
 * Results: bench/results/scale.json and scale.svg (wall time against N); the last line printed is
 * {"scale": [{workers, wall_s, peak_rss_mb, restarts, failures, ok}, ...], "per_worker_s": ...}.
 *
 * Why emulated kubelets (lab/components/) and not real ones: this benchmark is the last user of the
 * emulated kubeadm lab in bench/ (issue 18 removes the emulated components wherever the real ones
 * run; the rotate-ca comparison moved to the genuine cluster). The real lab cannot hold 20-100
 * workers on this 2-core, 24 GB machine:
 * - Memory is not what stops it (docs/lab.md, "Measured here"): a real worker is at least a kubelet
 *   (~100 MB RSS), containerd (~53 MB) and sshd (8 MB), ~160 MB, and the 3 control-plane nodes take
 *   ~0.8 GB each: 100 workers are ~16 GB + ~2.5 GB, within 24 GB (about 115 workers at most).
 * - CPU is. The 3 real control-plane nodes alone, under a rotation with nothing else running, keep
 *   the load at 2.5-3.9 (docs/benchmarks.md, session 21's real comparison): both cores are already
 *   busy. A real kubelet's own loops (a pod relist every second, status and Lease every 10 s,
 *   cAdvisor) with its containerd cost a few per cent of a core each (an estimate, not measured alone
 *   here): 20 workers add ~0.5 core, 50 add 1-1.5, 100 add 2-3, i.e. this machine again. So about 10-20
 *   real workers is the most it could hold while the figure still says something about kcarun and
 *   not about the run queue; 50 and 100 are out of reach. What an overloaded machine does to the
 *   measurement was seen even with the light emulated workers (session 19, N=100, load ~13: a worker's
 *   Lease went late, the node NotReady, and the gate stopped the rotation).
 * - The real lab also adds at most 9 workers today (lab/real/plan.ts: addresses P.0.21-29).
 * The emulated workers renew their Lease at the real kubelet's cadence and recover as it does when
 * late (docs/lab.md, "Emulated components": the kubelet), so kcarun's side (its CPU, peak RSS,
 * preflight, batches, gates) is measured as on a real cluster; the time each kubelet takes to restart
 * is the stand-in's, not the real kubelet's. On a machine with the cores for it, this benchmark
 * belongs on the real lab (`realUp`, then `realAddWorker` per worker, lab/real/worker.ts) and the
 * emulated lab can go.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown } from '../lab/commands/down.js';
import { labInventory } from '../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../lab/commands/traffic.js';
import { labVerify } from '../lab/commands/verify.js';
import { LabPaths } from '../lab/lab-paths.js';
import { readState } from '../lab/lab-state.js';
import { timed } from './measure.js';
import { unavailableSeconds } from '../lab/unavailability.js';
import { labUpChild, watchRestarts, type MeasuredRotation } from './rotation-vs-script.js';
import { linePlot } from './svg.js';

const ROOT = join(import.meta.dirname, '..');

export interface ScaleRow extends MeasuredRotation {
  workers: number;
  nodes: number;
  lab_up_s: number;
  /** Seconds per stage (kcarun's stage-end events), the kubelet stages being the ones that grow with N. */
  stages: Record<string, number>;
  ok: boolean;
  /** When this size was measured (ISO): sizes measured in an earlier run keep their own date. */
  measuredAt?: string;
}

interface ScaleFile {
  date: string;
  kubeletBatch: string;
  rows: ScaleRow[];
}

/**
 * The rows of an earlier scale.json for sizes this run does not measure, with the same kubelet
 * batch (others are not comparable), each dated; [] when there is none.
 */
function earlierRows(file: string, measuring: number[], kubeletBatch: string): ScaleRow[] {
  let earlier: ScaleFile;
  try {
    earlier = JSON.parse(readFileSync(file, 'utf8')) as ScaleFile;
  } catch {
    return [];
  }
  if (earlier.kubeletBatch !== kubeletBatch) return [];
  return earlier.rows.filter((r) => !measuring.includes(r.workers)).map((r) => ({ ...r, measuredAt: r.measuredAt ?? earlier.date }));
}

/** Least-squares slope of wall time against workers: seconds per added worker. */
export function perWorkerSeconds(rows: Array<{ workers: number; wall_s: number }>): number | null {
  if (rows.length < 2) return null;
  const n = rows.length;
  const mx = rows.reduce((a, r) => a + r.workers, 0) / n;
  const my = rows.reduce((a, r) => a + r.wall_s, 0) / n;
  const sxx = rows.reduce((a, r) => a + (r.workers - mx) ** 2, 0);
  if (sxx === 0) return null;
  return rows.reduce((a, r) => a + (r.workers - mx) * (r.wall_s - my), 0) / sxx;
}

/** One size: a fresh lab with `workers` workers, the rotation under traffic, the lab's verdict, down. */
async function scaleAt(workers: number, o: { ipPrefix: string; batch?: string; outDir: string; log: (s: string) => void }): Promise<ScaleRow> {
  const work = await mkdtemp(join(tmpdir(), `kcarun-bench-scale-${workers}-`));
  const dir = join(work, 'lab');
  const paths = new LabPaths(dir);
  // A failed size keeps its work folder (the lab's component logs and events, kcarun's state dir) for
  // the post-mortem: the lab is stopped either way.
  let keep = true;
  try {
    o.log(`scale N=${workers}: lab up, 3 control-plane nodes + ${workers} workers (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    const t0 = Date.now();
    await labUpChild(dir, o.ipPrefix, 'kubeadm', o.log, ['--workers', String(workers)]);
    const labUpSeconds = (Date.now() - t0) / 1000;
    const state = readState(paths)!;
    const inventory = join(work, 'inventory.yaml');
    writeFileSync(inventory, labInventory(dir));
    await trafficStart({ dir });
    const loadBefore = loadavg();
    const watcher = watchRestarts(paths, [...state.nodes, ...(state.workers ?? [])].map((n) => n.name));
    const out = join(work, 'kcarun.out');
    o.log(`scale N=${workers}: lab up in ${labUpSeconds.toFixed(0)} s; rotating (load ${loadBefore.map((x) => x.toFixed(1)).join(' ')})`);
    const extra = o.batch ? ['-e', `kubelet_batch=${o.batch}`] : [];
    const measured = await timed(process.execPath, [join(ROOT, 'dist/cli.js'), join(ROOT, 'playbooks/rotate-ca.yaml'), '-i', inventory, ...extra, '--yes', '--output', 'json'], { cwd: work, stdoutFile: out });
    const restartsByComponent = watcher.stop();
    const loadAfter = loadavg();
    await new Promise((r) => setTimeout(r, 3000));
    const verify = await labVerify(dir);
    await trafficStop({ dir });
    const text = readFileSync(out, 'utf8');
    writeFileSync(join(o.outDir, `scale-${workers}.out`), text);
    const stages: Record<string, number> = {};
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const e = JSON.parse(line) as { event?: string; stage?: string; durationMs?: number };
        if (e.event === 'stage-end' && e.stage) stages[e.stage] = +((e.durationMs ?? 0) / 1000).toFixed(1);
      } catch {
        // not an event line
      }
    }
    const apiserver = unavailableSeconds(verify.unavailability);
    const row: ScaleRow = {
      workers,
      nodes: state.nodes.length + (state.workers?.length ?? 0),
      exitCode: measured.exitCode,
      wall_s: measured.wallSeconds,
      cpu_s: measured.cpuSeconds,
      peak_rss_mb: Math.round(measured.peakRssMb),
      lab_up_s: Math.round(labUpSeconds),
      restarts: Object.values(restartsByComponent).reduce((a, b) => a + b, 0),
      restartsByComponent,
      requests: verify.requests,
      failures: verify.failures,
      componentErrors: verify.componentErrors,
      apiserverUnavailable: apiserver.byTarget,
      apiserverUnavailable_s: apiserver.total,
      allCertsOnNewCA: verify.allCertsOnNewCA,
      dataIntact: verify.dataIntact,
      stages,
      loadBefore,
      loadAfter,
      ok: measured.exitCode === 0 && verify.allCertsOnNewCA && verify.dataIntact && verify.filesTrustingOldCa.length === 0,
    };
    o.log(
      `scale N=${workers}: exit ${row.exitCode}, ${row.wall_s} s, CPU ${row.cpu_s.toFixed(1)} s, peak RSS ${row.peak_rss_mb} MB, ${row.restarts} restarts ${JSON.stringify(restartsByComponent)}, ` +
        `${row.requests} requests / ${row.failures} failures, ${row.componentErrors} component errors, on the new CAs: ${row.allCertsOnNewCA}` +
        (verify.filesTrustingOldCa.length ? `, files still trusting an old CA: ${verify.filesTrustingOldCa.slice(0, 5).join(', ')}` : ''),
    );
    if (measured.exitCode !== 0) o.log(`scale N=${workers}: output tail:\n${text.trim().split('\n').slice(-10).join('\n')}`);
    keep = !row.ok;
    return row;
  } finally {
    await labDown({ dir, purge: !keep, log: () => undefined });
    if (keep) o.log(`scale N=${workers}: the lab is down; its files, logs and kcarun's events are kept in ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

/**
 * `npm run bench -- --only scale [--workers 20,50,100] [--kubelet-batch 25%]`: every size in turn,
 * results rewritten after each (an interrupted run keeps the sizes done). Sizes an earlier run
 * measured with the same kubelet batch and this one does not stay in the results, with their date
 * (one size takes 10-40 min on 2 cores: they are measured a few at a time).
 */
export async function scaleBench(o: { workers: number[]; ipPrefix: string; batch?: string; outDir: string; log: (s: string) => void }): Promise<{ rows: ScaleRow[]; perWorker: number | null }> {
  const started = new Date();
  const kubeletBatch = o.batch ?? '25% (playbooks/defaults.yaml)';
  const rows: ScaleRow[] = earlierRows(join(o.outDir, 'scale.json'), o.workers, kubeletBatch);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version };
  for (const n of o.workers) {
    rows.push({ ...(await scaleAt(n, o)), measuredAt: new Date().toISOString() });
    rows.sort((a, b) => a.workers - b.workers);
    const ok = rows.filter((r) => r.ok);
    const perWorker = perWorkerSeconds(ok);
    writeFileSync(join(o.outDir, 'scale.json'), `${JSON.stringify({ date: started.toISOString(), machine, kubeletBatch, perWorkerSeconds: perWorker, rows }, null, 2)}\n`);
    writeFileSync(
      join(o.outDir, 'scale.svg'),
      linePlot(`rotate-ca, 3 control-plane nodes + N workers, ${started.toISOString().slice(0, 10)}`, 'workers (N)', 'seconds', [
        { name: 'kcarun wall', color: '#1f77b4', points: ok.map((r) => ({ x: r.workers, y: r.wall_s })) },
        { name: 'kcarun CPU', color: '#ff7f0e', points: ok.map((r) => ({ x: r.workers, y: r.cpu_s })) },
      ]),
    );
  }
  return { rows, perWorker: perWorkerSeconds(rows.filter((r) => r.ok)) };
}
