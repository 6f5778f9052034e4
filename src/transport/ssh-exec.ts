import { constants as osConstants } from 'node:os';
import type { Client, ClientChannel } from 'ssh2';
import { retry } from '../core/async.js';
import { KcarunError } from '../core/errors.js';
import type { TaskLogger } from '../core/types.js';
import type { SshBecome } from './ssh-become.js';
import type { SshConnection } from './ssh-connection.js';
import type { ExecOptions } from './types.js';

const PGID_MARK = 'KCARUN_PGID=';

export interface RawResult {
  stdout: Buffer;
  stderr: Buffer;
  rc: number;
}

/**
 * Commands on one host: one exec channel each (at most MAX_EXEC_CHANNELS at once), retried when
 * sshd refuses the channel, killed as a whole process tree on timeout or abort.
 */
export class SshExec {
  constructor(
    private readonly conn: SshConnection,
    private readonly become: SshBecome,
    private readonly log?: TaskLogger,
  ) {}

  private get host(): string {
    return this.conn.host;
  }

  async exec(command: string, options: ExecOptions): Promise<RawResult> {
    const { line, stdin } = await this.become.commandLine(command, options);
    const client = await this.conn.get();
    // The login shell prints its pid first: sshd made it a session (and process group) leader, so a
    // timeout can kill the whole pipeline (sudo included), not just the shell.
    const tracked = `echo "${PGID_MARK}$$" >&2; ${line}`;
    const kill = (pgid: number) => void this.killGroup(pgid, options.become);
    return this.conn.channels(() =>
      // sshd may still be tearing down a just-closed session when the next one opens (MaxSessions);
      // the command never started, so trying again is safe.
      retry(() => runChannel(this.conn, client, tracked, stdin, options, command, kill), {
        retries: 3,
        delayMs: 100,
        factor: 2,
        retryIf: (err) => err instanceof KcarunError && err.context.channelOpenFailed === true,
        onRetry: (err) => this.log?.debug(`${this.host}: ${(err as Error).message}; retrying`),
      }),
    );
  }

  /** A command outside the process-group tracking, inside the channel limit (the sudo probes). */
  async probe(line: string, stdin: Buffer, shownCommand: string): Promise<RawResult> {
    const client = await this.conn.get();
    return this.conn.channels(() => runChannel(this.conn, client, line, stdin, {}, shownCommand));
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
      const { line, stdin } = await this.become.commandLine(script, { become });
      const client = await this.conn.get();
      // Outside the channel limit: the slots may all be held by commands waiting to be killed.
      await runChannel(this.conn, client, line, stdin, { timeoutMs: 10_000 }, 'kill');
    } catch (err) {
      this.log?.warn(`${this.host}: could not kill process group ${pgid}: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs one line on one exec channel and collects its output and exit code. With `killTree`, the
 * line starts with the process-group marker (see SshExec.exec): the marker line is taken off
 * stderr, and a timeout or abort kills that process tree through `killTree` as well as closing
 * the channel.
 */
function runChannel(
  conn: SshConnection,
  client: Client,
  line: string,
  stdin: Buffer,
  options: ExecOptions,
  shownCommand: string,
  killTree?: (pgid: number) => void,
): Promise<RawResult> {
  const host = conn.host;
  return new Promise<RawResult>((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let pgid: number | undefined;
    let killedWith: KcarunError | undefined;
    let head: Buffer | undefined = killTree ? Buffer.alloc(0) : undefined;
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
    let untrack = (): void => {};
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      untrack();
      options.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onLost = (err: KcarunError) => finish(() => reject(new KcarunError('E_UNREACHABLE', `${err.message} while running: ${shownCommand}`, { host, command: shownCommand })));
    // Signal the remote command, close the channel, and wait briefly for the close so the
    // channel slot is really free before the next command takes it.
    const kill = (err: KcarunError) => {
      if (!channel) return finish(() => reject(err));
      const ch = channel;
      if (killedWith) return;
      killedWith = err;
      if (pgid && killTree) killTree(pgid);
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
    const onAbort = () => kill(new KcarunError('E_INTERRUPTED', `${host}: interrupted while running: ${shownCommand}`, { host, command: shownCommand }));
    untrack = conn.track(onLost);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => kill(new KcarunError('E_TIMEOUT', `${host}: command timed out after ${options.timeoutMs} ms: ${shownCommand}`, { host, command: shownCommand })),
        options.timeoutMs,
      );
    }
    client.exec(line, (err, ch) => {
      if (err) {
        return finish(() =>
          reject(
            conn.client === client
              ? new KcarunError('E_TASK', `${host}: cannot open a session channel: ${err.message}`, { host, command: shownCommand, channelOpenFailed: true }, { cause: err })
              : new KcarunError('E_UNREACHABLE', `${host}: connection lost before running: ${shownCommand}`, { host, command: shownCommand }),
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
            reject(new KcarunError('E_UNREACHABLE', `${host}: the session ended without an exit status (connection lost?) while running: ${shownCommand}`, { host, command: shownCommand }));
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
