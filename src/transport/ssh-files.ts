import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { KcarunError } from '../core/errors.js';
import { shellJoin, shellQuote } from '../core/shell.js';
import type { SshBecome } from './ssh-become.js';
import type { SshConnection } from './ssh-connection.js';
import type { SshExec } from './ssh-exec.js';
import type { FileStat, WriteFileOptions } from './types.js';

/**
 * Files on one host: over SFTP (one session per connection, reopened after a drop), or, when
 * `become` applies, through a root shell (SFTP runs as the login user and cannot touch root's
 * files). Writes are atomic either way: temp file beside the target, fsync, owner/mode, rename.
 */
export class SshFiles {
  private sftpSession: Promise<SFTPWrapper> | undefined;

  constructor(
    private readonly conn: SshConnection,
    private readonly execer: SshExec,
    private readonly become: SshBecome,
    /** The login user: root may chown over SFTP, anybody else may not. */
    private readonly user: string,
  ) {
    conn.onLost(() => (this.sftpSession = undefined));
  }

  private get host(): string {
    return this.conn.host;
  }

  private async execText(command: string, options: { become: boolean }): Promise<{ stdout: string; stderr: string; rc: number }> {
    const res = await this.execer.exec(command, options);
    return { stdout: res.stdout.toString('utf8'), stderr: res.stderr.toString('utf8'), rc: res.rc };
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      const session = this.conn.get().then(
        (client) =>
          new Promise<SFTPWrapper>((resolve, reject) => {
            client.sftp((err, sftp) => {
              if (err) return reject(new KcarunError('E_TASK', `${this.host}: cannot start SFTP: ${err.message}`, { host: this.host }, { cause: err }));
              sftp.on('close', () => {
                if (this.sftpSession === session) this.sftpSession = undefined;
              });
              resolve(sftp);
            });
          }),
      );
      session.catch(() => {
        if (this.sftpSession === session) this.sftpSession = undefined;
      });
      this.sftpSession = session;
    }
    return this.sftpSession;
  }

  /** Runs an SFTP operation; its failure becomes E_UNREACHABLE when the connection is gone. */
  private sftpOp<T>(what: string, fn: (sftp: SFTPWrapper, cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    return this.sftp().then(
      (sftp) =>
        new Promise<T>((resolve, reject) => {
          let settled = false;
          const onLost = (err: KcarunError) => {
            if (settled) return;
            settled = true;
            reject(new KcarunError('E_UNREACHABLE', `${err.message} during ${what}`, { host: this.host }));
          };
          const untrack = this.conn.track(onLost);
          fn(sftp, (err, value) => {
            untrack();
            if (settled) return;
            settled = true;
            if (err) {
              const code = (err as Error & { code?: number }).code;
              const e = this.conn.client
                ? new KcarunError('E_TASK', `${this.host}: ${what} failed: ${err.message}`, { host: this.host, sftpCode: code }, { cause: err })
                : new KcarunError('E_UNREACHABLE', `${this.host}: connection lost during ${what}`, { host: this.host });
              reject(e);
            } else resolve(value as T);
          });
        }),
    );
  }

  async readFile(path: string, options: { become?: boolean } = {}): Promise<Buffer> {
    if (this.become.applies(options.become)) {
      const res = await this.execer.exec(`cat -- ${shellQuote(path)}`, { become: true });
      if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: cannot read ${path}: ${res.stderr.toString('utf8').trim()}`, { host: this.host });
      return res.stdout;
    }
    return this.sftpOp<Buffer>(`read of ${path}`, (sftp, cb) => sftp.readFile(path, (err, data) => cb(err, data)));
  }

  async stat(path: string, options: { become?: boolean } = {}): Promise<FileStat | null> {
    if (this.become.applies(options.become)) {
      // %f: raw mode in hex (type and permission bits); -L follows symlinks like SFTP stat.
      const res = await this.execText(`stat -L -c '%s %f %u %g %Y' -- ${shellQuote(path)}`, { become: true });
      if (res.rc !== 0) {
        if (/No such file|Not a directory/.test(res.stderr)) return null;
        throw new KcarunError('E_TASK', `${this.host}: cannot stat ${path}: ${res.stderr.trim()}`, { host: this.host });
      }
      const [size, rawMode, uid, gid, mtime] = res.stdout.trim().split(' ');
      const mode = parseInt(rawMode ?? '0', 16);
      return {
        size: Number(size),
        mode: mode & 0o7777,
        uid: Number(uid),
        gid: Number(gid),
        mtimeMs: Number(mtime) * 1000,
        isFile: (mode & 0o170000) === 0o100000,
        isDirectory: (mode & 0o170000) === 0o040000,
      };
    }
    try {
      const s = await this.sftpOp<Stats>(`stat of ${path}`, (sftp, cb) => sftp.stat(path, (err, st) => cb(err, st)));
      return {
        size: s.size,
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        mtimeMs: s.mtime * 1000,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
      };
    } catch (err) {
      if (err instanceof KcarunError && err.context.sftpCode === 2) return null;
      throw err;
    }
  }

  async writeFile(path: string, data: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kcarun-${randomBytes(6).toString('hex')}.tmp`);
    const ownerSpec = options.owner !== undefined || options.group !== undefined ? `${options.owner ?? ''}${options.group !== undefined ? `:${options.group}` : ''}` : undefined;
    if (this.become.applies(options.become)) return this.writeFileWithSudo(path, tmp, buf, options.mode, ownerSpec);
    return this.writeFileWithSftp(path, tmp, buf, options.mode, ownerSpec);
  }

  /**
   * SFTP: write a private temp file beside the target, fsync, set owner and mode, then rename over
   * the target (posix-rename@openssh.com, atomic). A cut connection leaves at most a stray temp
   * file; the target is the old content or the new one.
   */
  private async writeFileWithSftp(path: string, tmp: string, buf: Buffer, mode: number | undefined, ownerSpec: string | undefined): Promise<void> {
    // Requests that do not depend on each other's answers are sent together (SFTP servers handle
    // the requests on one handle in order): four round trips instead of eight, which is most of a
    // file write's time when a hundred hosts are written at once.
    const opened = this.sftpOp<Buffer>(`create ${tmp}`, (sftp, cb) => sftp.open(tmp, 'wx', { mode: 0o600 }, (err, h) => cb(err, h)));
    // Sent with the others: a symlink at `path` is written through to its target (docs/security.md).
    const isLink = this.sftpOp<Stats>(`lstat of ${path}`, (sftp, cb) => sftp.lstat(path, (err, st) => cb(err, st))).then((st) => st.isSymbolicLink(), () => false);
    const [existingResult, openResult, linkResult] = await Promise.allSettled([this.stat(path, { become: false }), opened, isLink]);
    let handle = openResult.status === 'fulfilled' ? openResult.value : undefined;
    if (linkResult.status === 'fulfilled' && linkResult.value) {
      if (handle) {
        const h = handle;
        await this.sftpOp<void>('close', (sftp, cb) => sftp.close(h, (e) => cb(e))).catch(() => {});
        await this.sftpOp<void>('unlink', (sftp, cb) => sftp.unlink(tmp, (e) => cb(e))).catch(() => {});
      }
      const target = await this.linkTarget(path);
      return this.writeFileWithSftp(target, posix.join(posix.dirname(target), posix.basename(tmp)), buf, mode, ownerSpec);
    }
    try {
      if (openResult.status === 'rejected') throw openResult.reason;
      if (existingResult.status === 'rejected') throw existingResult.reason;
      const existing = existingResult.value;
      const finalMode = mode ?? existing?.mode ?? 0o644;
      const h = handle!;
      await this.writeChunks(h, buf, tmp);
      const finishing: Promise<void>[] = [this.sftpOp<void>(`fsync of ${tmp}`, (sftp, cb) => sftp.ext_openssh_fsync(h, (err) => cb(err)))];
      if (existing && ownerSpec === undefined && this.user === 'root') {
        finishing.push(this.sftpOp<void>(`chown of ${tmp}`, (sftp, cb) => sftp.fchown(h, existing.uid, existing.gid, (err) => cb(err))));
      }
      finishing.push(this.sftpOp<void>(`chmod of ${tmp}`, (sftp, cb) => sftp.fchmod(h, finalMode, (err) => cb(err))));
      const closed = this.sftpOp<void>(`close of ${tmp}`, (sftp, cb) => sftp.close(h, (err) => cb(err)));
      const settled = await Promise.allSettled([...finishing, closed]);
      if (settled[settled.length - 1]!.status === 'fulfilled') handle = undefined;
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (ownerSpec !== undefined) {
        const res = await this.execText(`chown ${shellJoin([ownerSpec, '--', tmp])}`, { become: false });
        if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: chown ${ownerSpec} ${path} failed: ${res.stderr.trim()}`, { host: this.host });
      }
      await this.sftpOp<void>(`rename to ${path}`, (sftp, cb) => sftp.ext_openssh_rename(tmp, path, (err) => cb(err)));
    } catch (err) {
      if (this.conn.client) {
        const h = handle;
        if (h) await this.sftpOp<void>('close', (sftp, cb) => sftp.close(h, (e) => cb(e))).catch(() => {});
        // Only a temp file this call created is removed (open with 'wx' refuses an existing one).
        if (openResult.status === 'fulfilled') await this.sftpOp<void>('unlink', (sftp, cb) => sftp.unlink(tmp, (e) => cb(e))).catch(() => {});
      }
      throw err;
    }
  }

  /** Where a symlink finally points (`readlink -f`: the last component need not exist). */
  private async linkTarget(path: string): Promise<string> {
    const res = await this.execText(`readlink -f -- ${shellQuote(path)}`, { become: false });
    const target = res.stdout.trim();
    if (res.rc !== 0 || !target.startsWith('/')) throw new KcarunError('E_TASK', `${this.host}: ${path} is a symlink whose target cannot be resolved: ${res.stderr.trim()}`, { host: this.host });
    return target;
  }

  private async writeChunks(handle: Buffer, buf: Buffer, what: string): Promise<void> {
    const chunk = 32 * 1024;
    const window = 16;
    let next = 0;
    const worker = async () => {
      while (next < buf.length) {
        const offset = next;
        next += chunk;
        const len = Math.min(chunk, buf.length - offset);
        await this.sftpOp<void>(`write of ${what}`, (sftp, cb) => sftp.write(handle, buf, offset, len, offset, (err) => cb(err)));
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
  }

  /**
   * With sudo, SFTP runs as the login user and cannot write root's files, so the data goes on
   * stdin to a root shell that does the same steps: private temp file, owner/mode, fsync, rename.
   */
  private async writeFileWithSudo(path: string, tmp: string, buf: Buffer, mode: number | undefined, ownerSpec: string | undefined): Promise<void> {
    const script = [
      'set -e',
      'umask 077',
      't=$1; p=$2; m=$3; o=$4; sum=$5',
      // A symlink is written through to its target, and stays a link (docs/security.md).
      'if [ -L "$p" ]; then p=$(readlink -f -- "$p"); t=$(dirname -- "$p")/$(basename -- "$t"); fi',
      `trap 'rm -f -- "$t"' EXIT`,
      'cat > "$t"',
      // A cut connection ends stdin early and cat exits 0: only complete data may be renamed in.
      'printf \'%s  %s\\n\' "$sum" "$t" | sha256sum -c --status -',
      'if [ -e "$p" ]; then chown --reference="$p" -- "$t"; if [ -z "$m" ]; then chmod --reference="$p" -- "$t"; fi; fi',
      'if [ -n "$o" ]; then chown -- "$o" "$t"; fi',
      'if [ -n "$m" ]; then chmod -- "$m" "$t"; elif [ ! -e "$p" ]; then chmod 644 -- "$t"; fi',
      'sync -- "$t"',
      'mv -f -- "$t" "$p"',
      'sync -- "$(dirname -- "$p")" || true',
    ].join('\n');
    const modeArg = mode !== undefined ? mode.toString(8) : '';
    const sum = createHash('sha256').update(buf).digest('hex');
    const command = `sh -c ${shellQuote(script)} sh ${shellJoin([tmp, path, modeArg, ownerSpec ?? '', sum])}`;
    const res = await this.execer.exec(command, { become: true, stdin: buf });
    if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: cannot write ${path}: ${res.stderr.toString('utf8').trim()}`, { host: this.host });
  }
}
