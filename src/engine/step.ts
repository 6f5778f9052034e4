import { retry, withDeadline } from '../core/async.js';
import { KcarunError } from '../core/errors.js';
import { schemaProblems } from '../formats/schema-check.js';
import type { RetriesSchema, RollbackTaskSpec, TaskSpec } from '../formats/playbook/schema.js';
import { evaluate, expressionVariables, isTrue, renderString, renderValue } from '../formats/template.js';
import { redactSecrets } from '../core/redact.js';
import type { HostInfo, RunState, TaskContext, TaskDefinition, TaskLogger, TaskOutcome, TaskPlan } from '../tasks/define.js';
import type { Static } from '@sinclair/typebox';
import type { TransportProvider } from './transports.js';
import type { DryRunWorld } from './dry-run.js';

export const DEFAULT_TASK_TIMEOUT_SECONDS = 600;

export interface StepInput {
  task: TaskSpec | RollbackTaskSpec;
  def: TaskDefinition;
  host: HostInfo;
  scope: Record<string, unknown>;
  stepId: string;
  state: RunState;
  transports: TransportProvider;
  inventoryHosts: ReadonlyMap<string, HostInfo>;
  /** The run's --forks, passed on as TaskContext.forks. */
  forks: number;
  log: TaskLogger;
  /** Aborted on a second SIGINT: tasks in flight stop now. */
  hardStop: AbortSignal;
  /** In a dry run: where planned changes are recorded (and later steps read them back). */
  dryRun?: { world: DryRunWorld; stage: string };
  /**
   * TaskContext.changedInStage, computed only if the task reads it (a scan of the journal: per step
   * it made a run quadratic in its host count); absent (rollback, dry run): none known.
   */
  changedInStage?: () => readonly string[];
}

/** A loop task whose `when` reads the loop variable: decided item by item. */
export function whenIsPerItem(task: { loop?: unknown; loopVar?: string; when?: string }): boolean {
  if (task.loop === undefined || !task.when) return false;
  return expressionVariables(task.when).includes(task.loopVar ?? 'item');
}

/** `when:` for one host; false skips the step. */
export function shouldRun(task: { when?: string }, scope: Record<string, unknown>, host: string): boolean {
  if (!task.when) return true;
  try {
    return isTrue(evaluate(task.when, scope));
  } catch (err) {
    throw withHost(err, host);
  }
}

/** Builds the task's context: params templated for this host and checked against the type's schema. */
export async function buildContext(input: StepInput, signal: AbortSignal): Promise<TaskContext<unknown>> {
  let params: unknown;
  try {
    params =
      typeof input.task.with === 'string'
        ? renderString(input.task.with, input.scope)
        : renderValue(input.task.with ?? {}, input.scope, input.def.schema);
  } catch (err) {
    throw withHost(err, input.host.name);
  }
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    throw new KcarunError('E_SCHEMA', `task "${input.task.name}": \`with\` must render to a mapping of params`, { host: input.host.name });
  }
  const problems = schemaProblems(input.def.schema, params);
  if (problems.length) {
    throw new KcarunError(
      'E_SCHEMA',
      `task "${input.task.name}": params after templating do not fit ${input.def.type}: ${problems.map((p) => p.message).join('; ')}`,
      { host: input.host.name },
    );
  }
  let transport;
  try {
    transport = await input.transports.get(input.task.delegateTo ? String(renderString(input.task.delegateTo, input.scope)) : input.host.name);
  } catch (err) {
    throw withHost(err, input.host.name);
  }
  let changedInStage: readonly string[] | undefined;
  const runId = (input.scope['run'] as { id?: unknown } | undefined)?.id;
  return {
    params,
    host: input.host,
    transport,
    state: input.state,
    log: input.log,
    signal,
    stepId: input.stepId,
    ...(typeof runId === 'string' ? { runId } : {}),
    get changedInStage() {
      return (changedInStage ??= input.changedInStage?.() ?? []);
    },
    transportFor: (name) => input.transports.get(name),
    inventoryHosts: input.inventoryHosts,
    forks: input.forks,
    evaluate: async (expression) => evaluate(expression, input.scope),
  };
}

