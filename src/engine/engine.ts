import { randomUUID } from 'node:crypto';
import { KcarunError, EXIT, formatError } from '../core/errors.js';
import type { Inventory } from '../formats/inventory/load.js';
import { LOCAL_HOST, resolveHostPattern } from '../formats/inventory/patterns.js';
import type { LoadedPlaybook } from '../formats/playbook/load.js';
import type { RollbackTaskSpec, TaskSpec } from '../formats/playbook/schema.js';
import { evaluate, hasTemplate, isTrue, renderString, renderValue } from '../formats/template.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { redactSecrets } from '../core/redact.js';
import type { LeaderProbeDefinition, RunState, TaskDefinition, TaskLogger } from '../tasks/define.js';
import { makeBatches, mapLimit, orderHosts } from './batches.js';
import type { Reporter, RunEvent } from './events.js';
import { latestSteps, stepKey, type JournalLike, type StepRecord } from './journal.js';
import { scopeFor, type Registry, type ScopeInput } from './scope.js';
import { executeStep, planStep, shouldRun, undoStep, whenIsPerItem, type StepInput } from './step.js';
import type { TransportProvider } from './transports.js';

export interface RunOptions {
  dryRun: boolean;
  /** A host pattern that narrows every stage's hosts. */
  limit?: string;
  tags: string[];
  skipTags: string[];
  startAt?: string;
  forks: number;
  resume: boolean;
}

export interface Interrupt {
  /** Set by the first SIGINT: finish the steps in flight, checkpoint, stop. */
  readonly requested: boolean;
  /** Aborted by a second SIGINT: stop now. */
  readonly hardStop: AbortSignal;
}

export interface EngineInput {
  playbook: LoadedPlaybook;
  inventory: Inventory;
  plan: PlannedStage[];
  extraVars: ScopeInput['extraVars'];
  options: RunOptions;
  state: RunState;
  journal: JournalLike;
  transports: TransportProvider;
  reporter: Reporter;
  interrupt: Interrupt;
  taskTypes: ReadonlyMap<string, TaskDefinition>;
  leaderProbes: ReadonlyMap<string, LeaderProbeDefinition>;
  now?: () => number;
}

export interface RunResult {
  status: 'succeeded' | 'failed' | 'interrupted' | 'nothing-to-do' | 'planned';
  exitCode: number;
  message?: string;
}

type StageOutcome = 'ok' | 'failed' | 'interrupted' | 'skipped' | 'done-before';

/**
 * Runs the planned stages in order. The journal is the source of truth: every step is recorded
 * as started before it runs and as ok/failed after, so a resumed run skips what completed and
 * re-runs what was in flight. A failed stage is rolled back (its completed steps undone in reverse
 * order) and the run stops.
 */
