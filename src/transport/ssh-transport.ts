import { createHash, randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, SFTPWrapper, Stats } from 'ssh2';
import { retry } from '../core/async.js';
import { KcarunError } from '../core/errors.js';
import { shellJoin, shellQuote } from '../core/shell.js';
import type { HostInfo, TaskLogger } from '../core/types.js';
import { Limiter } from './ssh-limiter.js';
import type { SshTarget } from './ssh-config.js';
import type { ExecOptions, ExecResult, FileStat, Transport, WriteFileOptions } from './types.js';

/** sshd's MaxSessions is 10 by default; one is kept for the SFTP channel, one spare. */
export const MAX_EXEC_CHANNELS = 8;

type BecomeMode = 'nopasswd' | 'password';

const PGID_MARK = 'KCARUN_PGID=';

interface RawResult {
  stdout: Buffer;
  stderr: Buffer;
  rc: number;
}

/**
 * One host over one SSH connection, shared by every task of a run. Reconnects lazily (with the
 * pool's retries) when the connection was lost; a command that was running when it was lost fails
 * with E_UNREACHABLE, never E_REMOTE_EXIT.
 */
export class SshTransport implements Transport {
  readonly host: string;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private becomeMode: Promise<BecomeMode> | undefined;
  private readonly channels = new Limiter(MAX_EXEC_CHANNELS);
  /** Rejecters of in-flight operations, called when the connection drops. */
  private readonly inFlight = new Set<(err: KcarunError) => void>();
  private closed = false;

  constructor(
    readonly info: HostInfo,
    readonly target: SshTarget,
    private readonly dial: () => Promise<Client>,
    private readonly log?: TaskLogger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.host = info.name;
  }

  /** Opens the connection now (the pool calls it so that get() reports unreachable hosts). */
  async connect(): Promise<void> {
    await this.connection();
  }

