import { formatError, type KcarunError } from '../core/errors.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { evaluate, isTrue } from '../formats/template.js';
import { makeBatches, orderHosts } from './batches.js';
import { isoAt, type RunContext } from './context.js';
import { stepKey } from './journal.js';
import { findLeader } from './leader.js';
import { rollbackStage } from './rollback.js';
import { scopeFor } from './scope.js';
import { renderSerial, tagsSelect } from './select.js';
import { runBatch } from './strategy.js';

export type StageOutcome = 'ok' | 'failed' | 'interrupted' | 'skipped' | 'done-before';

/**
 * One stage: its hosts (narrowed by --limit, ordered, leader last), its tasks (selected by tags),
 * in rolling batches. A batch whose failed hosts pass `maxFailPercentage` fails the stage, which
 * is then rolled back.
 */
export async function runStage(run: RunContext, planned: PlannedStage): Promise<StageOutcome> {
  const { input, emit, now, scopeInput } = run;
  const { options, journal } = input;
  const { stage } = planned;
  const name = stage.spec.name;
  const stageStarted = now();
  const end = (status: 'ok' | 'failed' | 'skipped' | 'done-before', message?: string) =>
    emit({ event: 'stage-end', stage: name, status, durationMs: now() - stageStarted, message });

  let hosts = planned.hosts.filter((h) => h === LOCAL_HOST || !run.limitHosts || run.limitHosts.has(h));
  const tasks = stage.spec.tasks.map((task, index) => ({ task, index })).filter(({ task }) => tagsSelect(options, stage.spec.tags, task.tags));
  const whenHolds = [...stage.importWhen, ...(stage.spec.when ? [stage.spec.when] : [])].every((w) =>
    isTrue(evaluate(w, scopeFor(scopeInput, stage, LOCAL_HOST).scope)),
  );
  if (!whenHolds || hosts.length === 0 || tasks.length === 0) {
    emit({ event: 'stage-start', stage: name, hosts, batches: [] });
    end('skipped', planned.skipped ?? (!whenHolds ? 'condition is false' : hosts.length === 0 ? 'no host selected' : 'no task selected by tags'));
    return 'skipped';
  }
  const doneBefore = (status: string | undefined) => status === 'ok' || status === 'skipped';
  if (tasks.every(({ index }) => hosts.every((h) => doneBefore(run.previous.get(stepKey(name, index, h))?.status)))) {
    emit({ event: 'stage-start', stage: name, hosts, batches: [hosts] });
    end('done-before', 'completed in an earlier run');
    return 'done-before';
  }

  let leader: { host: string | null; note?: string } | undefined;
  if (stage.spec.order === 'leader-last' && stage.spec.leader) leader = await findLeader(run, planned, hosts);
  hosts = orderHosts(hosts, stage.spec.order, leader?.host ?? null);
  if (stage.spec.runOnce) hosts = hosts.slice(0, 1);
  const batches = makeBatches(hosts, renderSerial(stage.spec.serial, scopeFor(scopeInput, stage, LOCAL_HOST).scope));
  emit({ event: 'stage-start', stage: name, hosts, batches, ...(leader ? { leader } : {}) });
  if (!options.dryRun) await journal.append({ t: 'stage', stage: name, status: 'started', at: isoAt(now) });

  let stageFailed = false;
  let firstError: KcarunError | undefined;
  for (const [b, batch] of batches.entries()) {
    emit({ event: 'batch-start', stage: name, batch: b + 1, hosts: batch });
    const outcome = await runBatch(run, planned, tasks, batch);
    if (outcome === 'interrupted') return 'interrupted';
    firstError ??= outcome.firstError;
    const maxFail = stage.spec.maxFailPercentage ?? 0;
    if (outcome.failedHosts > 0 && (outcome.failedHosts / batch.length) * 100 > maxFail) {
      stageFailed = true;
      break;
    }
  }
  if (!stageFailed) {
    if (!options.dryRun) await journal.append({ t: 'stage', stage: name, status: 'completed', at: isoAt(now) });
    end('ok');
    return 'ok';
  }
  const message = firstError ? formatError(firstError) : 'a task failed';
  if (!options.dryRun) {
    await journal.append({ t: 'stage', stage: name, status: 'failed', at: isoAt(now), message });
    const rolledBack = await rollbackStage(planned, input, scopeInput, emit, now, batches);
    await journal.append({ t: 'stage', stage: name, status: rolledBack ? 'rolled-back' : 'failed', at: isoAt(now) });
  }
  end('failed', message);
  return 'failed';
}
