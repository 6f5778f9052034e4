/** Environment variables as the CLI received them; the only source of env below src/cli.ts. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * What a command may touch of the outside world. src/cli.ts is the only file that touches
 * `process` and builds the real one; tests build their own. Everything below the commands takes
 * these values as arguments (cwd, env, pid, clock, output) instead of reading globals.
 */
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stdout is a terminal (and CI is not set): live task list and confirmation prompts. */
  interactive: boolean;
  /** Passphrase and sudo-password variables, SSH_AUTH_SOCK, and the environment of local commands. */
  env: Env;
  cwd: string;
  /** This process's id, recorded in the run lock and the journal. */
  pid: number;
  /** Whether a process with this id exists on this host (a stale run lock is taken over). */
  isRunning(pid: number): boolean;
  /** The clock in epoch milliseconds (default Date.now); tests pass their own. */
  now?: () => number;
  /** Asks a yes/no question on the terminal; false when there is none. */
  confirm(question: string): Promise<boolean>;
  /** Called with a handler for SIGINT/SIGTERM; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
}
