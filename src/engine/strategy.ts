import { KcarunError } from '../core/errors.js';
import type { TaskSpec } from '../formats/playbook/schema.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { mapLimit } from './batches.js';
import type { RunContext } from './context.js';
import { runStep } from './run-step.js';

export type BatchOutcome = 'interrupted' | { failedHosts: number; firstError?: KcarunError };

/** One batch of a stage's hosts through the selected tasks, by the stage's `strategy`. */
export function runBatch(run: RunContext, planned: PlannedStage, tasks: { task: TaskSpec; index: number }[], batch: string[]): Promise<BatchOutcome> {
  return planned.stage.spec.strategy === 'free' ? runFree(run, planned, tasks, batch) : runLinear(run, planned, tasks, batch);
}

/** Each host through all the tasks at its own pace; a host stops at its first failure. */
async function runFree(run: RunContext, planned: PlannedStage, tasks: { task: TaskSpec; index: number }[], batch: string[]): Promise<BatchOutcome> {
  const results = await mapLimit(batch, run.input.options.forks, async (host) => {
    for (const { task, index } of tasks) {
      if (run.input.interrupt.requested) return 'interrupted' as const;
      const result = await runStep(run, planned, task, index, host);
      if (result instanceof KcarunError || result === 'interrupted') return result;
    }
    return 'ok' as const;
  });
  if (results.includes('interrupted')) return 'interrupted';
  return {
    failedHosts: results.filter((r) => r instanceof KcarunError).length,
    firstError: results.find((r): r is KcarunError => r instanceof KcarunError),
  };
}

/** Task by task: every host of the batch finishes a task before the next starts; a failed host drops out. */
async function runLinear(run: RunContext, planned: PlannedStage, tasks: { task: TaskSpec; index: number }[], batch: string[]): Promise<BatchOutcome> {
  let active = [...batch];
  let failedHosts = 0;
  let firstError: KcarunError | undefined;
  for (const { task, index } of tasks) {
    if (run.input.interrupt.requested) return 'interrupted';
    const results = await mapLimit(active, run.input.options.forks, async (host) => {
      if (run.input.interrupt.requested) return 'interrupted' as const;
      return runStep(run, planned, task, index, host);
    });
    if (results.includes('interrupted')) return 'interrupted';
    failedHosts += active.filter((_, i) => results[i] instanceof KcarunError).length;
    firstError ??= results.find((r): r is KcarunError => r instanceof KcarunError);
    active = active.filter((_, i) => !(results[i] instanceof KcarunError));
    if (active.length === 0) break;
  }
  return { failedHosts, firstError };
}