export async function runPlaybook(input: EngineInput): Promise<RunResult> {
  const now = input.now ?? Date.now;
  const started = now();
  const runId = randomUUID();
  const { options, journal, reporter } = input;
  const emit = (e: RunEvent) => reporter.emit(e);
  const registry: Registry = new Map();
  const scopeInput: ScopeInput = {
    playbook: input.playbook,
    inventory: input.inventory,
    extraVars: input.extraVars,
    registry,
    run: { id: runId, stateDir: input.state.dir, dryRun: options.dryRun },
  };
  const previous = options.resume ? latestSteps(journal.records) : new Map<string, StepRecord>();
  restoreRegistry(previous, registry);

  let stages = input.plan;
  if (options.startAt) {
    const index = stages.findIndex((s) => s.stage.spec.name === options.startAt);
    if (index < 0) throw new KcarunError('E_USAGE', `--start-at: no stage named "${options.startAt}" (stages: ${stages.map((s) => s.stage.spec.name).join(', ')})`);
    stages = stages.slice(index);
  }
  const limitHosts = options.limit ? new Set(resolveHostPattern(input.inventory, options.limit.split(','))) : null;

  emit({
    event: 'run-start',
    runId,
    playbook: input.playbook.spec.metadata.name,
    version: input.playbook.spec.metadata.version,
    stages: stages.map((s) => s.stage.spec.name),
    dryRun: options.dryRun,
    resumed: options.resume,
  });
  if (!options.dryRun) {
    await journal.append({
      t: 'run',
      runId,
      playbook: input.playbook.file,
      name: input.playbook.spec.metadata.name,
      version: input.playbook.spec.metadata.version,
      checksum: input.playbook.checksum,
      startedAt: new Date(started).toISOString(),
      resumed: options.resume,
      dryRun: false,
      pid: process.pid,
    });
  }

  let changed = 0;
  let failed = 0;
  let ranAnything = false;
  let result: RunResult | undefined;
  for (const planned of stages) {
    const outcome = await runStage(planned);
    if (outcome === 'failed') {
      result = { status: 'failed', exitCode: EXIT.runFailed, message: `stage "${planned.stage.spec.name}" failed and was rolled back; fix the cause, then run again with --resume` };
      break;
    }
    if (outcome === 'interrupted') {
      result = { status: 'interrupted', exitCode: EXIT.interrupted, message: `interrupted during stage "${planned.stage.spec.name}"; run again with --resume to continue` };
      break;
    }
  }
  result ??= options.dryRun
    ? { status: 'planned', exitCode: EXIT.ok, message: 'dry run: nothing was changed' }
    : !ranAnything
      ? { status: 'nothing-to-do', exitCode: EXIT.ok, message: 'nothing to do: every step had completed before' }
      : changed === 0
        ? { status: 'nothing-to-do', exitCode: EXIT.ok, message: 'nothing to do: every host was already in the desired state' }
        : { status: 'succeeded', exitCode: EXIT.ok };
  if (!options.dryRun) {
    const endStatus = result.status === 'nothing-to-do' || result.status === 'planned' ? 'succeeded' : result.status === 'failed' ? 'rolled-back' : result.status;
    await journal.append({ t: 'end', status: endStatus, at: new Date(now()).toISOString(), message: result.message });
  }
  emit({ event: 'run-end', status: result.status, exitCode: result.exitCode, durationMs: now() - started, changed, failed, message: result.message });
  return result;

  async function runStage(planned: PlannedStage): Promise<StageOutcome> {
    const { stage } = planned;
    const name = stage.spec.name;
    const stageStarted = now();
    const end = (status: 'ok' | 'failed' | 'skipped' | 'done-before', message?: string) =>
      emit({ event: 'stage-end', stage: name, status, durationMs: now() - stageStarted, message });

    let hosts = planned.hosts.filter((h) => h === LOCAL_HOST || !limitHosts || limitHosts.has(h));
    const tasks = stage.spec.tasks.map((task, index) => ({ task, index })).filter(({ task }) => tagsSelect(options, stage.spec.tags, task.tags));
    const whenHolds = [...stage.importWhen, ...(stage.spec.when ? [stage.spec.when] : [])].every((w) =>
      isTrue(evaluate(w, scopeFor(scopeInput, stage, LOCAL_HOST).scope)),
    );
    if (!whenHolds || hosts.length === 0 || tasks.length === 0) {
      emit({ event: 'stage-start', stage: name, hosts, batches: [] });
      end('skipped', !whenHolds ? 'condition is false' : hosts.length === 0 ? 'no host selected' : 'no task selected by tags');
      return 'skipped';
    }
    const doneBefore = (status: string | undefined) => status === 'ok' || status === 'skipped';
    if (tasks.every(({ index }) => hosts.every((h) => doneBefore(previous.get(stepKey(name, index, h))?.status)))) {
      emit({ event: 'stage-start', stage: name, hosts, batches: [hosts] });
      end('done-before', 'completed in an earlier run');
      return 'done-before';
    }

    let leader: string | null = null;
    if (stage.spec.order === 'leader-last' && stage.spec.leader) leader = await findLeader(planned, hosts);
    hosts = orderHosts(hosts, stage.spec.order, leader);
    if (stage.spec.runOnce) hosts = hosts.slice(0, 1);
    const batches = makeBatches(hosts, renderSerial(stage.spec.serial, scopeFor(scopeInput, stage, LOCAL_HOST).scope));
    emit({ event: 'stage-start', stage: name, hosts, batches });
    if (!options.dryRun) await journal.append({ t: 'stage', stage: name, status: 'started', at: new Date(now()).toISOString() });

    let stageFailed = false;
    let firstError: KcarunError | undefined;
    for (const [b, batch] of batches.entries()) {
      emit({ event: 'batch-start', stage: name, batch: b + 1, hosts: batch });
      let failedHosts = 0;
      if (stage.spec.strategy === 'free') {
        // Each host through all the tasks at its own pace; a host stops at its first failure.
        const results = await mapLimit(batch, options.forks, async (host) => {
          for (const { task, index } of tasks) {
            if (input.interrupt.requested) return 'interrupted' as const;
            const result = await runStep(planned, task, index, host);
            if (result instanceof KcarunError) return result;
          }
          return 'ok' as const;
        });
        if (results.includes('interrupted')) return 'interrupted';
        failedHosts = results.filter((r) => r instanceof KcarunError).length;
        firstError ??= results.find((r): r is KcarunError => r instanceof KcarunError);
      } else {
        let active = [...batch];
        for (const { task, index } of tasks) {
          if (input.interrupt.requested) return 'interrupted';
          const results = await mapLimit(active, options.forks, async (host) => {
            if (input.interrupt.requested) return 'interrupted' as const;
            return runStep(planned, task, index, host);
          });
          if (results.includes('interrupted')) return 'interrupted';
          const failedNow = active.filter((_, i) => results[i] instanceof KcarunError);
          failedHosts += failedNow.length;
          firstError ??= results.find((r): r is KcarunError => r instanceof KcarunError);
          active = active.filter((_, i) => !(results[i] instanceof KcarunError));
          if (active.length === 0) break;
        }
      }
      const maxFail = stage.spec.maxFailPercentage ?? 0;
      if (failedHosts > 0 && (failedHosts / batch.length) * 100 > maxFail) {
        stageFailed = true;
        break;
      }
    }
    if (!stageFailed) {
      if (!options.dryRun) await journal.append({ t: 'stage', stage: name, status: 'completed', at: new Date(now()).toISOString() });
      end('ok');
      return 'ok';
    }
    const message = firstError ? formatError(firstError) : 'a task failed';
    if (!options.dryRun) {
      await journal.append({ t: 'stage', stage: name, status: 'failed', at: new Date(now()).toISOString(), message });
      const rolledBack = await rollbackStage(planned, input, scopeInput, emit);
      await journal.append({ t: 'stage', stage: name, status: rolledBack ? 'rolled-back' : 'failed', at: new Date(now()).toISOString() });
    }
    end('failed', message);
    return 'failed';
  }

  async function findLeader(planned: PlannedStage, hosts: string[]): Promise<string | null> {
    const spec = planned.stage.spec.leader!;
    const probe = input.leaderProbes.get(spec.type)!;
    const { scope } = scopeFor(scopeInput, planned.stage, hosts[0]!);
    const params = renderValue(spec.with ?? {}, scope, probe.schema);
    const log = stageLogger(emit, planned.stage.spec.name);
    try {
      const leader = await probe.findLeader({
        params,
        hosts: hosts.map((h) => scopeFor(scopeInput, planned.stage, h).host),
        transportFor: (name) => input.transports.get(name),
        state: input.state,
        log,
        signal: input.interrupt.hardStop,
      });
      log.info(leader ? `leader is ${leader}: it goes last` : 'no leader found among the stage hosts: inventory order');
      return leader;
    } catch (err) {
      // Without a leader the order is still safe, only less gentle: say so, do not fail.
      log.warn(`leader probe ${spec.type} failed (${(err as Error).message}); using inventory order`);
      return null;
    }
  }

  /** Returns the error when the step failed (and was not ignored). */
  async function runStep(planned: PlannedStage, task: TaskSpec, index: number, hostName: string): Promise<KcarunError | 'ok'> {
    const stageName = planned.stage.spec.name;
    const key = stepKey(stageName, index, hostName);
    const base = { stage: stageName, task: task.name, taskIndex: index, host: hostName };
    const typed = { ...base, type: task.type };
    const prior = previous.get(key);
    if (prior?.status === 'ok') {
      emit({ event: 'task-end', ...typed, status: 'done-before', changed: false, durationMs: 0, summary: 'completed in an earlier run' });
      return 'ok';
    }
    const { host, scope } = scopeFor(scopeInput, planned.stage, hostName);
    const stepInput: StepInput = {
      task,
      def: input.taskTypes.get(task.type)!,
      host,
      scope,
      stepId: key,
      state: input.state,
      transports: input.transports,
      inventoryHosts: input.inventory.hosts,
      log: stageLogger(emit, stageName, hostName),
      hardStop: input.interrupt.hardStop,
    };
    const t0 = now();
    emit({ event: 'task-start', ...typed });
    try {
      // A loop's `when` that reads the loop variable is per item (inside executeStep); any other
      // `when` decides for the whole task, before the loop list is even rendered.
      if (!whenIsPerItem(task) && !shouldRun(task, scope, hostName)) {
        if (!options.dryRun) await journal.append({ t: 'step', key, ...base, status: 'skipped', at: iso() });
        emit({ event: 'task-end', ...typed, status: 'skipped', changed: false, durationMs: now() - t0, summary: 'condition is false' });
        return 'ok';
      }
      if (options.dryRun) {
        const plan = await planStep(stepInput);
        emit({ event: 'task-end', ...typed, status: plan.changed ? 'changed' : 'ok', changed: plan.changed, durationMs: now() - t0, summary: redactSecrets(plan.summary), diff: plan.diff && redactSecrets(plan.diff) });
        return 'ok';
      }
      // Written before the step runs (status shows it in flight after a kill), synced with the next record.
      await journal.append({ t: 'step', key, ...base, status: 'started', at: iso() }, { sync: false });
      const outcome = await executeStep(stepInput);
      ranAnything = true;
      if (outcome.changed) changed++;
      if (task.register) setRegistered(registry, hostName, task.register, outcome.output ?? {});
      await journal.append({
        t: 'step', key, ...base, status: 'ok', at: iso(), changed: outcome.changed, durationMs: now() - t0,
        register: task.register, output: outcome.output, undo: outcome.undo,
      });
      emit({ event: 'task-end', ...typed, status: outcome.changed ? 'changed' : 'ok', changed: outcome.changed, durationMs: now() - t0, summary: outcome.summary, diff: outcome.diff });
      return 'ok';
    } catch (e) {
      const err = e instanceof KcarunError ? e : new KcarunError('E_TASK', String((e as Error)?.message ?? e), { host: hostName }, { cause: e });
      ranAnything = true;
      const error = { code: err.code, message: redactSecrets(formatError(err)) };
      if (!options.dryRun) await journal.append({ t: 'step', key, ...base, status: 'failed', at: iso(), durationMs: now() - t0, error });
      emit({ event: 'task-end', ...typed, status: 'failed', changed: false, durationMs: now() - t0, error, ignored: task.ignoreErrors === true });
      if (task.ignoreErrors) return 'ok';
      failed++;
      return err;
    }
  }

  function iso(): string {
    return new Date(now()).toISOString();
  }
}

