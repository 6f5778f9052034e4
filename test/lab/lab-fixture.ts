/** Shared helpers for the lab tests: a temp lab folder, a real ssh client, openssl checks. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LabPaths } from '../../lab/lab-paths.js';
import type { LabState } from '../../lab/lab-state.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';

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
  const n = [...state.nodes, ...(state.workers ?? [])].find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in the lab's state`);
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

/** What the traffic generator has counted so far (it rewrites counters.json every second); zeros before its first write. */
export function trafficCounted(paths: LabPaths): { requests: number; byTarget: Record<string, unknown> } {
  try {
    return JSON.parse(readFileSync(`${paths.trafficDir}/counters.json`, 'utf8')) as { requests: number; byTarget: Record<string, unknown> };
  } catch {
    return { requests: 0, byTarget: {} };
  }
}

/**
 * Runs the lab's traffic for at least 10 s at 20 operations/s, then on until `minRequests` have gone
 * out (up to 100 s more). 20/s gives 200 in 10 s on an idle machine; CI's, running three test
 * projects on 2 cores, managed 35 (session 10), so the run's length follows the load, not a clock.
 */
export async function runTraffic(dir: string, paths: LabPaths, minRequests = 100): Promise<void> {
  await trafficStart({ dir, rate: 20 });
  await sleep(10_000);
  for (let i = 0; i < 100 && trafficCounted(paths).requests < minRequests; i++) await sleep(1000);
  await trafficStop({ dir });
}
