/**
 * Finding and stopping the lab's processes by pid. A node's processes are exactly those in its mount
 * namespace (compared by namespace inode, recorded at `up`), so `down` finds every process a node
 * started, including SSH sessions and what they launched, without ever matching process names.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { sleep } from './exec.js';

export function mountNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export function pidsInMountNamespace(ns: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if (mountNamespaceOf(pid) === ns) pids.push(pid);
  }
  return pids;
}

/** Running processes with `arg` as one whole argument of their command line (e.g. a lab node's init script path). */
export function pidsWithArgument(arg: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(arg)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.filter((p) => isRunning(p));
}

/**
 * True when pid runs and its command line contains `needle`: a recorded pid may have been reused by
 * an unrelated process after a crash, and the lab must never signal a process that is not its own.
 */
export function isOwnProcess(pid: number | undefined, needle: string): boolean {
  if (!pid || !isRunning(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(needle);
  } catch {
    return false;
  }
}

/** Running and not a zombie (pid 1 here reaps orphans late, so zombies linger for a while). */
export function isRunning(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * SIGCONT (a paused node), SIGTERM, then SIGKILL whatever is left after graceMs (ms), for up to 10 s
 * more; then waits (up to 10 s) until every process it signalled has finished exiting.
 *
 * Why the last wait: a dying process leaves its namespaces before the kernel releases its files
 * (do_exit runs exit_task_namespaces before exit_task_work, where the final fput closes sockets), so
 * `pidsNow()` may already be empty while its listening sockets still exist. On a loaded machine that
 * window was long enough for `ss` to see a lab listener after `down` returned (CI, session 10). A
 * process that is gone or a zombie has released everything; pids are only waited on, never signalled
 * again, so a pid reused meanwhile is never touched.
 */
export async function terminate(pidsNow: () => number[], graceMs = 4000): Promise<void> {
  const signalled = new Set<number>();
  const signalNow = (sig: NodeJS.Signals): void => {
    const pids = pidsNow();
    for (const pid of pids) signalled.add(pid);
    signal(pids, sig);
  };
  signalNow('SIGCONT');
  signalNow('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pidsNow().length > 0 && Date.now() < deadline) await sleep(100);
  // Up to 10 s of SIGKILL rounds: on a loaded machine (load ~10, a real lab beside the emulated
  // ones) a process in the namespace outlived 2 s of them (test/lab/lab-kubeadm "down stops every
  // lab process", 2026-12-01), e.g. one still in uninterruptible I/O, or a child a dying
  // supervisor had just started.
  // Empty must stay empty: a process that a dying one had just forked can appear after the last
  // look (CI, session 22: one pid in a node's namespace right after `down`). Up to 10 s of SIGKILL
  // rounds, until 3 looks 100 ms apart find nothing.
  for (let i = 0, quiet = 0; i < 100 && quiet < 3; i++) {
    if (pidsNow().length > 0) {
      quiet = 0;
      signalNow('SIGKILL');
    } else quiet++;
    await sleep(100);
  }
  for (let i = 0; i < 100 && [...signalled].some((pid) => isRunning(pid)); i++) await sleep(100);
}
