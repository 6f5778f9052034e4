/**
 * What a task can do on a host. Tasks only ever see this interface: src/transport/local.ts runs on
 * the operator machine, src/transport/ssh.ts on a remote host over one reused SSH connection.
 */
export interface ExecOptions {
  /** Working directory (quoted by the transport). */
  cwd?: string;
  /** Extra environment variables (names must be valid identifiers; values are quoted). */
  env?: Record<string, string>;
  /** Data written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Run as root through sudo when the connection user is not root (see inventory `become`). */
  become?: boolean;
  /** Kill the command and fail with E_TIMEOUT after this many milliseconds. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; a command killed by a signal reports 128 + signal number. */
  rc: number;
}

export interface FileStat {
  size: number;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  isFile: boolean;
  isDirectory: boolean;
}

export interface WriteFileOptions {
  /** Permission bits; defaults to 0o644, or the existing file's mode when it exists. */
  mode?: number;
  /** Owner user and group names or ids; unchanged when omitted. */
  owner?: string;
  group?: string;
  become?: boolean;
}

export interface Transport {
  /** The inventory name of the host ("local" for the operator machine). */
  readonly host: string;
  /**
   * Runs a shell command line. The caller builds it with shellQuote()/shellJoin() for every value
   * that comes from an inventory or vars; the transport never interpolates anything itself.
   * Resolves with the exit code (does not throw on non-zero); rejects on connection loss
   * (E_UNREACHABLE) and timeout (E_TIMEOUT).
   */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Reads a whole file; rejects with E_TASK when it does not exist. */
  readFile(path: string, options?: { become?: boolean }): Promise<Buffer>;
  /**
   * Writes a whole file atomically: a temp file in the same directory, fsync, chmod/chown, rename.
   * A reader sees the old content or the new one, never a partial file.
   */
  writeFile(path: string, data: string | Buffer, options?: WriteFileOptions): Promise<void>;
  /** null when the path does not exist. */
  stat(path: string, options?: { become?: boolean }): Promise<FileStat | null>;
  /**
   * Whether stat/readFile/writeFile reach the file directly (local file system, SFTP) rather than
   * through a command on the host (sudo): then a few file operations are cheaper for the host
   * than starting a shell.
   */
  directFileAccess(options?: { become?: boolean }): boolean;
  close(): Promise<void>;
  /**
   * Only a dry run's view of a host has it: the bytes a planned step would write at `path` (null:
   * known only once that step ran), or undefined when no planned step writes it. Lets a check that
   * normally runs on the host (a key compared by the host's openssl) check the predicted file instead.
   */
  predicted?(path: string): Buffer | null | undefined;
}
