import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import type { HostInfo, TaskLogger } from '../core/types.js';
import { SshBecome } from './ssh-become.js';
import type { SshTarget } from './ssh-config.js';
import { SshConnection } from './ssh-connection.js';
import { SshExec } from './ssh-exec.js';
import { SshFiles } from './ssh-files.js';
import type { ExecOptions, ExecResult, FileStat, Transport, WriteFileOptions } from './types.js';

export { MAX_EXEC_CHANNELS } from './ssh-connection.js';

/**
 * One host over one SSH connection, shared by every task of a run: the Transport made of the
 * connection (ssh-connection.ts), sudo (ssh-become.ts), commands (ssh-exec.ts) and files
 * (ssh-files.ts). Reconnects lazily (with the pool's retries) when the connection was lost; a
 * command that was running when it was lost fails with E_UNREACHABLE, never E_REMOTE_EXIT.
 */
export class SshTransport implements Transport {
  readonly host: string;
  private readonly conn: SshConnection;
  private readonly become: SshBecome;
  private readonly execer: SshExec;
  private readonly files: SshFiles;

  constructor(
    readonly info: HostInfo,
    readonly target: SshTarget,
    dial: () => Promise<Client>,
    log: TaskLogger | undefined,
    /** Where the sudo password variable (`becomePasswordEnv`) is looked up. */
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.host = info.name;
    this.conn = new SshConnection(info.name, dial, log);
    this.become = new SshBecome(info, target, env, (line, stdin, shown) => this.execer.probe(line, stdin, shown));
    this.execer = new SshExec(this.conn, this.become, log);
    this.files = new SshFiles(this.conn, this.execer, this.become, target.user);
  }

  /** Opens the connection now (the pool calls it so that get() reports unreachable hosts). */
  async connect(): Promise<void> {
    await this.conn.get();
  }

  /** A TCP stream to address:port opened by the host (for a host that uses this one as jump host). */
  forwardOut(address: string, port: number): Promise<Duplex> {
    return this.conn.forwardOut(address, port);
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const res = await this.execer.exec(command, options);
    return { stdout: res.stdout.toString('utf8'), stderr: res.stderr.toString('utf8'), rc: res.rc };
  }

  directFileAccess(options: { become?: boolean } = {}): boolean {
    return !this.become.applies(options.become);
  }

  readFile(path: string, options: { become?: boolean } = {}): Promise<Buffer> {
    return this.files.readFile(path, options);
  }

  stat(path: string, options: { become?: boolean } = {}): Promise<FileStat | null> {
    return this.files.stat(path, options);
  }

  writeFile(path: string, data: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    return this.files.writeFile(path, data, options);
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
