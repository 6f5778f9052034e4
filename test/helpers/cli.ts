import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI (`npm test` builds first), run as users run it. */
export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv } = { cwd: process.cwd() }): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, CI: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  return startCli(args, options).done;
}

/** The JSON events of a `--output json` run. */
export function jsonEvents(stdout: string): Array<Record<string, unknown> & { event: string }> {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown> & { event: string });
}

/**
 * Resolves with the first JSON event a running `--output json` run prints that `match` accepts, as
 * it is printed (no polling: `kcarun status` in a 50 ms loop kept a core busy for minutes, which on
 * CI's 2 cores slowed every other test). Rejects when the run ends first or after `timeoutMs`.
 */
export function waitForEvent(
  run: { child: ChildProcess },
  match: (e: Record<string, unknown> & { event: string }) => boolean,
  timeoutMs: number,
): Promise<Record<string, unknown> & { event: string }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const finish = (err: Error | undefined, e?: Record<string, unknown> & { event: string }): void => {
      clearTimeout(timer);
      run.child.stdout!.off('data', onData);
      run.child.off('close', onClose);
      if (err) reject(err);
      else resolve(e!);
    };
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const l of lines) {
        if (!l.trim().startsWith('{')) continue;
        const e = JSON.parse(l) as Record<string, unknown> & { event: string };
        if (match(e)) return finish(undefined, e);
      }
    };
    const onClose = (code: number | null): void => finish(new Error(`the run ended (exit ${code}) before the awaited event`));
    const timer = setTimeout(() => finish(new Error(`no such event within ${timeoutMs} ms`)), timeoutMs);
    run.child.stdout!.on('data', onData);
    run.child.on('close', onClose);
  });
}
