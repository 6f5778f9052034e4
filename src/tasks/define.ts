import type { Static, TSchema } from '@sinclair/typebox';
import type { HostInfo, RunState, TaskLogger } from '../core/types.js';
import type { Transport } from '../transport/types.js';

export type { HostInfo, RunState, SshSettings, TaskLogger } from '../core/types.js';

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
  /**
   * The run's id (`{{ run.id }}`): the same through every --resume of one run, new for a new run
   * (engine/run.ts rotationId). Absent where no run exists (a task called directly).
   */
  runId?: string;
  /**
   * Paths of this host's files that its earlier steps of the current stage changed (this run's, and
   * on --resume the journal's; steps delegated to another host excluded). A static-pod restart uses
   * it to tell a manifest the kubelet acts on by itself from one it must restart for (issue 19).
   * Empty in a dry run and in rollback.
   */
  changedInStage: readonly string[];
  /** Opens (or reuses) the transport of another inventory host, e.g. to probe all etcd members. */
  transportFor(hostName: string): Promise<Transport>;
  /** Every host of the inventory, by name. */
  inventoryHosts: ReadonlyMap<string, HostInfo>;
  /**
   * The run's --forks (a whole number >= 1): how many hosts a task that itself works on several
   * hosts (preflight) may work on at once, as the engine does within a batch.
   */
  forks: number;
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
  /** Host files this step changed (paths only): the run report lists them per host. */
  files?: string[];
}

/**
 * What a task would do, for --dry-run. It must not change anything on any host. In a dry run the
 * context's state is a throwaway copy of the state dir (`state.scratch`): a task that only makes
 * artifacts makes them there for real, so later steps plan against the real predicted bytes; and
 * its transport reads host files as this dry run predicts them (earlier planned writes included).
 */
export interface TaskPlan {
  changed: boolean;
  summary: string;
  diff?: string;
  commands?: string[];
  /**
   * The output the step would register, as run() shapes it: real where the plan ran the read-only
   * work, with a visible placeholder (see unknownUntilRun) where a value exists only after the run.
   */
  output?: Record<string, unknown>;
  /** Host files the step would write, with their predicted content: later steps read them so. */
  files?: PlannedFile[];
  /** Components the step would restart. */
  restarts?: PlannedRestart[];
  /** A health gate the step would wait for (it is not run: it follows a planned change). */
  gate?: string;
}

export interface PlannedFile {
  path: string;
  /** The host the file is on (the step's, or its delegate's): filled in by the engine. */
  host?: string;
  kind: 'create' | 'modify' | 'mode' | 'delete';
  /** The predicted bytes; null when they cannot be known before the run (a command makes them). */
  content: Buffer | null;
  mode?: number;
  /** Lines added and removed (text files), or certificates/keys for PEM files. */
  added?: number;
  removed?: number;
}

export interface PlannedRestart {
  /** What restarts: a systemd unit, a static pod's container, or a command. */
  component: string;
  how: string;
}

/** A value that only the run itself can tell (a command's stdout, a backup's name): shown as is. */
export function unknownUntilRun(what: string): string {
  return `<unknown until the run: ${what}>`;
}

/** Whether a value is (or holds) such a placeholder. */
export function isUnknownUntilRun(value: unknown): boolean {
  return typeof value === 'string' && value.includes('<unknown until the run: ');
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