/** The items of a `loop:` task for this host, or null for a task without a loop. */
function loopItems(input: StepInput): unknown[] | null {
  const loop = input.task.loop;
  if (loop === undefined) return null;
  let items: unknown;
  try {
    items = typeof loop === 'string' ? renderString(loop, input.scope) : renderValue(loop, input.scope);
  } catch (err) {
    throw withHost(err, input.host.name);
  }
  if (!Array.isArray(items)) throw new KcarunError('E_SCHEMA', `task "${input.task.name}": \`loop\` must render to a list`, { host: input.host.name });
  return items;
}

function withItem(input: StepInput, item: unknown, index: number): StepInput {
  return { ...input, scope: { ...input.scope, [input.task.loopVar ?? 'item']: item, loop_index: index } };
}

interface LoopUndo {
  loop: { item: unknown; index: number; undo: unknown }[];
}

function isLoopUndo(undo: unknown): undo is LoopUndo {
  return typeof undo === 'object' && undo !== null && Array.isArray((undo as LoopUndo).loop);
}

/**
 * Runs one task on one host: once, or once per `loop` item (in order, `when` checked per item).
 * The whole loop is one step of the journal; its undo keeps each item so rollback can undo them
 * newest first.
 */
export async function executeStep(input: StepInput): Promise<TaskOutcome> {
  const items = loopItems(input);
  if (!items) return executeOnce(input);
  const results: Record<string, unknown>[] = [];
  const undo: LoopUndo = { loop: [] };
  const files: string[] = [];
  let changed = 0;
  try {
    for (const [index, item] of items.entries()) {
      const sub = withItem(input, item, index);
      if (whenIsPerItem(input.task) && !shouldRun(input.task, sub.scope, input.host.name)) {
        results.push({ skipped: true });
        continue;
      }
      const outcome = await executeOnce(sub);
      results.push(outcome.output ?? {});
      if (outcome.undo !== undefined) undo.loop.push({ item, index, undo: outcome.undo });
      if (outcome.changed) changed++;
      files.push(...(outcome.files ?? []));
    }
  } catch (err) {
    // Items already done are undone here: the journal only learns of the step once it is whole.
    if (undo.loop.length) await undoStep(input, undo).catch(() => undefined);
    throw err;
  }
  return {
    changed: changed > 0,
    output: { results, changed: changed > 0 },
    undo: undo.loop.length ? undo : undefined,
    summary: `${items.length} item(s), ${changed} changed`,
    ...(files.length ? { files } : {}),
  };
}

/** One run of a task with its timeout and retries. A timeout aborts the task's signal and fails with E_TIMEOUT even if the task ignores the signal. */
async function executeOnce(input: StepInput): Promise<TaskOutcome> {
  const retries: Static<typeof RetriesSchema> = input.task.retries ?? { count: 0 };
  const timeoutMs = (input.task.timeout ?? DEFAULT_TASK_TIMEOUT_SECONDS) * 1000;
  try {
    return await retry(
      () =>
        withTimeout(timeoutMs, input.hardStop, async (signal) => {
          const ctx = await buildContext(input, signal);
          const outcome = await input.def.run(ctx as TaskContext<never>);
          return sanitize(outcome);
        }),
      {
        retries: retries.count,
        delayMs: (retries.delay ?? 1) * 1000,
        factor: retries.backoff ?? 2,
        retryIf: isRetryable,
        signal: input.hardStop,
        onRetry: (err, attempt, waitMs) =>
          input.log.warn(`attempt ${attempt}/${retries.count + 1} failed: ${(err as Error).message}; retrying in ${waitMs / 1000}s`),
      },
    );
  } catch (err) {
    throw withHost(err, input.host.name);
  }
}

/**
 * The dry-run counterpart of executeStep: the task's plan, once or per `loop` item (`when` per item),
 * with the output it would register shaped as executeStep shapes it. Each plan's files and restarts
 * go into the dry run's world before the next item plans, so an item reads what the one before it
 * would have written.
 */
