import { hostname } from 'node:os';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KcarunError } from '../core/errors.js';
import type { LockHolder } from '../core/types.js';
import { killRecordedGroups } from '../transport/process-groups.js';

/** Where a run records the process groups of its local commands in flight (src/core/process-groups.ts). */
export const PROCESS_GROUPS_FILE = 'process-groups.json';

export type { LockHolder } from '../core/types.js';

export interface RunLock {
  holder: LockHolder;
  /** A warning to show, when a stale lock was taken over. */
  takeoverNote?: string;
  release(): Promise<void>;
}

/**
 * One run at a time per state dir. The lock file is created with O_EXCL; a lock left by a process
 * that no longer exists on this host (a crash, kill -9) is taken over with a warning so that
 * `--resume` just works. A lock from another host cannot be checked from here: it needs
 * --break-lock.
 */
export async function acquireLock(stateDir: string, options: {
    breakLock?: boolean;
    command: string;
    /** This process (the CLI passes its pid). */
    pid: number;
    /** Whether a process with this id runs on this host (the CLI asks the OS). */
    isRunning: (pid: number) => boolean;
    now?: () => number;
  },): Promise<RunLock> {
  const path = join(stateDir, 'lock');
  const me: LockHolder = { pid: options.pid, host: hostname(), startedAt: new Date((options.now ?? Date.now)()).toISOString(), command: options.command };
  let takeoverNote: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${JSON.stringify(me)}\n`);
      await fh.sync();
      await fh.close();
      return {
        holder: me,
        takeoverNote,
        release: async () => {
          const current = await readHolder(path);
          if (current?.pid === me.pid && current.host === me.host) await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(path);
    if (holder === null) {
      // Unreadable or torn lock file (killed while writing it): nobody can hold it.
      takeoverNote = `removed an unreadable lock file ${path}`;
    } else if (options.breakLock) {
      takeoverNote = `broke the lock held by pid ${holder.pid} on ${holder.host} since ${holder.startedAt}`;
    } else if (holder.host === me.host && !options.isRunning(holder.pid)) {
      takeoverNote = `took over the lock of pid ${holder.pid} (started ${holder.startedAt}), which is no longer running`;
      // Its local commands may have outlived it: stopped before anything is resumed beside them.
      const killed = killRecordedGroups(join(stateDir, PROCESS_GROUPS_FILE));
      if (killed.length) takeoverNote += `; killed ${killed.length} of its commands still running (process groups ${killed.join(', ')})`;
    } else {
      const how =
        holder.host === me.host
          ? 'wait for it to finish, or stop it'
          : `if that run is really gone, run again with --break-lock`;
      throw new KcarunError(
        'E_LOCKED',
        `another kcarun run holds the lock ${path}: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}); ${how}`,
        { holder },
      );
    }
    await unlink(path).catch(() => {});
  }
  throw new KcarunError('E_LOCKED', `could not take the lock ${path}: another run keeps taking it`);
}

export async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as LockHolder;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' ? holder : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return null;
  }
}
