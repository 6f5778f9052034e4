import { KcarunError } from '../errors.js';
import { schemaProblems } from '../playbook/schema-check.js';
import type { RetriesSchema, RollbackTaskSpec, TaskSpec } from '../playbook/schema.js';
import { evaluate, isTrue, renderValue } from '../playbook/template.js';
import { redactSecrets } from '../redact.js';
import type { HostInfo, RunState, TaskContext, TaskDefinition, TaskLogger, TaskOutcome, TaskPlan } from '../tasks/define.js';
import { sleep } from '../tasks/exec-common.js';
import type { Static } from '@sinclair/typebox';
import type { TransportProvider } from './transports.js';

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
  log: TaskLogger;
  /** Aborted on a second SIGINT: tasks in flight stop now. */
  hardStop: AbortSignal;
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
    params = renderValue(input.task.with ?? {}, input.scope, input.def.schema);
  } catch (err) {
    throw withHost(err, input.host.name);
  }
  const problems = schemaProblems(input.def.schema, params);
  if (problems.length) {
    throw new KcarunError(
      'E_SCHEMA',
      `task "${input.task.name}": params after templating do not fit ${input.def.type}: ${problems.map((p) => p.message).join('; ')}`,
      { host: input.host.name },
    );
  }
  const transport = await input.transports.get(input.host.name);
  return {
    params,
    host: input.host,
    transport,
    state: input.state,
    log: input.log,
    signal,
    stepId: input.stepId,
    transportFor: (name) => input.transports.get(name),
    inventoryHosts: input.inventoryHosts,
    evaluate: async (expression) => evaluate(expression, input.scope),
  };
}

/**
 * Runs one task on one host with its timeout and retries. A timeout aborts the task's signal and
 * fails the step with E_TIMEOUT even if the task ignores the signal.
 */
export async function executeStep(input: StepInput): Promise<TaskOutcome> {
  const retries: Static<typeof RetriesSchema> = input.task.retries ?? { count: 0 };
  const timeoutMs = (input.task.timeout ?? DEFAULT_TASK_TIMEOUT_SECONDS) * 1000;
  let delayMs = (retries.delay ?? 1) * 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await withTimeout(timeoutMs, input.hardStop, async (signal) => {
        const ctx = await buildContext(input, signal);
        const outcome = await input.def.run(ctx as TaskContext<never>);
        return sanitize(outcome);
      });
    } catch (err) {
      if (attempt >= retries.count || input.hardStop.aborted || !isRetryable(err)) throw withHost(err, input.host.name);
      input.log.warn(`attempt ${attempt + 1}/${retries.count + 1} failed: ${(err as Error).message}; retrying in ${delayMs / 1000}s`);
      await sleep(delayMs, input.hardStop);
      delayMs *= retries.backoff ?? 2;
    }
  }
}

export async function planStep(input: StepInput): Promise<TaskPlan> {
  const ctx = await buildContext(input, input.hardStop);
  if (!input.def.dryRun) return { changed: true, summary: `would run ${input.def.type} (no preview for this task type)` };
  return input.def.dryRun(ctx as TaskContext<never>);
}

export async function undoStep(input: StepInput, undo: unknown): Promise<'ok' | 'nothing-to-undo'> {
  if (!input.def.rollback || undo === undefined) return 'nothing-to-undo';
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

async function withTimeout<T>(ms: number, parent: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onParentAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new KcarunError('E_TIMEOUT', `timed out after ${ms / 1000} s`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onParentAbort);
  }
}

function withHost(err: unknown, host: string): KcarunError {
  if (err instanceof KcarunError) {
    if (!err.context.host) (err.context as { host?: string }).host = host;
    return err;
  }
  return new KcarunError('E_TASK', (err as Error)?.message ?? String(err), { host }, { cause: err });
}

/** Outputs and summaries go to the journal and the terminal: no key material, ever. */
function sanitize(outcome: TaskOutcome): TaskOutcome {
  const clean = (v: unknown): unknown => (v === undefined ? v : JSON.parse(redactSecrets(JSON.stringify(v))));
  return {
    ...outcome,
    output: clean(outcome.output) as Record<string, unknown> | undefined,
    undo: clean(outcome.undo),
    summary: outcome.summary === undefined ? undefined : redactSecrets(outcome.summary),
    diff: outcome.diff === undefined ? undefined : redactSecrets(outcome.diff),
  };
}
