/**
 * Runs one command under GNU time: wall seconds, CPU seconds (user+sys of the process and every
 * descendant it waited for) and peak RSS (of the largest single process in that tree, in MB).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  wallSeconds: number;
  cpuSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  peakRssMb: number;
  exitCode: number;
}

export async function timed(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdoutFile: string }): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-bench-time-'));
  const timeFile = join(dir, 'time');
  const out = await open(options.stdoutFile, 'w');
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', out.fd, out.fd],
      });
      child.once('error', reject);
      child.once('exit', (code) => resolve(code ?? 1));
    });
    return { ...parseGnuTime(await readFile(timeFile, 'utf8')), exitCode };
  } finally {
    await out.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What `/usr/bin/time -f '%e %U %S %M'` wrote (its last line: a failed command's status line comes first). */
export function parseGnuTime(text: string): Omit<Measured, 'exitCode'> {
  const lines = text.trim().split('\n');
  const [e, u, s, m] = lines[lines.length - 1]!.split(' ').map(Number) as [number, number, number, number];
  return { wallSeconds: e, userSeconds: u, sysSeconds: s, cpuSeconds: u + s, peakRssMb: m / 1024 };
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
