import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, open, readlink, rename, stat as fsStat, readFile as fsReadFile, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { KcarunError } from '../core/errors.js';
import { shellJoin } from '../core/shell.js';
import { trackProcessGroup } from '../core/process-groups.js';
import type { ExecOptions, ExecResult, FileStat, Transport, WriteFileOptions } from './types.js';

/**
 * The operator machine: commands through /bin/sh, files through node:fs. Commands are spawned
 * here rather than through zx's `$` (see docs/development.md, "Why local commands do not run
 * through zx's $"); zx kills a timed-out or aborted command's process tree.
 */
export class LocalTransport implements Transport {
  /** `host` names the inventory host in messages (a `connection: local` host, or `local`). */
  constructor(
    readonly host: string = 'local',
    /** The environment commands run with (the CLI passes its own); `ExecOptions.env` adds to it. */
    private readonly env: Readonly<Record<string, string | undefined>> = {},
  ) {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    // Loaded while the command runs, not when it has to be killed (a kill must not wait for it).
    const zx = options.timeoutMs !== undefined || options.signal ? loadZx() : Promise.reject(new Error('no kill needed'));
    zx.catch(() => undefined);
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', command], {
        cwd: options.cwd,
        env: { ...this.env, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, so a timeout kills the whole pipeline, not just the shell.
        detached: true,
      });
      // Recorded while it runs, so a run that takes over after a kill -9 of this one can stop it.
      const untrack = child.pid ? trackProcessGroup(child.pid) : () => {};
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      // zx's kill takes the whole tree: every descendant `ps` lists, then the process group (the
      // shell is detached, so it leads one), so a pipeline or a backgrounded child dies too.
      // The shell itself dies at once; zx (loaded when the command started) follows for the rest.
      const killGroup = () => {
        const pid = child.pid;
        child.kill('SIGKILL');
        if (pid) void zx.then(({ kill }) => kill(pid, 'SIGKILL')).catch(() => undefined);
      };
      const timer =
        options.timeoutMs !== undefined
          ? setTimeout(() => {
              timedOut = true;
              killGroup();
            }, options.timeoutMs)
          : undefined;
      const onAbort = () => killGroup();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => stdout.push(d));
      child.stderr.on('data', (d: Buffer) => stderr.push(d));
      child.on('error', (err) => {
        untrack();
        clearTimeout(timer);
        reject(new KcarunError('E_TASK', `cannot start /bin/sh: ${err.message}`, { host: this.host }, { cause: err }));
      });
      child.on('close', (code, signal) => {
        untrack();
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (timedOut) {
          reject(
            new KcarunError('E_TIMEOUT', `command timed out after ${options.timeoutMs} ms`, {
              host: this.host,
              command,
            }),
          );
          return;
        }
        const rc = code ?? 128 + signalNumber(signal);
        resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), rc });
      });
      child.stdin.on('error', () => {
        /* the command may exit before reading its stdin */
      });
      child.stdin.end(options.stdin ?? '');
    });
  }

  async readFile(path: string): Promise<Buffer> {
    try {
      return await fsReadFile(path);
    } catch (err) {
      throw new KcarunError('E_TASK', `cannot read ${path}: ${(err as Error).message}`, { host: this.host }, { cause: err });
    }
  }

  async writeFile(linkOrPath: string, data: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    // A symlink is written through to its target, and stays a link (docs/security.md).
    const path = await writeTarget(linkOrPath);
    await writeFileAtomic(path, data, options.mode ?? (await this.stat(path))?.mode ?? 0o644);
    if (options.owner !== undefined || options.group !== undefined) {
      const owner = options.owner ?? '';
      const group = options.group ?? '';
      const spec = group ? `${owner}:${group}` : owner;
      const res = await this.exec(`chown ${shellJoin([spec, '--', path])}`);
      if (res.rc !== 0) throw new KcarunError('E_TASK', `chown ${spec} ${path} failed: ${res.stderr.trim()}`, { host: this.host });
    }
  }

  directFileAccess(): boolean {
    return true;
  }

  async stat(path: string): Promise<FileStat | null> {
    try {
      const s = await fsStat(path);
      return {
        size: s.size,
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        mtimeMs: s.mtimeMs,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async close(): Promise<void> {}
}

let zxModule: Promise<typeof import('zx')> | undefined;
const loadZx = (): Promise<typeof import('zx')> => (zxModule ??= import('zx'));

/**
 * Writes a file so that readers see either the old or the new content: a temp file beside it,
 * fsync, mode set before the rename (a key is never world-readable, not even for a moment),
 * rename, then fsync of the directory so the rename survives a crash.
 */
/** The file a write to `path` changes: `path` itself, or the final target of a symlink there (which need not exist yet). */
export async function writeTarget(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    const st = await lstat(current).catch(() => null);
    if (!st?.isSymbolicLink()) return current;
    const link = await readlink(current);
    current = isAbsolute(link) ? link : join(dirname(current), link);
  }
  throw new KcarunError('E_TASK', `${path}: too many levels of symbolic links`);
}

export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644, uid?: number, gid?: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.kcarun-${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // open()'s mode is masked by the umask
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    if (uid !== undefined && gid !== undefined) await chown(tmp, uid, gid);
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return (signal && numbers[signal]) ?? 1;
}
