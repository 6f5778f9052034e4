import { KcarunError, formatError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import type { TaskSpec } from '../formats/playbook/schema.js';
import { isoAt, setRegistered, type RunContext } from './context.js';
import { placeholderOutput } from './dry-run.js';
import { stageLogger } from './emit.js';
import { filesChangedInStage, stepKey } from './journal.js';
import { scopeFor } from './scope.js';
import { executeStep, planStep, shouldRun, whenIsPerItem, type StepInput } from './step.js';

/**
 * One task on one host, checkpointed: journalled as started before it runs and as ok/failed
 * after, with its events. Returns the error when the step failed (and was not ignored).
 */
export async function runStep(run: RunContext, planned: PlannedStage, task: TaskSpec, index: number, hostName: string): Promise<KcarunError | 'ok' | 'interrupted'> {
  const { input, emit, now } = run;
  const { options, journal } = input;
  const iso = () => isoAt(now);
  const stageName = planned.stage.spec.name;
  const key = stepKey(stageName, index, hostName);
  const base = { stage: stageName, task: task.name, taskIndex: index, host: hostName };
  const typed = { ...base, type: task.type };
  const prior = run.previous.get(key);
  if (prior?.status === 'ok') {
    emit({ event: 'task-end', ...typed, status: 'done-before', changed: false, durationMs: 0, summary: 'completed in an earlier run' });
    return 'ok';
  }
  const { host, scope } = scopeFor(run.scopeInput, planned.stage, hostName);
  const stepInput: StepInput = {
    task,
    def: input.taskTypes.get(task.type)!,
    host,
    scope,
    stepId: key,
    state: input.state,
    transports: run.dryRun?.transports ?? input.transports,
    inventoryHosts: input.inventory.hosts,
    forks: options.forks,
    log: stageLogger(emit, stageName, hostName),
    hardStop: input.interrupt.hardStop,
    ...(run.dryRun ? { dryRun: { world: run.dryRun.world, stage: stageName } } : {}),
    changedInStage: options.dryRun ? undefined : () => filesChangedInStage(journal.records, stageName, hostName),
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
      // Registered as the run would register it (whole, in memory; only what leaves kcarun is
      // redacted): later `when:`s and templates evaluate as they will. Redacting here made the
      // redactor's base64 rule mask mixed-case paths, which templates then refused (issue 13).
      if (task.register) setRegistered(run.registry, hostName, task.register, plan.output ?? placeholderOutput(task.name, hostName));
      for (const f of plan.files ?? []) {
        emit({ event: 'planned-change', ...base, host: f.host ?? hostName, kind: f.kind, path: f.path, added: f.added, removed: f.removed });
      }
      for (const r of plan.restarts ?? []) emit({ event: 'planned-change', ...base, kind: 'restart', component: r.component });
      if (!plan.files?.length && !plan.restarts?.length && plan.changed) {
        for (const command of plan.commands ?? []) emit({ event: 'planned-change', ...base, kind: 'command', command: redactSecrets(command) });
      }
      emit({
        event: 'task-end', ...typed, status: plan.changed ? 'changed' : 'ok', changed: plan.changed, durationMs: now() - t0,
        summary: redactSecrets(plan.summary), diff: plan.diff && redactSecrets(plan.diff),
        ...(plan.files?.length ? { files: plan.files.map((f) => f.path) } : {}),
      });
      if (plan.changed) run.tally.changed++;
      return 'ok';
    }
    // Written before the step runs (status shows it in flight after a kill), synced with the next record.
    await journal.append({ t: 'step', key, ...base, status: 'started', at: iso() }, { sync: false });
    const outcome = await executeStep(stepInput);
    run.tally.ranAnything = true;
    if (outcome.changed) run.tally.changed++;
    if (task.register) setRegistered(run.registry, hostName, task.register, outcome.output ?? {});
    await journal.append({
      t: 'step', key, ...base, status: 'ok', at: iso(), changed: outcome.changed, durationMs: now() - t0,
      register: task.register, output: outcome.output, undo: outcome.undo,
      // A delegated step's files are on another host: not this host's to act on.
      ...(outcome.files?.length && !task.delegateTo ? { files: outcome.files } : {}),
    });
    emit({ event: 'task-end', ...typed, status: outcome.changed ? 'changed' : 'ok', changed: outcome.changed, durationMs: now() - t0, summary: outcome.summary, diff: outcome.diff, ...(outcome.files?.length ? { files: outcome.files } : {}) });
    return 'ok';
  } catch (e) {
    const err = e instanceof KcarunError ? e : new KcarunError('E_TASK', String((e as Error)?.message ?? e), { host: hostName }, { cause: e });
    run.tally.ranAnything = true;
    if (input.interrupt.hardStop.aborted) {
      // A second interrupt stopped this step (its process group killed): not a failure, no
      // rollback; --resume runs it again (README: interrupt twice, it stops now, exit 130).
      const stopped = { code: 'E_INTERRUPTED', message: 'interrupted while in flight' };
      if (!options.dryRun) await journal.append({ t: 'step', key, ...base, status: 'interrupted', at: iso(), durationMs: now() - t0, error: stopped });
      emit({ event: 'task-end', ...typed, status: 'failed', changed: false, durationMs: now() - t0, error: stopped });
      return 'interrupted';
    }
    const error = { code: err.code, message: redactSecrets(formatError(err)) };
    if (!options.dryRun) await journal.append({ t: 'step', key, ...base, status: 'failed', at: iso(), durationMs: now() - t0, error });
    emit({ event: 'task-end', ...typed, status: 'failed', changed: false, durationMs: now() - t0, error, ignored: task.ignoreErrors === true });
    if (task.ignoreErrors) return 'ok';
    run.tally.failed++;
    return err;
  }
}
