/**
 * `traffic start|stop`: the counted client load through every node: the real labs' generator
 * (lab/real/traffic.ts), or the etcd-only lab's (lab/stand-ins/traffic.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { isRealLayout, readState, writeState, type LabState } from '../lab-state.js';
import { layoutByName } from '../layouts/index.js';
import { standInCommand } from '../stand-ins-bundle.js';
import { isOwnProcess, isRunning, terminate } from '../processes.js';
import type { TrafficPlan } from '../stand-ins/traffic.js';
import { sleep } from '../exec.js';
import { realTrafficPlan } from '../real/traffic.js';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The real lab's generator script: a host process recognised by this path on its command line. */
const REAL_TRAFFIC_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../real/traffic-main.ts');
const TSX_CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/tsx/dist/cli.mjs');

/** `traffic start` on a kubeadm-real lab: the generator of lab/real/traffic.ts, detached. */
async function realTrafficStart(paths: LabPaths, intervalMs: number): Promise<number> {
  const state = readState(paths)!;
  if (isOwnProcess(state.hostPids['traffic'], REAL_TRAFFIC_MAIN)) throw new Error('traffic is already running; `traffic stop` first');
  rmSync(paths.trafficDir, { recursive: true, force: true });
  mkdirSync(paths.trafficDir, { recursive: true });
  writeFileSync(join(paths.trafficDir, 'plan.json'), JSON.stringify(realTrafficPlan(paths, state, intervalMs), null, 2));
  return spawnGenerator(paths, state, [process.execPath, TSX_CLI, REAL_TRAFFIC_MAIN, '--dir', paths.trafficDir], process.env, 1500);
}

/**
 * Starts a traffic generator detached (its log in the traffic dir, an empty failures.jsonl), records
 * its pid in the lab state, and fails when it is gone after `settleMs` (ms). Returns the pid.
 */
async function spawnGenerator(paths: LabPaths, state: LabState, argv: string[], env: NodeJS.ProcessEnv, settleMs: number): Promise<number> {
  writeFileSync(join(paths.trafficDir, 'failures.jsonl'), '');
  const log = openSync(join(paths.trafficDir, 'traffic.log'), 'a');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], env });
  closeSync(log);
  child.unref();
  state.hostPids['traffic'] = child.pid!;
  state.trafficStartedAt = new Date().toISOString();
  writeState(paths, state);
  await sleep(settleMs);
  if (!isRunning(child.pid)) throw new Error(`traffic generator exited at once (see ${paths.trafficDir}/traffic.log)`);
  return child.pid!;
}

export async function trafficStart(opts: { dir?: string; rate?: number } = {}): Promise<number> {
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  if (!state) throw new Error(`no lab in ${paths.root}`);
  // The real lab: `rate` requests per second over all targets (the load balancer and each node),
  // default one per target per second: every request is a new TLS handshake with the real apiserver,
  // and 16/s kept the 2 cores of this machine busy enough to time requests out on their own.
  if (isRealLayout(state.layout)) return realTrafficStart(paths, Math.max(20, Math.round((1000 * (state.nodes.length + 1)) / (opts.rate ?? state.nodes.length + 1))));
  if (isOwnProcess(state.hostPids['traffic'], paths.standInsBundle)) throw new Error('traffic is already running; `traffic stop` first');
  const layout = layoutByName(state.layout);
  rmSync(paths.trafficDir, { recursive: true, force: true });
  mkdirSync(paths.trafficDir, { recursive: true });
  const client = layout.etcdClient;
  const plan: TrafficPlan = {
    ratePerSecond: opts.rate ?? 20,
    nodes: state.nodes.map((n) => {
      const np = paths.node(client.node ?? n.name);
      // The service manager's pid file of the client's unit (lab/stand-ins/systemctl.ts runDir).
      const pidFile = client.service ? join(np.root, 'run', 'units', `${client.service}.service.pid`) : undefined;
      return { name: n.name, ip: n.ip, client: { fsRoot: np.fs('/'), ...client.files, ...(pidFile ? { pidFile } : {}) } };
    }),
  };
  writeFileSync(join(paths.trafficDir, 'plan.json'), JSON.stringify(plan, null, 2));
  return spawnGenerator(paths, state, standInCommand(paths, 'traffic', ['--dir', paths.trafficDir]), { ...process.env, KCARUN_LAB_DIR: paths.root }, 300);
}

export async function trafficStop(opts: { dir?: string } = {}): Promise<void> {
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  const pid = state?.hostPids['traffic'];
  if (!state || !pid) return;
  // The generator flushes its counters on SIGTERM after in-flight requests finish.
  const marker = isRealLayout(state.layout) ? REAL_TRAFFIC_MAIN : paths.standInsBundle;
  await terminate(() => (isOwnProcess(pid, marker) ? [pid] : []), 15_000);
  delete state.hostPids['traffic'];
  writeState(paths, state);
}
