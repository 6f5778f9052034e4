import { shellJoin } from '../../core/shell.js';
import type { ExecOptions, Transport } from '../../transport/types.js';

/**
 * Bytes available to an unprivileged writer on the file system holding `path` on the host, from
 * POSIX `df -Pk` (its "Available" column, KiB). The line is read around the "Capacity" percentage,
 * so a file system or mount point name with spaces does not shift the columns. Throws an Error
 * naming the path and what df said when it fails or prints no such line.
 */
export async function freeBytes(t: Transport, path: string, opts: ExecOptions = {}): Promise<number> {
  const res = await t.exec(`df -Pk ${shellJoin([path])}`, { timeoutMs: 15_000, ...opts });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  const avail = /\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s/.exec(`${line} `)?.[3];
  if (res.rc !== 0 || avail === undefined) throw new Error(`cannot measure free space of ${path}: ${res.stderr.trim() || line || `df rc ${res.rc}`}`);
  return Number(avail) * 1024;
}
