/**
 * The shapes every layer shares: a host as the run resolved it, how to reach it, the run's state
 * dir as tasks see it, and the logger tasks write to. Types only: core imports nothing of ours.
 */

/** A host as the runner resolved it from the inventory ("local" is the operator machine). */
export interface HostInfo {
  name: string;
  address: string;
  port: number;
  user: string;
  groups: string[];
  /** The host's merged vars (playbook < inventory < groups < host < -e). */
  vars: Record<string, unknown>;
  /** How to reach it (inventory `defaults.ssh` merged with the host's `ssh`). */
  ssh: SshSettings;
  /** `ssh` (default), or `local`: the host is this machine, its tasks run without SSH. */
  connection?: 'ssh' | 'local';
  /** Run commands and file writes as root through sudo (inventory `become`). */
  become: boolean;
  /** Name of the environment variable holding the sudo password, when sudo needs one. */
  becomePasswordEnv?: string;
}

export interface SshSettings {
  identityFile?: string;
  /** Name of the environment variable holding the identity file's passphrase. */
  identityPassphraseEnv?: string;
  /** OpenSSH known_hosts file used to verify host keys (default ~/.ssh/known_hosts). */
  knownHostsFile?: string;
  /** A jump host: an inventory host name, or `[user@]host[:port]` (like ProxyJump). */
  proxyJump?: string;
  connectTimeoutSeconds?: number;
  /** Use ssh-agent (SSH_AUTH_SOCK) when set; default true when SSH_AUTH_SOCK exists. */
  useAgent?: boolean;
}

/** Files a run keeps beside the inventory (default `.kcarun/`), see src/engine/state-dir.ts. */
export interface RunState {
  /** The state directory (0700). */
  readonly dir: string;
  /**
   * Set in a dry run: `dir` is then a throwaway copy of the real state dir (`realDir`), removed when
   * the dry run ends, so a task's plan may make artifacts in it for real.
   */
  readonly scratch?: { realDir: string };
  /** Absolute path of an artifact, e.g. artifact('ca/etcd-ca.crt') or artifact('hosts/cp1/apiserver.crt'). */
  artifactPath(relPath: string): string;
  /** Writes an artifact atomically (temp, fsync, rename); keys must pass mode 0o600. */
  writeArtifact(relPath: string, data: string | Buffer, options?: { mode?: number }): Promise<string>;
  /** null when it does not exist. */
  readArtifact(relPath: string): Promise<Buffer | null>;
  /**
   * Who holds the run lock of this state dir when it is not this run (a concurrent run, or a
   * stale lock); null when the lock is free or ours. See src/engine/lock.ts.
   */
  otherLockHolder(): Promise<LockHolder | null>;
  /** Encrypts the CA keys stored in artifacts/ (KCARUN_CA_PASSPHRASE, read once by the CLI); undefined: stored in clear. */
  readonly caPassphrase: string | undefined;
  /** Directory for backups of this step's host (created on demand), e.g. .kcarun/backups/<host>/. */
  backupDir(host: string): Promise<string>;
  /**
   * Outputs of every completed step the journals of this state dir recorded (this run's and earlier
   * runs' in runs/): what kcarun itself made, to tell it from something placed there by hand.
   * Absent in test doubles that keep no journal.
   */
  recordedStepOutputs?(): Promise<Record<string, unknown>[]>;
}

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** The content of a state dir's `lock` file: who runs, where, since when. */
export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}
