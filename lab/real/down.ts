/**
 * `down` for the real lab: ends every process of each node (found by its mount/network namespace
 * inode and its cgroup tree: containerd, shims, kubelet, sshd, SSH sessions and every container) and
 * of the load balancer, by pid; deletes the bridge and veths; removes the nodes' cgroups; puts back
 * the machine-wide sysctls the kubelet changed. The node's mounts lived only in its own mount
 * namespace and go with it. The unreachable route for the lab's range stays (harmless, and it keeps
 * guarding the range). Works from state.json alone after a crash.
 */
import { rmSync } from 'node:fs';
import { LabPaths } from '../lab-paths.js';
import { readState, type NodeState } from '../lab-state.js';
import { isOwnProcess, isRunning, terminate } from '../processes.js';
import { deleteLink, pidsInCgroupTree, pidsInNamespaces, removeCgroupTree, restoreSysctls } from './host.js';

export function realNodeAlive(n: Pick<NodeState, 'holderPid' | 'mntNs'> & { netNs?: string }): boolean {
  return pidsInNamespaces({ mnt: n.mntNs || undefined, net: n.netNs || undefined }).length > 0;
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
    for (const node of state.nodes) {
      const init = paths.node(node.name).initScript;
      const pidsNow = (): number[] => {
        const s = new Set<number>([
          ...pidsInNamespaces({ mnt: node.mntNs || undefined, net: node.netNs || undefined }),
          ...(node.cgroupRoot ? pidsInCgroupTree(node.cgroupRoot, hier) : []),
        ]);
        if (isOwnProcess(node.unsharePid, init)) s.add(node.unsharePid);
        s.delete(process.pid);
        return [...s].filter((p) => isRunning(p));
      };
      stopped += pidsNow().length;
      await terminate(pidsNow, 8000);
    }
    const lbInit = `${paths.root}/lb/init.sh`;
    const lbPids = (): number[] => {
      const s = new Set<number>(real.lb.netNs ? pidsInNamespaces({ net: real.lb.netNs }) : []);
      if (isOwnProcess(real.lb.unsharePid, lbInit)) s.add(real.lb.unsharePid);
      return [...s].filter((p) => isRunning(p));
    };
    stopped += lbPids().length;
    await terminate(lbPids, 3000);
    // veths go with their namespaces; delete whatever is left, then the bridge
    for (const v of [...real.veths, real.lb.veth]) await deleteLink(v);
    await deleteLink(real.bridge);
    for (const node of state.nodes) if (node.cgroupRoot) leftCgroups.push(...removeCgroupTree(node.cgroupRoot, hier));
    restored = restoreSysctls(real.sysctlsBefore);
  }
  if (opts.purge) rmSync(paths.root, { recursive: true, force: true });
  log(`lab: down (${stopped} processes stopped${restored.length ? `, sysctls restored: ${restored.join(' ')}` : ''}${leftCgroups.length ? `, cgroups left: ${leftCgroups.join(' ')}` : ''}${opts.purge ? `, ${paths.root} removed` : ''})`);
  return { stopped, leftCgroups, restored };
}