/**
 * Undoes a stage: every step of it that completed (in this run or an earlier one), newest first,
 * by the task's own `rollback:` list when it has one, else by its type's undo; then the stage's
 * `rollback:` list on every host that ran something. Keeps going past a failed undo and reports
 * it: the operator must know everything that could not be put back.
 */
export async function rollbackStage(
  planned: PlannedStage,
  input: Pick<EngineInput, 'journal' | 'taskTypes' | 'state' | 'transports' | 'inventory' | 'interrupt'>,
  scopeInput: ScopeInput,
  emit: (e: RunEvent) => void,
): Promise<boolean> {
  const name = planned.stage.spec.name;
  const latest = latestSteps(input.journal.records);
  // Journal order is completion order; undo newest first.
  const done: StepRecord[] = [];
  const seen = new Set<string>();
  for (const r of [...input.journal.records].reverse()) {
    if (r.t !== 'step' || r.stage !== name || seen.has(r.key)) continue;
    seen.add(r.key);
    if (latest.get(r.key)?.status === 'ok') done.push(latest.get(r.key)!);
  }
  emit({ event: 'rollback-start', stage: name, steps: done.length });
  let allOk = true;
  const hostsThatRan = new Set(done.map((s) => s.host));
  const undoWith = async (task: TaskSpec | RollbackTaskSpec, host: string, stepId: string, undo: unknown, declared: boolean) => {
    const def = input.taskTypes.get(task.type)!;
    const { host: hostInfo, scope } = scopeFor(scopeInput, planned.stage, host);
    const stepInput: StepInput = {
      task, def, host: hostInfo, scope, stepId, state: input.state, transports: input.transports,
      inventoryHosts: input.inventory.hosts, log: stageLogger(emit, name, host), hardStop: input.interrupt.hardStop,
    };
    if (declared) {
      if (!whenIsPerItem(task) && !shouldRun(task, scope, host)) return 'nothing-to-undo' as const;
      await executeStep(stepInput);
      return 'ok' as const;
    }
    return undoStep(stepInput, undo);
  };
  for (const step of done) {
    const task = planned.stage.spec.tasks[step.taskIndex];
    if (!task) continue;
    try {
      let status: 'ok' | 'nothing-to-undo' = 'nothing-to-undo';
      if (task.rollback?.length) {
        for (const [i, rb] of task.rollback.entries()) {
          if ((await undoWith(rb, step.host, `${step.key}/rollback/${i}`, undefined, true)) === 'ok') status = 'ok';
        }
      } else {
        status = await undoWith(task, step.host, step.key, step.undo, false);
      }
      await input.journal.append({ ...step, status: 'rolled-back', at: new Date().toISOString() });
      emit({ event: 'rollback-step', stage: name, task: task.name, host: step.host, status });
    } catch (e) {
      allOk = false;
      const err = e instanceof KcarunError ? e : new KcarunError('E_ROLLBACK', String(e));
      const error = { code: err.code, message: redactSecrets(formatError(err)) };
      await input.journal.append({ ...step, status: 'rollback-failed', at: new Date().toISOString(), error });
      emit({ event: 'rollback-step', stage: name, task: task.name, host: step.host, status: 'failed', error });
    }
  }
  for (const [i, rb] of (planned.stage.spec.rollback ?? []).entries()) {
    for (const host of planned.hosts.filter((h) => hostsThatRan.has(h))) {
      try {
        const status = await undoWith(rb, host, `${name}/rollback/${i}/${host}`, undefined, true);
        emit({ event: 'rollback-step', stage: name, task: rb.name, host, status });
      } catch (e) {
        allOk = false;
        const err = e instanceof KcarunError ? e : new KcarunError('E_ROLLBACK', String(e));
        emit({ event: 'rollback-step', stage: name, task: rb.name, host, status: 'failed', error: { code: err.code, message: redactSecrets(formatError(err)) } });
      }
    }
  }
  emit({ event: 'rollback-end', stage: name, status: allOk ? 'ok' : 'failed' });
  return allOk;
}

