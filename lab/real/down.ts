/**
 * `down` for the real lab: ends every process of each node (found by its mount/network namespace
 * inode and its cgroup tree: containerd, shims, kubelet, sshd, SSH sessions and every container) and
 * of the load balancer, by pid; deletes the bridge and veths; removes the nodes' cgroups; puts back
 * the machine-wide sysctls the kubelet changed. The node's mounts lived only in its own mount
 * namespace and go with it. The unreachable route for the lab's range stays (harmless, and it keeps
 * guarding the range). Works from state.json alone after a crash.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LabPaths } from '../lab-paths.js';
import { readState, type LabState, type NodeState } from '../lab-state.js';
import { isOwnProcess, isRunning, terminate } from '../processes.js';
import { deleteLink, MACHINE_SYSCTLS_FILE, nsOf, otherRealLabBridges, pidsInCgroupTree, removeCgroupTree, restoreSysctls } from './host.js';

/**
 * The pids of a node. A namespace inode alone is not proof (Linux reuses the inode of a freed
 * namespace: another lab's node got the very number a dead node of ours had), so membership starts
 * from the node's own cgroup tree (a name only this lab makes): every process there is the node's,
 * and so is every process in a mount or network namespace that one of those processes is in.
 */
export function realNodePids(node: NodeState, hierarchies: string[], initScript: string): number[] {
  if (!node.cgroupRoot) return [];
  const inCgroup = pidsInCgroupTree(node.cgroupRoot, hierarchies).filter((p) => isRunning(p));
  const mnt = new Set<string>();
  const net = new Set<string>();
  for (const p of inCgroup) {
    const m = nsOf(p, 'mnt');
    const n = nsOf(p, 'net');
    if (m && m === node.mntNs) mnt.add(m);
    if (n && n === node.netNs) net.add(n);
  }
  const s = new Set<number>(inCgroup);
  for (const p of pidsInNamespaceSets(mnt, net)) s.add(p);
  if (isOwnProcess(node.unsharePid, initScript)) s.add(node.unsharePid);
  s.delete(process.pid);
  return [...s].filter((p) => isRunning(p));
}

export function realNodeAlive(paths: LabPaths, state: LabState): boolean {
  const hier = state.real?.cgroupHierarchies ?? [];
  return [...state.nodes, ...(state.workers ?? [])].some((n) => realNodePids(n, hier, paths.node(n.name).initScript).length > 0) || lbPids(paths, state).length > 0;
}

/** The load balancer: its holder is haproxy running the lab's own haproxy.cfg; its network namespace counts only then. */
function lbPids(paths: LabPaths, state: LabState): number[] {
  const real = state.real;
  if (!real) return [];
  const s = new Set<number>();
  const cfg = join(paths.root, 'lb', 'haproxy.cfg');
  if (isOwnProcess(real.lb.holderPid, cfg) && real.lb.netNs && nsOf(real.lb.holderPid, 'net') === real.lb.netNs) {
    for (const p of pidsInNamespaceSets(new Set(), new Set([real.lb.netNs]))) s.add(p);
  }
  if (isOwnProcess(real.lb.unsharePid, join(paths.root, 'lb', 'init.sh'))) s.add(real.lb.unsharePid);
  return [...s].filter((p) => isRunning(p));
}

function pidsInNamespaceSets(mnt: Set<string>, net: Set<string>): number[] {
  if (mnt.size === 0 && net.size === 0) return [];
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const m = nsOf(pid, 'mnt');
    const n = nsOf(pid, 'net');
    if ((m && mnt.has(m)) || (n && net.has(n))) out.push(pid);
  }
  return out;
}

export async function realDown(opts: { dir: string; purge?: boolean; log?: (l: string) => void }): Promise<{ stopped: number; leftCgroups: string[]; restored: string[] }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(opts.dir);
  const state = readState(paths);
  let stopped = 0;
  const leftCgroups: string[] = [];
  let restored: string[] = [];
  if (state?.real) {
    const real = state.real;
    const hier = real.cgroupHierarchies;
    // The traffic generator (a host process running lab/real/traffic-main.ts), first.
    const traffic = state.hostPids['traffic'];
    const trafficPids = (): number[] => (isOwnProcess(traffic, 'real/traffic-main.ts') ? [traffic!] : []);
    stopped += trafficPids().length;
    await terminate(trafficPids, 15_000);
    const nodes = [...state.nodes, ...(state.workers ?? [])];
    await Promise.all(nodes.map(async (node) => {
      const pidsNow = (): number[] => realNodePids(node, hier, paths.node(node.name).initScript);
      stopped += pidsNow().length;
      await terminate(pidsNow, 8000);
    }));
    const lb = (): number[] => lbPids(paths, state);
    stopped += lb().length;
    await terminate(lb, 3000);
    // veths go with their namespaces; delete whatever is left, then the bridge
    for (const v of [...real.veths, real.lb.veth]) await deleteLink(v);
    await deleteLink(real.bridge);
    for (const node of nodes) if (node.cgroupRoot) leftCgroups.push(...removeCgroupTree(node.cgroupRoot, hier));
    // Machine-wide values: restoring them under another real lab's kubelets would undo what those
    // kubelets set (and rely on); the last lab down restores them.
    const others = await otherRealLabBridges(real.bridge);
    if (others.length === 0) {
      restored = restoreSysctls(real.sysctlsBefore);
      rmSync(MACHINE_SYSCTLS_FILE, { force: true });
    } else log(`lab: sysctls left as they are: another real lab is up (${others.join(', ')})`);
  }
  if (opts.purge) rmSync(paths.root, { recursive: true, force: true });
  log(`lab: down (${stopped} processes stopped${restored.length ? `, sysctls restored: ${restored.join(' ')}` : ''}${leftCgroups.length ? `, cgroups left: ${leftCgroups.join(' ')}` : ''}${opts.purge ? `, ${paths.root} removed` : ''})`);
  return { stopped, leftCgroups, restored };
}