export async function planStep(input: StepInput): Promise<TaskPlan> {
  const items = loopItems(input);
  if (!items) return planOnce(input);
  const plans: TaskPlan[] = [];
  const results: Record<string, unknown>[] = [];
  for (const [index, item] of items.entries()) {
    const sub = withItem(input, item, index);
    if (whenIsPerItem(input.task) && !shouldRun(input.task, sub.scope, input.host.name)) {
      results.push({ skipped: true });
      continue;
    }
    const plan = await planOnce(sub);
    plans.push(plan);
    results.push(plan.output ?? {});
  }
  const changed = plans.some((p) => p.changed);
  return {
    changed,
    summary: plans.map((p) => p.summary).join('; ') || 'no item to run',
    diff: plans.map((p) => p.diff).filter(Boolean).join('\n') || undefined,
    commands: plans.flatMap((p) => p.commands ?? []),
    output: { results, changed },
    files: plans.flatMap((p) => p.files ?? []),
    restarts: plans.flatMap((p) => p.restarts ?? []),
    gate: plans.map((p) => p.gate).filter(Boolean).join('; ') || undefined,
  };
}

/** One plan, under the task's timeout (a plan runs the read-only work for real: probes may hang). */
async function planOnce(input: StepInput): Promise<TaskPlan> {
  const timeoutMs = (input.task.timeout ?? DEFAULT_TASK_TIMEOUT_SECONDS) * 1000;
  return withTimeout(timeoutMs, input.hardStop, async (signal) => {
    const ctx = await buildContext(input, signal);
    const plan: TaskPlan = input.def.dryRun
      ? await input.def.dryRun(ctx as TaskContext<never>)
      : { changed: true, summary: `would run ${input.def.type} (no preview for this task type)` };
    const located = plan.files ? { ...plan, files: plan.files.map((f) => ({ ...f, host: ctx.transport.host })) } : plan;
    input.dryRun?.world.record({ stage: input.dryRun.stage, task: input.task.name, host: input.host.name }, ctx.transport.host, located);
    return located;
  });
}

export async function undoStep(input: StepInput, undo: unknown): Promise<'ok' | 'nothing-to-undo'> {
  if (!input.def.rollback || undo === undefined) return 'nothing-to-undo';
  if (isLoopUndo(undo)) {
    for (const entry of [...undo.loop].reverse()) await undoStep(withItem(input, entry.item, entry.index), entry.undo);
    return 'ok';
  }
  const timeoutMs = (input.task.timeout ?? DEFAULT_TASK_TIMEOUT_SECONDS) * 1000;
  await withTimeout(timeoutMs, input.hardStop, async (signal) => {
    const ctx = await buildContext(input, signal);
    await input.def.rollback!(ctx as TaskContext<never>, undo);
  });
  return 'ok';
}

function isRetryable(err: unknown): boolean {
  // Input errors will fail the same way again.
  return !(err instanceof KcarunError && ['E_SCHEMA', 'E_TEMPLATE', 'E_UNDEFINED_VAR', 'E_HOST_KEY', 'E_AUTH'].includes(err.code));
}

function withTimeout<T>(ms: number, parent: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return withDeadline(ms, work, { signal: parent, timeoutError: () => new KcarunError('E_TIMEOUT', `timed out after ${ms / 1000} s`) });
}

function withHost(err: unknown, host: string): KcarunError {
  if (err instanceof KcarunError) {
    if (!err.context.host) (err.context as { host?: string }).host = host;
    return err;
  }
  return new KcarunError('E_TASK', (err as Error)?.message ?? String(err), { host }, { cause: err });
}

/**
 * Summaries and diffs go to the terminal: no key material, ever. The output stays whole: it is what
 * `register:` hands to later tasks, which may write it to a host (issue 13, 2d); the journal
 * redacts it on its way to disk.
 */
function sanitize(outcome: TaskOutcome): TaskOutcome {
  const clean = (v: unknown): unknown => (v === undefined ? v : JSON.parse(redactSecrets(JSON.stringify(v))));
  return {
    ...outcome,
    undo: clean(outcome.undo),
    summary: outcome.summary === undefined ? undefined : redactSecrets(outcome.summary),
    diff: outcome.diff === undefined ? undefined : redactSecrets(outcome.diff),
  };
}