/**
 * --tags / --skip-tags: a task carries its own tags and its stage's. `always` runs unless skipped
 * by name; with no --tags everything runs.
 */
export function tagsSelect(options: Pick<RunOptions, 'tags' | 'skipTags'>, stageTags: string[] | undefined, taskTags: string[] | undefined): boolean {
  const tags = new Set([...(stageTags ?? []), ...(taskTags ?? [])]);
  if (options.skipTags.some((t) => tags.has(t))) return false;
  if (options.tags.length === 0 || tags.has('always')) return true;
  return options.tags.some((t) => tags.has(t));
}

/** `serial` may be a template (`"{{ kubelet_batch }}"`): a count, a percentage, or a list of them. */
function renderSerial(serial: PlannedStage['stage']['spec']['serial'], scope: Record<string, unknown>): number | string | (number | string)[] | undefined {
  if (typeof serial !== 'string' || !hasTemplate(serial)) return serial;
  const value = renderString(serial, scope);
  const valid = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0) || (typeof v === 'string' && /^[0-9]+(\.[0-9]+)?%$/.test(v));
  if (valid(value) || (Array.isArray(value) && value.length > 0 && value.every(valid))) return value as number | string | (number | string)[];
  throw new KcarunError('E_SCHEMA', `serial "${serial}" rendered to ${JSON.stringify(value)}: expected a count, a percentage like "25%", or a list of them`);
}

function restoreRegistry(previous: Map<string, StepRecord>, registry: Registry): void {
  for (const step of previous.values()) {
    if (step.status === 'ok' && step.register) setRegistered(registry, step.host, step.register, step.output ?? {});
  }
}

function setRegistered(registry: Registry, host: string, name: string, output: Record<string, unknown>): void {
  registry.set(host, { ...registry.get(host), [name]: output });
}

function stageLogger(emit: (e: RunEvent) => void, stage: string, host?: string): TaskLogger {
  return {
    info: (message) => emit({ event: 'log', level: 'info', message: redactSecrets(message), host, stage }),
    warn: (message) => emit({ event: 'log', level: 'warn', message: redactSecrets(message), host, stage }),
    debug: (message) => emit({ event: 'log', level: 'debug', message: redactSecrets(message), host, stage }),
  };
}
