/**
 * `down`: stops every process of the lab by pid (each node's mount namespace, the unshare parents, the
 * traffic generator). Bind mounts live only in the nodes' private namespaces, so they go with the
 * last process; the empty mount points on the host stay (see up.ts). Works on a crashed lab from state.json alone.
 */
import { rmSync } from 'node:fs';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { readState } from '../lab-state.js';
import { isOwnProcess, pidsInMountNamespace, terminate } from '../processes.js';
import { realDown } from '../real/down.js';

export async function labDown(opts: { dir?: string; purge?: boolean; log?: (l: string) => void } = {}): Promise<{ stopped: number }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const state = readState(paths);
  if (state?.layout === 'kubeadm-real') return realDown({ dir: paths.root, purge: opts.purge, log });
  let stopped = 0;
  if (state) {
    // Host processes run the lab's components bundle; a reused pid would not.
    const hostPids = Object.values(state.hostPids).filter((p) => isOwnProcess(p, paths.componentsBundle));
    stopped += hostPids.length;
    await terminate(() => hostPids.filter((p) => isOwnProcess(p, paths.componentsBundle)));
    for (const node of [...state.nodes, ...(state.workers ?? [])]) {
      const initScript = paths.node(node.name).initScript;
      const pidsNow = (): number[] => [...pidsInMountNamespace(node.mntNs), ...(isOwnProcess(node.unsharePid, initScript) ? [node.unsharePid] : [])];
      stopped += pidsNow().length;
      await terminate(pidsNow);
    }
    // Mount points the lab created on the host stay: removing one would detach the bind mounts of
    // any other lab still running (see up.ts).
  }
  if (opts.purge) rmSync(paths.root, { recursive: true, force: true });
  log(`lab: down (${stopped} processes stopped${opts.purge ? `, ${paths.root} removed` : ''})`);
  return { stopped };
}
