/** Process helpers for the lab's stand-in service manager (systemctl) and the processes it starts. */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The PATH a real node's services see; the lab's stand-ins sit in /usr/local/{s,}bin. */
export const NODE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The lab's stand-in for systemd's NOTIFY_SOCKET: the emulated systemctl sets this variable to a
 * file path, and a lab component creates that file once it has read its files and is serving
 * (signalReady), as a Type=notify service sends READY=1.
 */
export const READY_FILE_ENV = 'KCARUN_LAB_READY_FILE';

/** Tells the emulated systemctl this component is up (no-op when not started by it). */
export function signalReady(): void {
  const file = process.env[READY_FILE_ENV];
  if (file) writeFileSync(file, `${process.pid}\n`);
}

/** Starts a process in its own session, detached from the caller, output appended to logFile. */
export function spawnDetached(argv: string[], logFile: string, env: Record<string, string> = {}): number {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
      // The ready file is this process's own (set by systemctl): a child gets one only when passed one.
      env: { ...process.env, [READY_FILE_ENV]: undefined, PATH: NODE_PATH, ...env },
    });
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${argv[0]}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

let ownMountNs: string | undefined;

/**
 * Alive, not a zombie, and in this node's mount namespace: a pid file may outlive its process and
 * the pid be reused by something else, which must then never be signalled as ours.
 */
export function isAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    ownMountNs ??= readlinkSync('/proc/self/ns/mnt');
    if (readlinkSync(`/proc/${pid}/ns/mnt`) !== ownMountNs) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
  }
}

export function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 64);
}

/** Splits a systemd ExecStart value into words (double/single quotes, backslash escapes). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) words.push(cur);
  return words;
}
