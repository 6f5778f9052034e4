/**
 * How a rotation grows with the number of nodes (issue 19, "Scale"): the stock rotate-ca on the
 * genuine kubeadm cluster of lab/real/ (3 control-plane nodes: kubeadm init/join, the real kubelet,
 * containerd, control plane and etcd 3.6, haproxy in front) plus N real workers, each joined with the
 * command `kubeadm token create --print-join-command` prints (`realJoinNewWorker`,
 * lab/real/worker.ts), the lab's traffic running, kubelets in batches (`kubelet_batch`, default 25 %).
 * Per N: kcarun's wall time, CPU and peak RSS (GNU time), the restarts that really happened (each
 * control-plane node's containers from crictl, every kubelet's main pid), the requests through the
 * load balancer that failed, and the lab's verdict. A size whose rotation exits non-zero or leaves a
 * leaf on a CA of before it counts as failed (exit 1), and the sizes after it are not measured.
 *
 * One lab serves every size: it comes up with 3 control-plane nodes, is rotated with N = the first
 * size, then workers join until the next size and it is rotated again, and so on (sizes ascending).
 * Chosen before measuring, expecting an `up` of a few minutes and a join of about one; measured here
 * (2026-12-04): `up` 59 s, a join (kubeadm join until Ready) 3-4 s, so a fresh lab per size would
 * have cost only ~4 min more. The joins are not in the timed part. What one lab means for the figures:
 * - From the second size on it is the cluster's second, third, fourth CA rotation: `-e
 *   force_rotation=true` makes kcarun rotate CAs it made itself (10 years left) — the same stages,
 *   files and restarts as the first, which rotated the CAs `up` made (30 days left, `--ca-days-left`).
 *   Before each rotation the CAs then in use are added to the lab's record of old CAs
 *   (DIR/pki/original-cas/, `before-<N>-*.crt`), so the verdict checks that no leaf is left on any CA
 *   from before that rotation, not only on the first ones.
 * - The workers of later sizes joined after a rotation: their kubelet client certificates come from
 *   the controller-manager's CSR signer on the then-current CA (a real cluster's later nodes do too).
 * - Each size's traffic and restart watch start afresh just before its rotation.
 *
 * Why at most 9 workers, and why 0, 3, 6 and 9 by default (measured on this 2-core, 24 GB machine;
 * docs/lab.md "Measured here", docs/benchmarks.md):
 * - The real lab adds at most 9 workers (lab/real/plan.ts: addresses P.0.21-29).
 * - Memory does not limit it: a control-plane node takes ~0.8 GB, a worker (kubelet ~100 MB RSS,
 *   containerd ~53 MB, sshd, the pause image) well under that.
 * - CPU is the limit to watch. The 3 control-plane nodes alone under a rotation keep the load at
 *   2.5-3.9 on 2 cores (docs/benchmarks.md, the real comparison): the machine is already busy, and
 *   every real worker adds its kubelet's and containerd's own loops (pod relist every second, node
 *   status and Lease every 10 s), so a larger size could measure a more crowded machine as well as
 *   more nodes: the loadavg before and after each rotation is in the results for that reason. Measured
 *   (2026-12-04): with 9 workers it stayed 2.6-3.6 around the rotation, so here the 9 addresses, not
 *   the CPU, are what stops the lab first; 20 or more real workers were not tried.
 * The emulated kubeadm lab with up to 150 light emulated workers (20/50/100 measured in sessions
 * 10-20) is gone (issue 18); its last figures stay in bench/results/emulated-scale/ as a record.
 *
 * Results: bench/results/scale.json and scale.svg (wall time against N) and scale-<N>.out (kcarun's
 * JSON events; gzipped when committed); the last line printed is
 * {"scale": [{workers, wall_s, peak_rss_mb, restarts, failures, ok}, ...], "per_worker_s": ...}.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labInventory } from '../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../lab/commands/traffic.js';
import { LabPaths } from '../lab/lab-paths.js';
import { readState, type LabState } from '../lab/lab-state.js';
import { requireArtifacts } from '../lab/real/artifacts.js';
import { realDown } from '../lab/real/down.js';
import { realVerify } from '../lab/real/traffic.js';
import { realUp } from '../lab/real/up.js';
import { realJoinNewWorker } from '../lab/real/worker.js';
import { unavailableSeconds } from '../lab/unavailability.js';
import { timed } from './measure.js';
import { watchRealRestarts, type MeasuredRotation } from './rotation-vs-script.js';
import { linePlot } from './svg.js';

const ROOT = join(import.meta.dirname, '..');

/** The real lab adds workers on P.0.21-29 (lab/real/plan.ts). */
export const MAX_WORKERS = 9;

