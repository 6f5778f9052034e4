import type { Static, TSchema } from '@sinclair/typebox';
import type { Transport } from '../transport/types.js';

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

/** Files a run keeps beside the inventory (default `.kcarun/`), see src/runner/state-dir.ts. */
export interface RunState {
  /** The state directory (0700). */
  readonly dir: string;
  /** Absolute path of an artifact, e.g. artifact('ca/etcd-ca.crt') or artifact('hosts/cp1/apiserver.crt'). */
  artifactPath(relPath: string): string;
  /** Writes an artifact atomically (temp, fsync, rename); keys must pass mode 0o600. */
  writeArtifact(relPath: string, data: string | Buffer, options?: { mode?: number }): Promise<string>;
  /** null when it does not exist. */
  readArtifact(relPath: string): Promise<Buffer | null>;
  /** Directory for backups of this step's host (created on demand), e.g. .kcarun/backups/<host>/. */
  backupDir(host: string): Promise<string>;
}

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface TaskContext<P> {
  /** The task's `with` params, templated and validated against the task type's schema. */
  params: P;
  host: HostInfo;
  transport: Transport;
  state: RunState;
  log: TaskLogger;
  /** Aborted on timeout or SIGINT: long waits must honour it. */
  signal: AbortSignal;
  /** Stable id of this step: `<stage>/<task index>/<host>`, usable in backup file names. */
  stepId: string;
  /** Opens (or reuses) the transport of another inventory host, e.g. to probe all etcd members. */
  transportFor(hostName: string): Promise<Transport>;
  /** Every host of the inventory, by name. */
  inventoryHosts: ReadonlyMap<string, HostInfo>;
  /** Evaluates an expression (the `when:` language) against this host's vars and registered results. */
  evaluate(expression: string): Promise<unknown>;
}

export interface TaskOutcome {
  changed: boolean;
  /** Stored under the task's `register:` name; must be JSON-serialisable and hold no secrets. */
  output?: Record<string, unknown>;
  /** What rollback() needs to undo this step; kept in the journal, so JSON and no secrets. */
  undo?: unknown;
  /** One line for the task list. */
  summary?: string;
  /** Unified diff of a changed file, for --diff and dry-run output. */
  diff?: string;
}

/** What a task would do, for --dry-run. It must not change anything on any host. */
export interface TaskPlan {
  changed: boolean;
  summary: string;
  diff?: string;
  commands?: string[];
}

export interface TaskDefinition<S extends TSchema = TSchema> {
  /** The `type:` users write in a playbook. */
  type: string;
  description: string;
  /** JSON Schema (TypeBox) of the `with:` params; the TypeScript type is derived from it. */
  schema: S;
  run(ctx: TaskContext<Static<S>>): Promise<TaskOutcome>;
  /** Without it, --dry-run reports "would run" and does not call run(). */
  dryRun?(ctx: TaskContext<Static<S>>): Promise<TaskPlan>;
  /** Undoes a completed step, from the `undo` its run() returned. Must be safe to repeat. */
  rollback?(ctx: TaskContext<Static<S>>, undo: unknown): Promise<void>;
}

/** Returns its input: it only exists so TypeScript infers the params type from the schema. */
export function defineTask<S extends TSchema>(definition: TaskDefinition<S>): TaskDefinition<S> {
  return definition;
}

/** Finds the current leader among a stage's hosts, for `order: leader-last`. */
export interface LeaderProbeDefinition<S extends TSchema = TSchema> {
  type: string;
  description: string;
  schema: S;
  /** Returns the leader's inventory host name, or null when there is none among `hosts`. */
  findLeader(ctx: LeaderProbeContext<Static<S>>): Promise<string | null>;
}

export interface LeaderProbeContext<P> {
  params: P;
  hosts: HostInfo[];
  transportFor(hostName: string): Promise<Transport>;
  state: RunState;
  log: TaskLogger;
  signal: AbortSignal;
}

export function defineLeaderProbe<S extends TSchema>(definition: LeaderProbeDefinition<S>): LeaderProbeDefinition<S> {
  return definition;
}