  private connection(): Promise<Client> {
    if (this.closed) return Promise.reject(new KcarunError('E_UNREACHABLE', `${this.host}: transport already closed`, { host: this.host }));
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = this.dial().then(
        (client) => {
          this.client = client;
          this.connecting = undefined;
          const lost = (why: string) => {
            if (this.client !== client) return;
            this.client = undefined;
            this.sftpSession = undefined;
            const err = new KcarunError('E_UNREACHABLE', `${this.host}: connection lost (${why})`, { host: this.host });
            for (const reject of [...this.inFlight]) reject(err);
            if (!this.closed) this.log?.warn(`${this.host}: SSH connection lost (${why})`);
          };
          client.on('error', (err: Error) => lost(err.message));
          client.on('close', () => lost('closed by the server or the network'));
          return client;
        },
        (err: unknown) => {
          this.connecting = undefined;
          throw err;
        },
      );
    }
    return this.connecting;
  }

  /** A TCP stream to address:port opened by the host (for a host that uses this one as jump host). */
  async forwardOut(address: string, port: number): Promise<Duplex> {
    const client = await this.connection();
    return new Promise((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, address, port, (err, stream) => {
        if (err) reject(new KcarunError('E_UNREACHABLE', `${this.host}: jump host cannot reach ${address}:${port}: ${err.message}`, { host: this.host, transient: true }, { cause: err }));
        else resolve(stream);
      });
    });
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const res = await this.execRaw(command, options);
    return { stdout: res.stdout.toString('utf8'), stderr: res.stderr.toString('utf8'), rc: res.rc };
  }

  directFileAccess(options: { become?: boolean } = {}): boolean {
    return !this.becomeApplies(options.become);
  }

  private becomeApplies(become: boolean | undefined): boolean {
    return (become ?? this.info.become) && this.target.user !== 'root';
  }

  /** The command line sshd runs, with env/cwd quoted, and sudo around it when `become` applies. */
  private async commandLine(command: string, options: ExecOptions): Promise<{ line: string; stdin: Buffer }> {
    let script = '';
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new KcarunError('E_TASK', `${this.host}: invalid environment variable name ${JSON.stringify(name)}`, { host: this.host });
      }
      script += `export ${name}=${shellQuote(value)}\n`;
    }
    if (options.cwd !== undefined) script += `cd -- ${shellQuote(options.cwd)} || exit 125\n`;
    script += command;
    const stdin = typeof options.stdin === 'string' ? Buffer.from(options.stdin) : (options.stdin ?? Buffer.alloc(0));
    if (!this.becomeApplies(options.become)) return { line: script, stdin };
    const mode = await this.sudoMode();
    if (mode === 'nopasswd') return { line: `sudo -n -- sh -c ${shellQuote(script)}`, stdin };
    // -k: never use cached credentials, so sudo always reads (consumes) the password line first and
    // the command only ever sees its own stdin. -p '': no prompt on stderr.
    return { line: `sudo -k -S -p '' -- sh -c ${shellQuote(script)}`, stdin: Buffer.concat([this.sudoPassword(), stdin]) };
  }

  private sudoPassword(): Buffer {
    const name = this.info.becomePasswordEnv;
    const value = name ? this.env[name] : undefined;
    if (!name || value === undefined) {
      throw new KcarunError(
        'E_AUTH',
        `${this.host}: sudo needs a password for ${this.target.user}; set the inventory's becomePasswordEnv to the name of an environment variable holding it${name ? ` (${name} is not set)` : ''}`,
        { host: this.host },
      );
    }
    return Buffer.from(`${value}\n`);
  }

  /** Probed once per host: passwordless sudo, or sudo with the password from the environment. */
  private sudoMode(): Promise<BecomeMode> {
    if (!this.becomeMode) {
      this.becomeMode = (async (): Promise<BecomeMode> => {
        const client = await this.connection();
        const probe = await this.channels.run(() => this.runChannel(client, 'sudo -n true', Buffer.alloc(0), {}, 'sudo -n true'));
        if (probe.rc === 0) return 'nopasswd';
        const password = this.sudoPassword();
        const check = await this.channels.run(() => this.runChannel(client, `sudo -k -S -p '' true`, password, {}, 'sudo -S true'));
        if (check.rc === 0) return 'password';
        throw new KcarunError(
          'E_AUTH',
          `${this.host}: sudo refused ${this.target.user} with the password from ${this.info.becomePasswordEnv}: ${check.stderr.toString('utf8').trim().split('\n').slice(-2).join(' ')}`,
          { host: this.host },
        );
      })();
      this.becomeMode.catch(() => (this.becomeMode = undefined));
    }
    return this.becomeMode;
  }

  private async execRaw(command: string, options: ExecOptions): Promise<RawResult> {
    const { line, stdin } = await this.commandLine(command, options);
    const client = await this.connection();
    // The login shell prints its pid first: sshd made it a session (and process group) leader, so a
    // timeout can kill the whole pipeline (sudo included), not just the shell.
    const tracked = `echo "${PGID_MARK}$$" >&2; ${line}`;
    return this.channels.run(async () => {
      // sshd may still be tearing down a just-closed session when the next one opens (MaxSessions);
      // the command never started, so trying again is safe.
      return retry(() => this.runChannel(client, tracked, stdin, options, command, options.become), {
        retries: 3,
        delayMs: 100,
        factor: 2,
        retryIf: (err) => err instanceof KcarunError && err.context.channelOpenFailed === true,
        onRetry: (err) => this.log?.debug(`${this.host}: ${(err as Error).message}; retrying`),
      });
    });
  }

  /** TERM then KILL to a command's process tree, as root when the command ran through sudo. */
  private async killGroup(pgid: number, become: boolean | undefined): Promise<void> {
    try {
      // The whole process tree below the session's shell: sudo (with Debian's use_pty) runs the
      // command in a session of its own, so killing the process group alone would miss it.
      const script = [
        `tree() { for c in $(ps -o pid= --ppid "$1"); do tree "$c"; echo "$c"; done; }`,
        `pids="$(tree ${pgid}) ${pgid}"`,
        'kill -TERM $pids 2>/dev/null; sleep 0.3; kill -KILL $pids 2>/dev/null; true',
      ].join('\n');
      const { line, stdin } = await this.commandLine(script, { become });
      const client = await this.connection();
      // Outside the channel limit: the slots may all be held by commands waiting to be killed.
      await this.runChannel(client, line, stdin, { timeoutMs: 10_000 }, 'kill');
    } catch (err) {
      this.log?.warn(`${this.host}: could not kill process group ${pgid}: ${(err as Error).message}`);
    }
  }

  private runChannel(
    client: Client,
    line: string,
    stdin: Buffer,
    options: ExecOptions,
    shownCommand: string,
    /** Set when `line` starts with the process-group marker (see execRaw); the value is `become`. */
    trackedBecome?: boolean | undefined,
  ): Promise<RawResult> {
    const tracked = arguments.length >= 6;
    return new Promise<RawResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let pgid: number | undefined;
      let killedWith: KcarunError | undefined;
      let head: Buffer | undefined = tracked ? Buffer.alloc(0) : undefined;
      const onStderr = (d: Buffer) => {
        if (!head) return void stderr.push(d);
        head = Buffer.concat([head, d]);
        const nl = head.indexOf(10);
        if (nl < 0) return;
        const first = head.subarray(0, nl).toString('latin1');
        if (first.startsWith(PGID_MARK)) pgid = Number(first.slice(PGID_MARK.length));
        else stderr.push(head.subarray(0, nl + 1));
        stderr.push(head.subarray(nl + 1));
        head = undefined;
      };
      let rc: number | undefined;
      let settled = false;
      let channel: ClientChannel | undefined;
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(onLost);
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onLost = (err: KcarunError) => finish(() => reject(new KcarunError('E_UNREACHABLE', `${err.message} while running: ${shownCommand}`, { host: this.host, command: shownCommand })));
      // Signal the remote command, close the channel, and wait briefly for the close so the
      // channel slot is really free before the next command takes it.
      const kill = (err: KcarunError) => {
        if (!channel) return finish(() => reject(err));
        const ch = channel;
        if (killedWith) return;
        killedWith = err;
        if (pgid) void this.killGroup(pgid, trackedBecome);
        try {
          ch.signal('KILL');
        } catch {
          /* the channel may be gone */
        }
        ch.close();
        const giveUp = setTimeout(() => finish(() => reject(err)), 2000);
        ch.once('close', () => {
          clearTimeout(giveUp);
          finish(() => reject(err));
        });
      };
      const onAbort = () => kill(new KcarunError('E_INTERRUPTED', `${this.host}: interrupted while running: ${shownCommand}`, { host: this.host, command: shownCommand }));
      this.inFlight.add(onLost);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () => kill(new KcarunError('E_TIMEOUT', `${this.host}: command timed out after ${options.timeoutMs} ms: ${shownCommand}`, { host: this.host, command: shownCommand })),
          options.timeoutMs,
        );
      }
      client.exec(line, (err, ch) => {
        if (err) {
          return finish(() =>
            reject(
              this.client === client
                ? new KcarunError('E_TASK', `${this.host}: cannot open a session channel: ${err.message}`, { host: this.host, command: shownCommand, channelOpenFailed: true }, { cause: err })
                : new KcarunError('E_UNREACHABLE', `${this.host}: connection lost before running: ${shownCommand}`, { host: this.host, command: shownCommand }),
            ),
          );
        }
        channel = ch;
        if (settled) {
          ch.close();
          return;
        }
        ch.on('data', (d: Buffer) => stdout.push(d));
        ch.stderr.on('data', onStderr);
        ch.on('exit', (code: number | null, signalName?: string) => {
          if (typeof code === 'number') rc = code;
          // ssh2 reports `SIGTERM`; OpenSSH sends the bare name.
          else if (signalName) rc = 128 + (osConstants.signals[(signalName.startsWith('SIG') ? signalName : `SIG${signalName}`) as NodeJS.Signals] ?? 1);
        });
        ch.on('close', () => {
          if (head?.length) stderr.push(head);
          finish(() => {
            if (killedWith) {
              reject(killedWith);
            } else if (rc === undefined) {
              reject(new KcarunError('E_UNREACHABLE', `${this.host}: the session ended without an exit status (connection lost?) while running: ${shownCommand}`, { host: this.host, command: shownCommand }));
            } else {
              resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), rc });
            }
          });
        });
        ch.on('error', () => {
          /* reported through 'close' */
        });
        ch.end(stdin);
      });
    });
  }

  // ---- files ----

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      const session = this.connection().then(
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
          this.inFlight.add(onLost);
          fn(sftp, (err, value) => {
            this.inFlight.delete(onLost);
            if (settled) return;
            settled = true;
            if (err) {
              const code = (err as Error & { code?: number }).code;
              const e = this.client
                ? new KcarunError('E_TASK', `${this.host}: ${what} failed: ${err.message}`, { host: this.host, sftpCode: code }, { cause: err })
                : new KcarunError('E_UNREACHABLE', `${this.host}: connection lost during ${what}`, { host: this.host });
              reject(e);
            } else resolve(value as T);
          });
        }),
    );
  }

  async readFile(path: string, options: { become?: boolean } = {}): Promise<Buffer> {
    if (this.becomeApplies(options.become)) {
      const res = await this.execRaw(`cat -- ${shellQuote(path)}`, { become: true });
      if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: cannot read ${path}: ${res.stderr.toString('utf8').trim()}`, { host: this.host });
      return res.stdout;
    }
    return this.sftpOp<Buffer>(`read of ${path}`, (sftp, cb) => sftp.readFile(path, (err, data) => cb(err, data)));
  }

  async stat(path: string, options: { become?: boolean } = {}): Promise<FileStat | null> {
    if (this.becomeApplies(options.become)) {
      // %f: raw mode in hex (type and permission bits); -L follows symlinks like SFTP stat.
      const res = await this.exec(`stat -L -c '%s %f %u %g %Y' -- ${shellQuote(path)}`, { become: true });
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
    if (this.becomeApplies(options.become)) return this.writeFileWithSudo(path, tmp, buf, options.mode, ownerSpec);
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
    const [existingResult, openResult] = await Promise.allSettled([this.stat(path, { become: false }), opened]);
    let handle = openResult.status === 'fulfilled' ? openResult.value : undefined;
    try {
      if (openResult.status === 'rejected') throw openResult.reason;
      if (existingResult.status === 'rejected') throw existingResult.reason;
      const existing = existingResult.value;
      const finalMode = mode ?? existing?.mode ?? 0o644;
      const h = handle!;
      await this.writeChunks(h, buf, tmp);
      const finishing: Promise<void>[] = [this.sftpOp<void>(`fsync of ${tmp}`, (sftp, cb) => sftp.ext_openssh_fsync(h, (err) => cb(err)))];
      if (existing && ownerSpec === undefined && this.target.user === 'root') {
        finishing.push(this.sftpOp<void>(`chown of ${tmp}`, (sftp, cb) => sftp.fchown(h, existing.uid, existing.gid, (err) => cb(err))));
      }
      finishing.push(this.sftpOp<void>(`chmod of ${tmp}`, (sftp, cb) => sftp.fchmod(h, finalMode, (err) => cb(err))));
      const closed = this.sftpOp<void>(`close of ${tmp}`, (sftp, cb) => sftp.close(h, (err) => cb(err)));
      const settled = await Promise.allSettled([...finishing, closed]);
      if (settled[settled.length - 1]!.status === 'fulfilled') handle = undefined;
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (ownerSpec !== undefined) {
        const res = await this.exec(`chown ${shellJoin([ownerSpec, '--', tmp])}`, { become: false });
        if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: chown ${ownerSpec} ${path} failed: ${res.stderr.trim()}`, { host: this.host });
      }
      await this.sftpOp<void>(`rename to ${path}`, (sftp, cb) => sftp.ext_openssh_rename(tmp, path, (err) => cb(err)));
    } catch (err) {
      if (this.client) {
        const h = handle;
        if (h) await this.sftpOp<void>('close', (sftp, cb) => sftp.close(h, (e) => cb(e))).catch(() => {});
        // Only a temp file this call created is removed (open with 'wx' refuses an existing one).
        if (openResult.status === 'fulfilled') await this.sftpOp<void>('unlink', (sftp, cb) => sftp.unlink(tmp, (e) => cb(e))).catch(() => {});
      }
      throw err;
    }
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
    const res = await this.execRaw(command, { become: true, stdin: buf });
    if (res.rc !== 0) throw new KcarunError('E_TASK', `${this.host}: cannot write ${path}: ${res.stderr.toString('utf8').trim()}`, { host: this.host });
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      client.end();
    });
  }
}
