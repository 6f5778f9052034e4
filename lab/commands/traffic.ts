/** `traffic start|stop`: the counted client load through every node (lab/components/traffic.ts). */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { readState, writeState } from '../lab-state.js';
import { layoutByName } from '../layouts/index.js';
import { componentCommand } from '../components-bundle.js';
import { isOwnProcess, isRunning, terminate } from '../processes.js';
import type { TrafficPlan } from '../components/traffic.js';
import { sleep } from '../exec.js';

export async function trafficStart(opts: { dir?: string; rate?: number } = {}): Promise<number> {
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  if (!state) throw new Error(`no lab in ${paths.root}`);
  if (isOwnProcess(state.hostPids['traffic'], paths.componentsBundle)) throw new Error('traffic is already running; `traffic stop` first');
  const layout = layoutByName(state.layout);
  rmSync(paths.trafficDir, { recursive: true, force: true });
  mkdirSync(paths.trafficDir, { recursive: true });
  const plan: TrafficPlan = {
    ratePerSecond: opts.rate ?? 20,
    nodes: state.nodes.map((n) => ({
      name: n.name,
      ip: n.ip,
      fsRoot: paths.node(n.name).fs('/'),
      apiserverConfig: layout.apiserverConfig,
      adminKubeconfig: layout.adminKubeconfig,
      kubeletKubeconfig: layout.kubeletKubeconfig,
      frontProxy: layout.frontProxyClient !== undefined,
      etcdOnly: layout.etcdOnly ? { fsRoot: paths.node(layout.etcdOnly.node).fs('/'), ...layout.etcdOnly.client } : undefined,
    })),
  };
  writeFileSync(join(paths.trafficDir, 'plan.json'), JSON.stringify(plan, null, 2));
  writeFileSync(join(paths.trafficDir, 'failures.jsonl'), '');
  const [cmd, ...args] = componentCommand(paths, 'traffic', ['--dir', paths.trafficDir]);
  const log = openSync(join(paths.trafficDir, 'traffic.log'), 'a');
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, KCARUN_LAB_DIR: paths.root } });
  closeSync(log);
  child.unref();
  state.hostPids['traffic'] = child.pid!;
  state.trafficStartedAt = new Date().toISOString();
  writeState(paths, state);
  await sleep(300);
  if (!isRunning(child.pid)) throw new Error(`traffic generator exited at once (see ${paths.trafficDir}/traffic.log)`);
  return child.pid!;
}

export async function trafficStop(opts: { dir?: string } = {}): Promise<void> {
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  const pid = state?.hostPids['traffic'];
  if (!state || !pid) return;
  // The generator flushes its counters on SIGTERM after in-flight requests finish.
  await terminate(() => (isOwnProcess(pid, paths.componentsBundle) ? [pid] : []), 8000);
  delete state.hostPids['traffic'];
  writeState(paths, state);
}
