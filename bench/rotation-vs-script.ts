/**
 * kcarun's rotation against a careful hand-written shell script of the same procedure, side by side
 * in one run, each on a fresh 3-node lab with the same parameters and the lab's counted traffic
 * running (issue 19). Two comparisons (`Comparison`):
 *
 * - `rotate-ca-real`: the full rotate-ca on the genuine kubeadm cluster (real kubelet, containerd,
 *   control plane and etcd 3.6, haproxy in front; lab/real/), against bench/script/rotate-ca.sh
 *   adapted as kubeadm's docs say (etcdctl in the etcd container, restarts by moving a manifest out
 *   and back, the node's apiserver moved out while its stacked etcd member is replaced: its header).
 *   Restarts are read from each node's running containers (crictl, once a second) and its kubelet's
 *   pid, failures counted through the load balancer, each apiserver's unavailability straight to it.
 * - `etcd-ca`: the etcd CA alone on the etcd-only lab (real etcd from a config file and an init
 *   script), against bench/script/rotate-etcd-ca.sh; kcarun gets the vars `kcarun discover` writes,
 *   found before the clock starts, as a user runs discover once. Restarts are read from the lab's own
 *   process records (unit main pids and the init script's pid file, sampled every 250 ms).
 *
 * Per tool: wall time (GNU time), the restarts that really happened, the traffic's failed requests,
 * and the lab's verdict (every certificate on the new CAs, data intact) — a run that did not rotate
 * does not count.
 *
 * Until issue 18 a third comparison ran rotate-ca on the emulated kubeadm lab (`kubeadm-emulated`,
 * since retired). It is gone because the genuine cluster now runs the same comparison; its last
 * results stay in bench/results/ (rotation-vs-script.json, rotation-kcarun.out, rotation-script.out)
 * as a record, and docs/benchmarks.md marks those figures as the emulated lab's.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown } from '../lab/commands/down.js';
import { labInventory } from '../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../lab/commands/traffic.js';
import { labVerify, type VerifyResult } from '../lab/commands/verify.js';
import { realUp, inRealNode } from '../lab/real/up.js';
import { realDown } from '../lab/real/down.js';
import { realVerify } from '../lab/real/traffic.js';
import { LabPaths } from '../lab/lab-paths.js';
import { readState, type LabState } from '../lab/lab-state.js';
import { timed } from './measure.js';
import { unavailableSeconds } from '../lab/unavailability.js';
import { rotationFromFile, type RotationResult } from './rotation.js';

const ROOT = join(import.meta.dirname, '..');

/** What is compared: the lab layout both run on, kcarun's playbook, and the script. */
export interface Comparison {
  layout: 'etcd-only' | 'kubeadm-real';
  playbook: string;
  script: string;
  /** The script's log prefix (its phases are read from it). */
  scriptName: string;
  /** kcarun's vars come from `kcarun discover` on a hosts-only inventory instead of the lab's. */
  discover: boolean;
  /** The script's settings for this cluster (its header), e.g. ETCD_TOOLS=pod on a real kubeadm node. */
  scriptEnv?: Record<string, string>;
}

export const COMPARISONS = {
  'etcd-ca': { layout: 'etcd-only', playbook: 'playbooks/rotate-etcd-ca.yaml', script: 'bench/script/rotate-etcd-ca.sh', scriptName: 'rotate-etcd-ca', discover: true },
  'rotate-ca-real': {
    layout: 'kubeadm-real',
    playbook: 'playbooks/rotate-ca.yaml',
    script: 'bench/script/rotate-ca.sh',
    scriptName: 'rotate-ca',
    discover: false,
    scriptEnv: { ETCD_TOOLS: 'pod', RESTART_BY: 'manifest', HOLD_APISERVER: '1', CRI_ENDPOINT: 'unix:///run/containerd/containerd.sock' },
  },
} as const satisfies Record<string, Comparison>;

/** What one measured rotation on a lab gives: GNU time's figures, the lab's restarts, traffic and verdict. */
export interface MeasuredRotation {
  exitCode: number;
  wall_s: number;
  cpu_s: number;
  peak_rss_mb: number;
  restarts: number;
  restartsByComponent: Record<string, number>;
  requests: number;
  failures: number;
  componentErrors: number;
  /**
   * Seconds each apiserver could not answer a client talking straight to it (the lab's direct probe,
   * one request a second, no retry elsewhere), summed over its windows, by target `apiserver:<node>`;
   * and their sum.
   */
  apiserverUnavailable: Record<string, number>;
  apiserverUnavailable_s: number;
  allCertsOnNewCA: boolean;
  dataIntact: boolean;
  loadBefore: number[];
  loadAfter: number[];
}

