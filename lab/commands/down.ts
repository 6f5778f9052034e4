/**
 * `down`: stops every process of the lab by pid (each node's mount namespace, the unshare parents, the
 * traffic generator). Bind mounts live only in the nodes' private namespaces, so they go with the
 * last process; the empty mount points on the host stay (see up.ts). Works on a crashed lab from state.json alone.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { isRealLayout, readState } from '../lab-state.js';
import { isOwnProcess, mountNamespaceOf, pidsInMountNamespace, pidsWithArgument, terminate } from '../processes.js';
import { realDown } from '../real/down.js';

export async function labDown(opts: { dir?: string; purge?: boolean; log?: (l: string) => void } = {}): Promise<{ stopped: number }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  if (state && isRealLayout(state.layout)) return realDown({ dir: paths.root, purge: opts.purge, log });
  let stopped = 0;
  if (state) {
    // Host processes run the lab's stand-ins bundle; a reused pid would not.
    const hostPids = Object.values(state.hostPids).filter((p) => isOwnProcess(p, paths.standInsBundle));
    stopped += hostPids.length;
    await terminate(() => hostPids.filter((p) => isOwnProcess(p, paths.standInsBundle)));
    for (const node of [...state.nodes, ...(state.workers ?? [])]) {
      const initScript = paths.node(node.name).initScript;
      const pidsNow = (): number[] => [...pidsInMountNamespace(node.mntNs), ...(isOwnProcess(node.unsharePid, initScript) ? [node.unsharePid] : [])];
      stopped += pidsNow().length;
      await terminate(pidsNow);
    }
    await stopUnrecordedNodes(paths, new Set([...state.nodes, ...(state.workers ?? [])].map((n) => n.name)), (n) => (stopped += n));
    // Mount points the lab created on the host stay: removing one would detach the bind mounts of
    // any other lab still running (see up.ts).
  }
  if (opts.purge) rmSync(paths.root, { recursive: true, force: true });
  log(`lab: down (${stopped} processes stopped${opts.purge ? `, ${paths.root} removed` : ''})`);
  return { stopped };
}

/**
 * Nodes state.json does not list: `up` records a node once its sshd has started, so an `up` killed
 * (or failing) in between leaves that node running unrecorded (seen in session 10: a scale
 * benchmark's `up --workers 100` stopped mid-start left w39 behind). Such a node is found by its
 * init script, a path inside this lab's folder, in the command line of its `unshare` (host mount
 * namespace) and of the shell it runs (the node's own): every process in that node namespace is
 * stopped, never the host's.
 */
async function stopUnrecordedNodes(paths: LabPaths, recorded: ReadonlySet<string>, count: (n: number) => void): Promise<void> {
  const nodesDir = `${paths.root}/nodes`;
  if (!existsSync(nodesDir)) return;
  const hostNs = mountNamespaceOf(process.pid);
  for (const name of readdirSync(nodesDir)) {
    if (recorded.has(name)) continue;
    const initScript = paths.node(name).initScript;
    const namespaces = new Set(pidsWithArgument(initScript).map(mountNamespaceOf).filter((ns): ns is string => ns !== undefined && ns !== hostNs));
    const pidsNow = (): number[] => [...new Set([...pidsWithArgument(initScript), ...[...namespaces].flatMap((ns) => pidsInMountNamespace(ns))])];
    const found = pidsNow().length;
    if (found === 0) continue;
    count(found);
    await terminate(pidsNow);
  }
}
