import { EXIT, KcarunError } from '../core/errors.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import { makeBatches } from '../engine/batches.js';
import { rollbackStage } from '../engine/rollback.js';
import { scopeFor } from '../engine/scope.js';
import { renderSerial } from '../engine/select.js';
import { DEFAULT_FORKS } from '../engine/run.js';
import { readJournal, type JournalRecord } from '../engine/journal.js';
import { taskTypes } from '../tasks/index.js';
import { Command, collect, inventoryOption, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';
import { preparePlaybook, stateDirFor } from './prepare.js';
import { withSession, type SessionOptions } from './session.js';

export interface RollbackArgs {
  inventory?: string;
  stateDir?: string;
  to?: string;
  extraVars: string[];
  yes: boolean;
  force: boolean;
  breakLock: boolean;
  acceptNewHostKeys: boolean;
  output: 'auto' | 'plain' | 'json';
}

/** `kcarun rollback -i INVENTORY [--to STAGE] [--yes]`: its option table, then the rollback. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('rollback')
    .description("undo the journal's completed stages, newest first")
    .addOption(inventoryOption('the inventory (hosts, groups, vars)'))
    .option('--state-dir <dir>', 'the state dir (default: .kcarun/ beside the inventory)')
    .option('--to <stage>', 'undo down to this stage (inclusive); default: every completed stage')
    .option('-e, --extra-vars <vars>', 'key=value, @file.yaml or {yaml}; repeatable', collect, [])
    .option('-y, --yes', 'roll back without asking (required when stdin/stdout is not a terminal)')
    .option('--force', 'roll back although the playbook changed since the run')
    .option('--break-lock', 'take the run lock from a run on another host that is gone')
    .option('--accept-new-host-keys', 'add unknown SSH host keys to known_hosts (changed keys are always refused)')
    .addOption(outputOption());
  type Flags = { inventory?: string; stateDir?: string; to?: string; extraVars: string[]; yes?: boolean; force?: boolean; breakLock?: boolean; acceptNewHostKeys?: boolean; output: RollbackArgs['output'] };
  const parsed = parseCommand<Flags>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  const v = parsed.options;
  return rollbackCommand(
    {
      inventory: v.inventory,
      stateDir: v.stateDir,
      to: v.to,
      extraVars: v.extraVars,
      yes: v.yes ?? false,
      force: v.force ?? false,
      breakLock: v.breakLock ?? false,
      acceptNewHostKeys: v.acceptNewHostKeys ?? false,
      output: v.output,
    },
    io,
  );
}

/**
 * `kcarun rollback -i INVENTORY [--to STAGE]`: undoes the journal's completed stages, newest first,
 * down to STAGE (inclusive), with the playbook the journal names.
 */
export async function rollbackCommand(args: RollbackArgs, io: CommandIO): Promise<number> {
  const stateDir = stateDirFor({ ...args, cwd: io.cwd });
  const records = await readJournal(stateDir);
  const run = records.find((r) => r.t === 'run') as Extract<JournalRecord, { t: 'run' }> | undefined;
  if (!run) throw new KcarunError('E_USAGE', `no run recorded in ${stateDir}: nothing to roll back`);
  const prepared = await preparePlaybook({ playbook: run.playbook, inventory: args.inventory, extraVars: args.extraVars, stateDir, cwd: io.cwd });
  if (prepared.playbook.checksum !== run.checksum && !args.force) {
    throw new KcarunError('E_RESUME', `the playbook ${run.playbook} changed since the run; its undo steps may not match what ran. Use --force if you are sure.`);
  }
  // Completed stages in completion order (a stage completed twice counts at its latest).
  const completed: string[] = [];
  const lastStatus = new Map<string, string>();
  for (const r of records) {
    if (r.t !== 'stage') continue;
    lastStatus.set(r.stage, r.status);
    if (r.status === 'completed') {
      const i = completed.indexOf(r.stage);
      if (i >= 0) completed.splice(i, 1);
      completed.push(r.stage);
    }
  }
  const toUndo = completed.filter((s) => lastStatus.get(s) === 'completed').reverse();
  if (args.to) {
    const i = toUndo.indexOf(args.to);
    if (i < 0) throw new KcarunError('E_USAGE', `--to: stage "${args.to}" is not among the completed stages (${toUndo.join(', ') || 'none'})`);
    toUndo.splice(i + 1);
  }
  if (toUndo.length === 0) {
    io.stdout(args.output === 'json' ? `${JSON.stringify({ event: 'rollback-plan', stages: [] })}\n` : 'nothing to roll back: no completed stage in the journal\n');
    return 0;
  }
  // With --output json every stdout line is a JSON event (docs/cli.md), this plan included.
  io.stdout(args.output === 'json' ? `${JSON.stringify({ event: 'rollback-plan', stages: toUndo })}\n` : `Will undo, in this order: ${toUndo.join(', ')}\n`);
  if (!args.yes) {
    if (!io.interactive) throw new KcarunError('E_USAGE', 'nothing was changed: not an interactive terminal, so rollback needs --yes');
    if (!(await io.confirm('Roll back these stages? [y/N] '))) return 0;
  }

  const session: SessionOptions = {
    stateDir,
    inventory: prepared.inventory,
    output: args.output,
    dryRun: false,
    breakLock: args.breakLock,
    acceptNewHostKeys: args.acceptNewHostKeys,
    command: 'kcarun rollback',
    report: false,
    liveList: false,
  };
  const now = io.now ?? Date.now;
  return withSession(session, io, async ({ state, reporter, transports, interrupt, openJournal }) => {
    const journal = await openJournal({ fresh: false });
    for (const name of toUndo) {
      // A first interrupt lets the stage being undone finish, then stops: half an undo is worse.
      if (interrupt.requested) {
        reporter.emit({ event: 'log', level: 'warn', message: `interrupted: stages not rolled back: ${toUndo.slice(toUndo.indexOf(name)).join(', ')}` });
        return EXIT.interrupted;
      }
      const planned = prepared.plan.find((p) => p.stage.spec.name === name);
      if (!planned) throw new KcarunError('E_STATE', `stage "${name}" is in the journal but not in the playbook`);
      const scopeInput = { playbook: prepared.playbook, inventory: prepared.inventory, extraVars: prepared.extraVars, registry: new Map(), run: { id: run.runId, stateDir, dryRun: false } };
      // The stage's batches by its `serial` (in inventory order: the run's leader order is not kept),
      // so its rollback list restarts what it restarted as many at a time as the stage did.
      const batches = makeBatches(planned.hosts, renderSerial(planned.stage.spec.serial, scopeFor(scopeInput, planned.stage, LOCAL_HOST).scope));
      const stageOk = await rollbackStage(planned, { journal, taskTypes, state, transports, inventory: prepared.inventory, interrupt, options: { forks: DEFAULT_FORKS } }, scopeInput, (e) => reporter.emit(e), now, batches);
      await journal.append({ t: 'stage', stage: name, status: stageOk ? 'rolled-back' : 'failed', at: new Date(now()).toISOString(), message: stageOk ? 'rolled back by kcarun rollback' : 'rollback incomplete' });
      if (!stageOk) return EXIT.runFailed;
    }
    return EXIT.ok;
  });
}