export interface ToolRun extends MeasuredRotation {
  tool: 'kcarun' | 'script';
  leavesOnOldCa: string[];
  /** Where the time went: kcarun's task types (from its events), the script's phases (from its log). */
  breakdown: Array<{ what: string; seconds: number }>;
  kcarun?: RotationResult;
}

/**
 * `lab up` of the etcd-only lab (lab/commands/up.ts: Debian's real etcd on loopback, no Kubernetes
 * component) in a child process, tried up to 4 times: on this shared machine (load 30-100) a lab
 * client request of `up` can time out outside any awaited promise and end the process; the benchmark
 * must survive that and start from a clean lab. (Until issue 18 it also brought up the emulated
 * kubeadm lab, for bench/scale.ts; that benchmark runs on the real kubeadm lab now.)
 */
export async function labUpChild(dir: string, ipPrefix: string, log: (s: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let stderr = '';
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'lab/cli.ts'), 'up', '--dir', dir, '--nodes', '3', '--layout', 'etcd-only', '--ca-days-left', '30', '--ip-prefix', ipPrefix], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (c) => resolve(c ?? 1));
    });
    if (code === 0) return;
    log(`lab up failed (attempt ${attempt}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    await labDown({ dir, purge: true, log: () => undefined });
    if (attempt === 4) throw new Error(`lab up failed 4 times: ${stderr.trim().split('\n').pop()}`);
  }
}

/**
 * The process or container ids seen per component, as `node/id`; restarts = the ids seen since the
 * baseline (both labs' watchers below).
 */
class SeenIds {
  private readonly seen = new Map<string, Set<string>>();
  private initial = new Map<string, number>();
  note(component: string, node: string, id: string): void {
    if (!this.seen.has(component)) this.seen.set(component, new Set());
    this.seen.get(component)!.add(`${node}/${id}`);
  }
  baseline(): void {
    this.initial = new Map([...this.seen].map(([k, v]) => [k, v.size]));
  }
  restarts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.seen) out[k] = v.size - (this.initial.get(k) ?? 0);
    return out;
  }
}

/** The etcd-only lab's restarts: every (node, unit main pid | init-script pid) it records, sampled until stopped. */
export function watchRestarts(paths: LabPaths, nodes: string[]): { stop: () => Record<string, number> } {
  const seen = new SeenIds();
  const sample = () => {
    for (const node of nodes) {
      const n = paths.node(node);
      const note = (component: string, id: string) => seen.note(component, node, id);
      for (const f of safeList(n.unitsRun)) {
        try {
          note(f.replace(/\.service\.pid$/, ''), readFileSync(join(n.unitsRun, f), 'utf8').trim());
        } catch {
          // the unit is between stop and start
        }
      }
      // The etcd-only layout's members run from an init script, which keeps its pid in /etc/etcd/etcd.pid.
      try {
        note('etcd', readFileSync(n.fs('/etc/etcd/etcd.pid'), 'utf8').trim());
      } catch {
        // between stop and start
      }
    }
  };
  sample();
  seen.baseline();
  const timer = setInterval(sample, 250);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return seen.restarts();
    },
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The real lab's restarts: every (node, container name, container id) running, from each node's
 * `crictl ps` once a second, and each kubelet's main pid (the lab's unit supervisor records it). A
 * container that lives less than a second between two samples is missed; none of the control plane's does.
 * `kubeletOnly`: nodes (workers) of which only the kubelet's pid is read, no crictl call.
 */
export function watchRealRestarts(paths: LabPaths, state: LabState, o: { kubeletOnly?: LabState['nodes'] } = {}): { stop: () => Promise<Record<string, number>> } {
  const seen = new SeenIds();
  const kubeletOnly = new Set((o.kubeletOnly ?? []).map((n) => n.name));
  const sample = async (): Promise<void> => {
    await Promise.all(
      [...state.nodes, ...(o.kubeletOnly ?? [])].map(async (n) => {
        const r = kubeletOnly.has(n.name) ? { rc: 1, stdout: '' } : await inRealNode(n.holderPid, ['crictl', 'ps', '-o', 'json']);
        if (r.rc === 0) {
          try {
            const { containers } = JSON.parse(r.stdout) as { containers: Array<{ id: string; metadata: { name: string } }> };
            for (const c of containers) seen.note(c.metadata.name, n.name, c.id);
          } catch {
            // containerd busy or restarting: the next sample reads it
          }
        }
        try {
          seen.note('kubelet', n.name, readFileSync(join(paths.node(n.name).unitsRun, 'kubelet.pid'), 'utf8').trim());
        } catch {
          // between stop and start
        }
      }),
    );
  };
  let running = true;
  const loop = (async () => {
    await sample();
    seen.baseline();
    while (running) {
      await new Promise((r) => setTimeout(r, 1000));
      await sample();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await sample();
      return seen.restarts();
    },
  };
}

/** What both labs' verify give the comparison: the real lab's counts its failures through the load balancer. */
type Verdict = Pick<VerifyResult, 'requests' | 'failures' | 'componentErrors' | 'unavailability' | 'allCertsOnNewCA' | 'dataIntact' | 'leavesOnOldCa'>;

async function verdict(real: boolean, dir: string, paths: LabPaths, state: LabState): Promise<Verdict> {
  if (!real) return labVerify(dir);
  const v = await realVerify(paths, state);
  return {
    requests: v.requestsByTarget['lb'] ?? 0,
    failures: v.lbFailures,
    componentErrors: v.componentLogErrors,
    unavailability: v.unavailability,
    allCertsOnNewCA: v.allCertsOnNewCA,
    dataIntact: v.dataIntact,
    leavesOnOldCa: v.leavesOnOldCa,
  };
}

/** The script's phases: the time between one log header and the next. */
function scriptPhases(output: string, scriptName: string): Array<{ what: string; seconds: number }> {
  const marks: Array<{ t: number; what: string }> = [];
  for (const line of output.split('\n')) {
    const m = /^(\d\d):(\d\d):(\d\d) ([a-z-]+): (?! {2}ok:)(.*)$/.exec(line);
    if (m?.[4] !== scriptName) continue;
    marks.push({ t: Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]), what: m[5]!.replace(/ \(.*$/, '') });
  }
  const phases: Array<{ what: string; seconds: number }> = [];
  for (let i = 0; i + 1 < marks.length; i++) phases.push({ what: marks[i]!.what, seconds: (marks[i + 1]!.t - marks[i]!.t + 86400) % 86400 });
  return phases;
}

export async function rotationVsScript(options: {
  comparison: Comparison;
  ipPrefix: string;
  /** The real lab's private /16 (kubeadm-real). */
  subnet?: string;
  gate: { successes: number; intervalSeconds: number; timeoutSeconds: number };
  /** Where each tool's output (kcarun's JSON events, the script's log) is kept. */
  outDir: string;
  log: (s: string) => void;
}): Promise<{ kcarun: ToolRun; script: ToolRun }> {
  const cmp = options.comparison;
  const runs: Partial<Record<'kcarun' | 'script', ToolRun>> = {};
  for (const tool of ['kcarun', 'script'] as const) {
    const work = await mkdtemp(join(tmpdir(), `kcarun-bench-${tool}-`));
    const dir = join(work, 'lab');
    const paths = new LabPaths(dir);
    const real = cmp.layout === 'kubeadm-real';
    try {
      options.log(`rotation (${tool}): lab up on ${real ? options.subnet : `${options.ipPrefix}.x`} (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
      if (cmp.layout === 'kubeadm-real') await realUp({ dir, layout: 'kubeadm', nodes: 3, subnet: options.subnet, caDaysLeft: 30, log: () => undefined });
      else await labUpChild(dir, options.ipPrefix, options.log);
      const state = readState(paths)!;
      const inventory = join(work, 'inventory.yaml');
      const kcarunVars: string[] = [];
      if (cmp.discover) {
        // A hosts-only inventory (the lab's minus its vars) and what `kcarun discover` finds on it.
        const full = labInventory(dir);
        writeFileSync(inventory, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
        const vars = join(work, 'discovered.yaml');
        if (tool === 'kcarun') {
          const d = await timed(process.execPath, [join(ROOT, 'dist/cli.js'), 'discover', '-i', inventory, '--write-vars', vars], { cwd: work, stdoutFile: join(work, 'discover.out') });
          if (d.exitCode !== 0) throw new Error(`kcarun discover exited ${d.exitCode}: ${readFileSync(join(work, 'discover.out'), 'utf8').slice(-2000)}`);
          kcarunVars.push('-e', `@${vars}`);
        }
      } else writeFileSync(inventory, labInventory(dir));
      await trafficStart({ dir });
      const loadBefore = loadavg();
      const watcher = real ? watchRealRestarts(paths, state) : watchRestarts(paths, state.nodes.map((n) => n.name));
      const out = join(work, `${tool}.out`);
      options.log(`rotation (${tool}): rotating (load ${loadBefore.map((x) => x.toFixed(1)).join(' ')})`);
      const measured =
        tool === 'kcarun'
          ? await timed(process.execPath, [join(ROOT, 'dist/cli.js'), join(ROOT, cmp.playbook), '-i', inventory, ...kcarunVars, '--yes', '--output', 'json'], { cwd: work, stdoutFile: out })
          : await timed('bash', [join(ROOT, cmp.script)], {
              cwd: work,
              stdoutFile: out,
              env: {
                ...process.env,
                ...cmp.scriptEnv,
                NODES: state.nodes.map((n) => `${n.name}=${n.ip}`).join(' '),
                SSH_KEY: paths.userKey,
                KNOWN_HOSTS: paths.knownHosts,
                GATE_SUCCESSES: String(options.gate.successes),
                GATE_INTERVAL: String(options.gate.intervalSeconds),
                GATE_TIMEOUT: String(options.gate.timeoutSeconds),
              },
            });
      const restartsByComponent = await watcher.stop();
      const loadAfter = loadavg();
      // A few more seconds of traffic on the rotated cluster before counting, as the demo does.
      await new Promise((r) => setTimeout(r, 3000));
      // The real lab's generator records its last acknowledged writes once a second while it keeps
      // writing: it stops (flushing them) before the data is read back, or a later write looks lost.
      if (real) await trafficStop({ dir });
      const verify = await verdict(real, dir, paths, readState(paths)!);
      if (!real) await trafficStop({ dir });
      const text = readFileSync(out, 'utf8');
      // rotation-<layout>-<tool>.out; the unprefixed rotation-<tool>.out files are the retired emulated
      // comparison's, kept as its record.
      writeFileSync(join(options.outDir, `rotation-${cmp.layout}-${tool}.out`), text);
      if (real) writeFileSync(join(options.outDir, `rotation-${cmp.layout}-${tool}-windows.json`), `${JSON.stringify(verify.unavailability, null, 2)}\n`);
      let kcarun: RotationResult | undefined;
      let breakdown: ToolRun['breakdown'];
      if (tool === 'kcarun') {
        kcarun = await rotationFromFile(out, join(ROOT, cmp.playbook)).catch(() => undefined);
        breakdown = Object.entries(kcarun?.byType ?? {})
          .map(([what, v]) => ({ what: `${what} (${v.count}, summed)`, seconds: +v.summed_s.toFixed(1) }))
          .sort((a, b) => b.seconds - a.seconds);
      } else breakdown = scriptPhases(text, cmp.scriptName);
      const { byTarget: apiserverUnavailable, total: apiserverUnavailable_s } = unavailableSeconds(verify.unavailability);
      const run: ToolRun = {
        tool,
        exitCode: measured.exitCode,
        wall_s: measured.wallSeconds,
        cpu_s: measured.cpuSeconds,
        peak_rss_mb: Math.round(measured.peakRssMb),
        restarts: Object.values(restartsByComponent).reduce((a, b) => a + b, 0),
        restartsByComponent,
        requests: verify.requests,
        failures: verify.failures,
        componentErrors: verify.componentErrors,
        apiserverUnavailable,
        apiserverUnavailable_s,
        allCertsOnNewCA: verify.allCertsOnNewCA,
        dataIntact: verify.dataIntact,
        leavesOnOldCa: verify.leavesOnOldCa,
        breakdown,
        kcarun,
        loadBefore,
        loadAfter,
      };
      runs[tool] = run;
      options.log(
        `rotation (${tool}): exit ${run.exitCode}, ${run.wall_s} s, ${run.restarts} restarts ${JSON.stringify(restartsByComponent)}, ` +
          `${run.requests} requests / ${run.failures} failures, apiservers unavailable ${run.apiserverUnavailable_s} s ${JSON.stringify(apiserverUnavailable)}, all certificates on the new CAs: ${run.allCertsOnNewCA}, data intact: ${run.dataIntact}`,
      );
      if (measured.exitCode !== 0) options.log(`rotation (${tool}) output tail:\n${text.trim().split('\n').slice(-15).join('\n')}`);
    } finally {
      if (real) await realDown({ dir, purge: true, log: () => undefined });
      else await labDown({ dir, purge: true, log: () => undefined });
      await rm(work, { recursive: true, force: true });
    }
  }
  return { kcarun: runs.kcarun!, script: runs.script! };
}
