/** Shared helpers for the lab tests: a temp lab folder, a real ssh client, openssl checks. */
import { mkdtempSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LabPaths } from '../../lab/lab-paths.js';
import type { LabState } from '../../lab/lab-state.js';

const execFileP = promisify(execFile);

export function tempLabDir(name: string): string {
  return mkdtempSync(`/tmp/kcarun-lab-test-${name}-`);
}

export interface Cmd {
  stdout: string;
  stderr: string;
  rc: number;
}

export async function cmd(file: string, args: string[]): Promise<Cmd> {
  try {
    const r = await execFileP(file, args, { maxBuffer: 10_000_000 });
    return { stdout: r.stdout, stderr: r.stderr, rc: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', rc: typeof e.code === 'number' ? e.code : 1 };
  }
}

/** The real OpenSSH client with the lab's key and known_hosts, host keys checked strictly. */
export function ssh(paths: LabPaths, state: LabState, node: string, command: string): Promise<Cmd> {
  const n = state.nodes.find((x) => x.name === node)!;
  return cmd('ssh', [
    '-i', paths.userKey,
    '-o', `UserKnownHostsFile=${paths.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=5',
    '-p', String(state.sshPort),
    `root@${n.ip}`,
    command,
  ]);
}

export function openssl(args: string[]): Promise<Cmd> {
  return cmd('openssl', args);
}
