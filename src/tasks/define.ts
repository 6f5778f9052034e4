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