export interface ScaleRow extends MeasuredRotation {
  workers: number;
  nodes: number;
  /** Which rotation of the lab's cluster this was: 1 rotated the CAs `up` made; later ones were forced. */
  rotation: number;
  /**
   * Seconds to bring the lab to this size before the clock started: `up` and its joins for the first
   * size, the workers' joins (kubeadm join until Ready) for the others.
   */
  setup_s: number;
  /** Seconds per stage (kcarun's stage-end events), the kubelet stages being the ones that grow with N. */
  stages: Record<string, number>;
  /** Requests sent again after an apiserver's Retry-After, through the load balancer. */
  lbRetries: number;
  ok: boolean;
  measuredAt: string;
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

/** Sizes as `--workers` gives them: integers 0..MAX_WORKERS, ascending, each once. Throws otherwise. */
export function scaleSizes(list: string): number[] {
  const sizes = list.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > MAX_WORKERS)) throw new Error(`--workers ${list}: sizes 0..${MAX_WORKERS} (the real lab's worker addresses), comma-separated`);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * Adds the CAs in use now (cp1's kubeadm CA files) to the lab's record of old CAs, one certificate a
 * file, so that verify's allCertsOnNewCA means "no leaf on a CA from before this rotation".
 */
function recordCurrentCas(paths: LabPaths, state: LabState, tag: string): void {
  const cp1 = paths.node(state.nodes[0]!.name);
  for (const [name, file] of [['kubernetes', 'ca.crt'], ['etcd', 'etcd/ca.crt'], ['front-proxy', 'front-proxy-ca.crt']] as const) {
    const pems = readFileSync(cp1.fs(`/etc/kubernetes/pki/${file}`), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    pems.forEach((pem, i) => writeFileSync(join(paths.originalCaDir, `${tag}-${name}-${i}.crt`), `${pem}\n`));
  }
}

/** kcarun's seconds per stage, from its JSON events. */
function stageSeconds(text: string): Record<string, number> {
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
  return stages;
}

/** One rotation of the lab as it stands (3 control-plane nodes + its workers), under traffic. */
async function rotateOnce(o: { dir: string; work: string; rotation: number; setupSeconds: number; batch?: string; outDir: string; log: (s: string) => void }): Promise<ScaleRow> {
  const paths = new LabPaths(o.dir);
  const state = readState(paths)!;
  const workers = state.workers?.length ?? 0;
  const run = join(o.work, `rotation-${o.rotation}-N${workers}`);
  mkdirSync(run, { recursive: true });
  if (o.rotation > 1) recordCurrentCas(paths, state, `before-${workers}`);
  const inventory = join(run, 'inventory.yaml');
  writeFileSync(inventory, labInventory(o.dir));
  await trafficStart({ dir: o.dir });
  const loadBefore = loadavg();
  // Control-plane nodes: their containers (crictl) and kubelet; workers: their kubelet's pid only
  // (a crictl call per worker per second would be load the rotation does not make).
  const watcher = watchRealRestarts(paths, state, { kubeletOnly: state.workers ?? [] });
  const out = join(run, 'kcarun.out');
  o.log(`scale N=${workers}: rotation ${o.rotation} of the lab's cluster (load ${loadBefore.map((x) => x.toFixed(1)).join(' ')})`);
  const extra = ['-e', 'force_rotation=true', ...(o.batch ? ['-e', `kubelet_batch=${o.batch}`] : [])];
  const measured = await timed(process.execPath, [join(ROOT, 'dist/cli.js'), join(ROOT, 'playbooks/rotate-ca.yaml'), '-i', inventory, ...extra, '--yes', '--output', 'json'], { cwd: run, stdoutFile: out });
  const restartsByComponent = await watcher.stop();
  const loadAfter = loadavg();
  // A few more seconds of traffic on the rotated cluster, then stop it (flushing its last
  // acknowledged writes) before the data is read back, as bench/rotation-vs-script.ts does.
  await new Promise((r) => setTimeout(r, 3000));
  await trafficStop({ dir: o.dir });
  const verify = await realVerify(paths, readState(paths)!);
  const text = readFileSync(out, 'utf8');
  writeFileSync(join(o.outDir, `scale-${workers}.out`), text);
  const apiserver = unavailableSeconds(verify.unavailability.filter((w) => w.target !== 'lb'));
  const row: ScaleRow = {
    workers,
    nodes: state.nodes.length + workers,
    rotation: o.rotation,
    setup_s: Math.round(o.setupSeconds),
    exitCode: measured.exitCode,
    wall_s: measured.wallSeconds,
    cpu_s: +measured.cpuSeconds.toFixed(2),
    peak_rss_mb: Math.round(measured.peakRssMb),
    restarts: Object.values(restartsByComponent).reduce((a, b) => a + b, 0),
    restartsByComponent,
    requests: verify.requestsByTarget['lb'] ?? 0,
    failures: verify.lbFailures,
    lbRetries: verify.retriesByTarget['lb'] ?? 0,
    componentErrors: verify.componentLogErrors,
    apiserverUnavailable: apiserver.byTarget,
    apiserverUnavailable_s: apiserver.total,
    allCertsOnNewCA: verify.allCertsOnNewCA,
    dataIntact: verify.dataIntact,
    stages: stageSeconds(text),
    loadBefore,
    loadAfter,
    ok: measured.exitCode === 0 && verify.allCertsOnNewCA && verify.dataIntact && verify.filesTrustingOldCa.length === 0,
    measuredAt: new Date().toISOString(),
  };
  o.log(
    `scale N=${workers}: exit ${row.exitCode}, ${row.wall_s} s, CPU ${row.cpu_s} s, peak RSS ${row.peak_rss_mb} MB, ${row.restarts} restarts ${JSON.stringify(restartsByComponent)}, ` +
      `${row.requests} requests through the load balancer / ${row.failures} failed, ${row.componentErrors} TLS/auth errors in the components' logs, ` +
      `on the new CAs: ${row.allCertsOnNewCA}, data intact: ${row.dataIntact}` +
      (verify.leavesOnOldCa.length ? `, leaves on an old CA: ${verify.leavesOnOldCa.slice(0, 5).join(', ')}` : '') +
      (verify.filesTrustingOldCa.length ? `, files still trusting an old CA: ${verify.filesTrustingOldCa.slice(0, 5).join(', ')}` : '') +
      (verify.dataProblems.length ? `, data: ${verify.dataProblems.slice(0, 3).join('; ')}` : ''),
  );
  if (measured.exitCode !== 0) o.log(`scale N=${workers}: output tail:\n${text.trim().split('\n').slice(-10).join('\n')}`);
  return row;
}

/**
 * `npm run bench -- --only scale [--workers 0,3,6,9] [--kubelet-batch 25%] [--subnet 10.234.0.0/16]`:
 * one real lab, every size in ascending order (workers join between them), results rewritten after
 * each size. Throws at once when the pinned build is missing (scripts/install-deps.sh). The lab is
 * taken down at the end; after a failed size its folder (component logs, kcarun's state and events)
 * is kept and named.
 */
export async function scaleBench(o: { workers: number[]; subnet: string; batch?: string; outDir: string; log: (s: string) => void }): Promise<{ rows: ScaleRow[]; perWorker: number | null; notMeasured: number[] }> {
  requireArtifacts();
  const started = new Date();
  const kubeletBatch = o.batch ?? '25% (playbooks/defaults.yaml)';
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version };
  const work = await mkdtemp(join(tmpdir(), 'kcarun-bench-scale-'));
  const dir = join(work, 'lab');
  const rows: ScaleRow[] = [];
  const sizes = [...o.workers].sort((a, b) => a - b);
  let notMeasured: number[] = [...sizes];
  let keep = false;
  const write = (): void => {
    const ok = rows.filter((r) => r.ok);
    writeFileSync(
      join(o.outDir, 'scale.json'),
      `${JSON.stringify({ date: started.toISOString(), lab: 'kubeadm-real: 3 control-plane nodes + N workers joined with kubeadm, one lab for every size (bench/scale.ts)', subnet: o.subnet, machine, kubeletBatch, perWorkerSeconds: perWorkerSeconds(ok), notMeasured, rows }, null, 2)}\n`,
    );
    writeFileSync(
      join(o.outDir, 'scale.svg'),
      linePlot(`rotate-ca, real kubeadm lab, 3 control-plane nodes + N workers, ${started.toISOString().slice(0, 10)}`, 'workers (N)', 'seconds', [
        { name: 'kcarun wall', color: '#1f77b4', points: ok.map((r) => ({ x: r.workers, y: r.wall_s })) },
        { name: 'kcarun CPU', color: '#ff7f0e', points: ok.map((r) => ({ x: r.workers, y: r.cpu_s })) },
      ]),
    );
  };
  try {
    o.log(`scale: real kubeadm lab up on ${o.subnet}, 3 control-plane nodes (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    let t0 = Date.now();
    await realUp({ dir, layout: 'kubeadm', nodes: 3, subnet: o.subnet, caDaysLeft: 30, log: (l) => o.log(`  ${l}`) });
    o.log(`scale: lab up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const size of sizes) {
      // The first size's set-up is `up` and its joins; a later one's, its joins.
      if (rows.length > 0) t0 = Date.now();
      while ((readState(new LabPaths(dir))!.workers?.length ?? 0) < size) {
        const tj = Date.now();
        const { worker } = await realJoinNewWorker({ dir, log: (l) => o.log(`  ${l}`) });
        o.log(`scale: ${worker.name} joined and Ready in ${((Date.now() - tj) / 1000).toFixed(0)} s`);
      }
      const setupSeconds = (Date.now() - t0) / 1000;
      const row = await rotateOnce({ dir, work, rotation: rows.length + 1, setupSeconds, batch: o.batch, outDir: o.outDir, log: o.log });
      rows.push(row);
      notMeasured = notMeasured.filter((n) => n !== size);
      write();
      if (!row.ok) {
        keep = true;
        o.log(`scale: N=${size} failed; the sizes after it (${notMeasured.join(', ') || 'none'}) are not measured on a cluster left in an unknown state`);
        break;
      }
    }
    return { rows, perWorker: perWorkerSeconds(rows.filter((r) => r.ok)), notMeasured };
  } catch (err) {
    keep = true;
    throw err;
  } finally {
    write();
    await realDown({ dir, purge: !keep, log: () => undefined });
    if (keep) {
      copyFileSync(join(o.outDir, 'scale.json'), join(work, 'scale.json'));
      o.log(`scale: the lab is down; its files, logs and kcarun's state and events are kept in ${work}`);
    } else await rm(work, { recursive: true, force: true });
  }
}
