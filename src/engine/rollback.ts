import { KcarunError, formatError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { RollbackTaskSpec, TaskSpec } from '../formats/playbook/schema.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { mapLimit } from './batches.js';
import { isoAt } from './context.js';
import { stageLogger, type Emit } from './emit.js';
import { latestSteps, type StepRecord } from './journal.js';
import { scopeFor, type ScopeInput } from './scope.js';
import { executeStep, shouldRun, undoStep, whenIsPerItem, type StepInput } from './step.js';
import type { EngineInput, RunOptions } from './types.js';

/**
 * Undoes a stage batch by batch, in the stage's own batches (`batches`: as the stage ran them, host
 * names; newest batch first): first every step of the batch's hosts that completed (in this run or
 * an earlier one), newest first, by the task's own `rollback:` list when it has one, else by its
 * type's undo; then the stage's `rollback:` list on those hosts, task by task, the batch's hosts at
 * once (at most `forks`). So a `serial: 1` etcd stage restarts and gates one member at a time, 100
 * kubelets in 25 % batches are restarted four batches deep, not one after another (issue 19's N=100
 * run: 13 min of serial kubelet restarts), and what a host's undo takes out of service (a held
 * apiserver) comes back with that host's batch, before the next batch's undo begins: undoing every
 * host first would have held all the apiservers of a stacked-etcd cluster at once (session 23's
 * review). Steps of hosts in no batch are undone last. Keeps going past a failed undo and reports
 * it: the operator must know everything that could not be put back.
 */
export async function rollbackStage(
  planned: PlannedStage,
  input: Pick<EngineInput, 'journal' | 'taskTypes' | 'state' | 'transports' | 'inventory' | 'interrupt'> & { options: Pick<RunOptions, 'forks'> },
  scopeInput: ScopeInput,
  emit: Emit,
  now: () => number,
  batches: string[][],
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
      inventoryHosts: input.inventory.hosts, forks: input.options.forks, log: stageLogger(emit, name, host), hardStop: input.interrupt.hardStop,
    };
    if (declared) {
      if (!whenIsPerItem(task) && !shouldRun(task, scope, host)) return 'nothing-to-undo' as const;
      await executeStep(stepInput);
      return 'ok' as const;
    }
    return undoStep(stepInput, undo);
  };
  const undoSteps = async (steps: StepRecord[]) => {
    for (const step of steps) {
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
        await input.journal.append({ ...step, status: 'rolled-back', at: isoAt(now) });
        emit({ event: 'rollback-step', stage: name, task: task.name, host: step.host, status });
      } catch (e) {
        allOk = false;
        const err = e instanceof KcarunError ? e : new KcarunError('E_ROLLBACK', String(e));
        const error = { code: err.code, message: redactSecrets(formatError(err)) };
        await input.journal.append({ ...step, status: 'rollback-failed', at: isoAt(now), error });
        emit({ event: 'rollback-step', stage: name, task: task.name, host: step.host, status: 'failed', error });
      }
    }
  };
  const rollbackList = planned.stage.spec.rollback ?? [];
  // A host that ran in an earlier run and is in no batch of this one (runOnce) is undone on its own.
  const inBatches = new Set(batches.flat());
  const ranBatches = [...batches, ...planned.hosts.filter((h) => !inBatches.has(h)).map((h) => [h])]
    .map((b) => b.filter((h) => hostsThatRan.has(h)))
    .filter((b) => b.length > 0)
    .reverse();
  for (const batch of ranBatches) {
    await undoSteps(done.filter((s) => batch.includes(s.host)));
    for (const [i, rb] of rollbackList.entries()) {
      await mapLimit(batch, input.options.forks, async (host) => {
        try {
          const status = await undoWith(rb, host, `${name}/rollback/${i}/${host}`, undefined, true);
          emit({ event: 'rollback-step', stage: name, task: rb.name, host, status });
        } catch (e) {
          allOk = false;
          const err = e instanceof KcarunError ? e : new KcarunError('E_ROLLBACK', String(e));
          emit({ event: 'rollback-step', stage: name, task: rb.name, host, status: 'failed', error: { code: err.code, message: redactSecrets(formatError(err)) } });
        }
      });
    }
  }
  // Steps of a host no batch holds (not in this run's plan any more): undone, without the list.
  const batched = new Set(ranBatches.flat());
  await undoSteps(done.filter((s) => !batched.has(s.host)));
  emit({ event: 'rollback-end', stage: name, status: allOk ? 'ok' : 'failed' });
  return allOk;
}
