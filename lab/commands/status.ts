/** `status`: what runs on each node (units, sshd), read from the pid records. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { readState } from '../lab-state.js';
import { isRunning, pidsInMountNamespace } from '../processes.js';

export interface NodeStatus {
  name: string;
  ip: string;
  up: boolean;
  sshd: boolean;
  processes: number;
  units: Record<string, boolean>;
}

export function labStatus(dir = DEFAULT_LAB_DIR): { layout?: string; nodes: NodeStatus[]; traffic: boolean } {
  const paths = new LabPaths(dir);
  const state = readState(paths);
  if (!state) return { nodes: [], traffic: false };
  const nodes = [...state.nodes, ...(state.workers ?? [])].map((n) => {
    const np = paths.node(n.name);
    const units: Record<string, boolean> = {};
    if (existsSync(np.unitsRun)) {
      for (const f of readdirSync(np.unitsRun).filter((x) => x.endsWith('.pid') && !x.endsWith('.supervisor.pid'))) units[f.slice(0, -4)] = isRunning(Number(readFileSync(join(np.unitsRun, f), 'utf8')));
    }
    const sshdPid = existsSync(np.sshdPidFile) ? Number(readFileSync(np.sshdPidFile, 'utf8')) : 0;
    return { name: n.name, ip: n.ip, up: isRunning(n.holderPid), sshd: isRunning(sshdPid), processes: pidsInMountNamespace(n.mntNs).length, units };
  });
  return { layout: state.layout, nodes, traffic: isRunning(state.hostPids['traffic']) };
}
