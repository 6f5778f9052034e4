import { randomUUID } from 'node:crypto';
import { EXIT, KcarunError } from '../core/errors.js';
import { resolveHostPattern } from '../formats/inventory/patterns.js';
import { isoAt, restoreRegistry, type RunContext } from './context.js';
import { DryRunWorld, overlayTransports } from './dry-run.js';
import { latestSteps, type JournalRecord, type StepRecord } from './journal.js';
import type { Registry } from './scope.js';
import { runStage } from './stage.js';
import { variablesChecksum } from '../formats/vars-checksum.js';
import type { EngineInput, RunResult } from './types.js';

export { DEFAULT_FORKS } from './types.js';
export type { EngineInput, Interrupt, RunOptions, RunResult } from './types.js';

/**
 * The run's id (`{{ run.id }}` in templates, the journal's and events' runId): a resumed run keeps
 * the id of the run it continues (the journal's first run record), so names built from it — the
 * backup archive `pre-rotation-<run id>.tgz` made by one step and fetched by the next, the offline
 * CAs' file names — still name the same things when a kill -9 fell between those steps (CI, stop 23).
 * A new run (and --fresh) gets a new UUID.
 */
function rotationId(resume: boolean, records: readonly JournalRecord[]): string {
  const first = resume ? records.find((r): r is Extract<JournalRecord, { t: 'run' }> => r.t === 'run') : undefined;
  return first?.runId ?? randomUUID();
}

/**
 * Runs the planned stages in order. The journal is the source of truth: every step is recorded
 * as started before it runs and as ok/failed after, so a resumed run skips what completed and
 * re-runs what was in flight. A failed stage is rolled back (its completed steps undone in reverse
 * order) and the run stops.
 */
export async function runPlaybook(input: EngineInput): Promise<RunResult> {
  const now = input.now ?? Date.now;
  const started = now();
  const { options, journal } = input;
  const runId = rotationId(options.resume, journal.records);
  const emit: RunContext['emit'] = (e) => input.reporter.emit(e);
  const registry: Registry = new Map();
  const previous = options.resume ? latestSteps(journal.records) : new Map<string, StepRecord>();
  restoreRegistry(previous, registry);
  const run: RunContext = {
    input,
    emit,
    registry,
    previous,
    scopeInput: {
      playbook: input.playbook,
      inventory: input.inventory,
      extraVars: input.extraVars,
      registry,
      run: { id: runId, stateDir: input.state.dir, dryRun: options.dryRun },
    },
    limitHosts: options.limit ? new Set(resolveHostPattern(input.inventory, options.limit.split(','))) : null,
    tally: { changed: 0, failed: 0, ranAnything: false },
    now,
  };
  if (options.dryRun) {
    // A dry run plans against the hosts as its earlier steps would leave them (see dry-run.ts).
    const world = new DryRunWorld();
    run.dryRun = { world, transports: overlayTransports(input.transports, world) };
  }

  let stages = input.plan;
  if (options.startAt) {
    const index = stages.findIndex((s) => s.stage.spec.name === options.startAt);
    if (index < 0) throw new KcarunError('E_USAGE', `--start-at: no stage named "${options.startAt}" (stages: ${stages.map((s) => s.stage.spec.name).join(', ')})`);
    stages = stages.slice(index);
  }

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
      varsChecksum: variablesChecksum(input.inventory, input.extraVars),
      startedAt: new Date(started).toISOString(),
      resumed: options.resume,
      dryRun: false,
      pid: input.pid,
    });
  }

  let result: RunResult | undefined;
  for (const planned of stages) {
    const outcome = await runStage(run, planned);
    if (outcome === 'failed') {
      result = options.dryRun
        ? { status: 'failed', exitCode: EXIT.runFailed, message: `dry run: the run would stop at stage "${planned.stage.spec.name}" (see the error above); nothing was changed` }
        : { status: 'failed', exitCode: EXIT.runFailed, message: `stage "${planned.stage.spec.name}" failed and was rolled back; fix the cause, then run again with --resume` };
      break;
    }
    if (outcome === 'interrupted') {
      result = { status: 'interrupted', exitCode: EXIT.interrupted, message: `interrupted during stage "${planned.stage.spec.name}"; run again with --resume to continue` };
      break;
    }
  }
  const { changed, failed, ranAnything } = run.tally;
  result ??= options.dryRun
    ? { status: 'planned', exitCode: EXIT.ok, message: 'dry run: nothing was changed' }
    : !ranAnything
      ? { status: 'nothing-to-do', exitCode: EXIT.ok, message: 'nothing to do: every step had completed before' }
      : changed === 0
        ? { status: 'nothing-to-do', exitCode: EXIT.ok, message: 'nothing to do: every host was already in the desired state' }
        : { status: 'succeeded', exitCode: EXIT.ok };
  if (run.dryRun) {
    emit({ event: 'plan-summary', complete: result.status === 'planned', hosts: run.dryRun.world.summary().hosts });
  }
  if (!options.dryRun) {
    const endStatus = result.status === 'nothing-to-do' || result.status === 'planned' ? 'succeeded' : result.status === 'failed' ? 'rolled-back' : result.status;
    await journal.append({ t: 'end', status: endStatus, at: isoAt(now), message: result.message });
  }
  emit({ event: 'run-end', status: result.status, exitCode: result.exitCode, durationMs: now() - started, changed, failed, message: result.message });
  return result;
}
