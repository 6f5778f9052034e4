/**
 * Starting a node: a mount + UTS namespace (`unshare --mount --uts --fork --propagation private`) in
 * which an init script sets the hostname, bind-mounts the node's folders over /etc/kubernetes,
 * /etc/etcd, ... and the lab's bin folder over /usr/local/{s,}bin, starts the node's own sshd on
 * 127.0.1.N, then stays as the namespace's holder process (`sleep infinity`, the nsenter target).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, chmodSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_DIR_MOUNTS, type LabPaths } from './lab-paths.js';
import { run, sleep } from './exec.js';
import { mountNamespaceOf } from './processes.js';
import type { LabNode } from './layouts/types.js';
import type { NodeState } from './lab-state.js';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function sshdConfig(paths: LabPaths, node: LabNode, port: number): string {
  const np = paths.node(node.name);
  return [
    `# sshd of lab node ${node.name}; loopback only.`,
    `Port ${port}`,
    `ListenAddress ${node.ip}`,
    `HostKey ${np.hostKey}`,
    'PidFile none',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `AuthorizedKeysFile ${paths.authorizedKeys}`,
    'StrictModes no',
    'MaxStartups 100:30:200',
    'MaxSessions 64',
    'Subsystem sftp internal-sftp',
    // bash sources ~/.bashrc for commands run over SSH unless SHLVL >= 2; this machine's root
    // .bashrc runs `pyenv init` (about 1.7 s a command), which would dominate every lab timing.
    'SetEnv SHLVL=1',
    'LogLevel INFO',
    '',
  ].join('\n');
}

export function initScript(paths: LabPaths, node: LabNode, port: number, extraMounts: readonly string[] = []): string {
  const np = paths.node(node.name);
  const binds = [...NODE_DIR_MOUNTS, ...extraMounts].map((m) => `mount --bind ${q(np.fs(m))} ${q(m)}`);
  return `#!/bin/bash
# Init of lab node ${node.name} (runs inside its own mount + UTS namespace).
set -euo pipefail
hostname ${node.name}
${binds.join('\n')}
mount --bind ${q(np.fs('/etc/hosts'))} /etc/hosts
mount --bind ${q(paths.binDir)} /usr/local/sbin
mount --bind ${q(paths.binDir)} /usr/local/bin
mkdir -p /run/sshd
echo $$ > ${q(np.holderPidFile)}
/usr/sbin/sshd -D -e -f ${q(np.sshdConfig)} >> ${q(join(np.logs, 'sshd.log'))} 2>&1 &
echo $! > ${q(np.sshdPidFile)}
# port ${port}
exec sleep infinity
`;
}

/** Starts the node's namespace and sshd; resolves once both pids are known. */
export async function startNode(paths: LabPaths, node: LabNode): Promise<NodeState> {
  const np = paths.node(node.name);
  mkdirSync(np.logs, { recursive: true });
  mkdirSync(np.run, { recursive: true });
  const log = openSync(join(np.logs, 'init.log'), 'a');
  const child = spawn('unshare', ['--mount', '--uts', '--fork', '--propagation', 'private', '--', 'bash', np.initScript], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  const unsharePid = child.pid!;
  const deadline = Date.now() + 10_000;
  while (!(existsSync(np.holderPidFile) && existsSync(np.sshdPidFile))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`node ${node.name} did not start: ${readFileSync(join(np.logs, 'init.log'), 'utf8').trim().split('\n').slice(-5).join('\n')}`);
    }
    await sleep(50);
  }
  await sleep(50);
  const holderPid = Number(readFileSync(np.holderPidFile, 'utf8'));
  const mntNs = mountNamespaceOf(holderPid);
  if (!mntNs) throw new Error(`node ${node.name}: holder ${holderPid} vanished`);
  return { name: node.name, ip: node.ip, unsharePid, holderPid, mntNs };
}

/** Runs a command inside a node's namespaces, the way a process started by the node would. */
export function inNode(state: NodeState, argv: string[]): ReturnType<typeof run> {
  // a real lab's node has its own network namespace too (its address lives there)
  return run('nsenter', ['-t', String(state.holderPid), '-m', '-u', ...(state.netNs ? ['-n'] : []), '--', ...argv], {
    env: { ...process.env, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
  });
}

export function writeExecutable(path: string, content: string): void {
  writeFileSync(path, content);
  chmodSync(path, 0o755);
}
