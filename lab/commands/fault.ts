/**
 * `fault KIND NODE`: stop-sshd (listener and connections) | start-sshd | pause | resume | change-host-key,
 * on every lab (real or loopback). pause/resume SIGSTOP/SIGCONT every process of the node. (kill-etcd,
 * a SIGKILL to the emulated kubeadm lab's etcd static pod, went with that lab in issue 18.)
 * change-host-key gives the node's sshd a new host key without touching known_hosts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { readState, type NodeState } from '../lab-state.js';
import { isOwnProcess, pidsInMountNamespace, terminate } from '../processes.js';
import { inNode } from '../node-runtime.js';
import { waitForPort } from '../net.js';
import { runOk } from '../exec.js';

export const FAULTS = ['stop-sshd', 'start-sshd', 'pause', 'resume', 'change-host-key'] as const;
export type Fault = (typeof FAULTS)[number];

function sshdPid(paths: LabPaths, node: NodeState): number | undefined {
  const f = paths.node(node.name).sshdPidFile;
  return existsSync(f) ? Number(readFileSync(f, 'utf8')) : undefined;
}

async function startSshd(paths: LabPaths, node: NodeState): Promise<void> {
  const np = paths.node(node.name);
  // Started inside the node (nsenter) in a session of its own, so that nothing that happens to the
  // caller's process group reaches it; the pid is recorded where `down` and `fault` look for it.
  const pidFile = np.sshdPidFile;
  rmSync(pidFile, { force: true });
  await inNode(node, ['bash', '-c', `setsid bash -c 'echo $$ > "${pidFile}"; exec /usr/sbin/sshd -D -e -f "${np.sshdConfig}"' >> '${join(np.logs, 'sshd.log')}' 2>&1 < /dev/null &`]);
  const state = readState(paths);
  if (!(await waitForPort(node.ip, state?.sshPort ?? 22, 10_000))) throw new Error(`${node.name}: sshd did not come back (see ${np.logs}/sshd.log)`);
}

export async function labFault(kind: Fault, nodeName: string, dir = DEFAULT_LAB_DIR): Promise<string> {
  const paths = new LabPaths(dir);
  const state = readState(paths);
  const node = state?.nodes.find((n) => n.name === nodeName);
  if (!state || !node) throw new Error(`no node ${nodeName} in the lab at ${dir}`);
  switch (kind) {
    case 'stop-sshd': {
      // The listener and every connection it serves (`sshd: root@notty` processes): the node is
      // lost to SSH clients that are connected already, not only to new ones.
      const pid = sshdPid(paths, node);
      const sshdProcesses = () =>
        pidsInMountNamespace(node.mntNs).filter((p) => (p === pid && isOwnProcess(p, 'sshd')) || isOwnProcess(p, 'sshd: '));
      await terminate(sshdProcesses);
      return `${nodeName}: sshd stopped, its connections cut`;
    }
    case 'start-sshd':
      if (!isOwnProcess(sshdPid(paths, node), 'sshd')) await startSshd(paths, node);
      return `${nodeName}: sshd running (pid ${sshdPid(paths, node)})`;
    case 'pause':
    case 'resume':
      for (const pid of pidsInMountNamespace(node.mntNs)) {
        try {
          process.kill(pid, kind === 'pause' ? 'SIGSTOP' : 'SIGCONT');
        } catch {
          // exited meanwhile
        }
      }
      return `${nodeName}: ${kind === 'pause' ? 'paused' : 'resumed'}`;
    case 'change-host-key': {
      const np = paths.node(node.name);
      rmSync(np.hostKey, { force: true });
      rmSync(`${np.hostKey}.pub`, { force: true });
      await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${node.name}`, '-f', np.hostKey]);
      const pid = sshdPid(paths, node);
      if (pid) await terminate(() => (isOwnProcess(pid, 'sshd') && pidsInMountNamespace(node.mntNs).includes(pid) ? [pid] : []));
      await startSshd(paths, node);
      return `${nodeName}: sshd has a new host key (known_hosts not updated)`;
    }
  }
}
