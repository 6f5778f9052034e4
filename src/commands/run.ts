import { EXIT, KcarunError } from '../core/errors.js';
import { DEFAULT_FORKS, runPlaybook, type RunOptions } from '../engine/run.js';
import { readJournal, type JournalRecord } from '../engine/journal.js';
import { describeStageFields } from '../engine/stage-fields.js';
import { leaderProbeTypes, taskTypes } from '../tasks/index.js';
import { Command, Option, collect, inventoryOption, list, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';
import { preparePlaybook, type Prepared } from './prepare.js';
import { withSession, type SessionOptions } from './session.js';
import { variablesChecksum } from '../formats/vars-checksum.js';

export interface RunArgs {
  playbook: string;
  inventory?: string;
  extraVars: string[];
  stateDir?: string;
  output: 'auto' | 'plain' | 'json';
  dryRun: boolean;
  yes: boolean;
  resume: boolean;
  fresh: boolean;
  force: boolean;
  breakLock: boolean;
  acceptNewHostKeys: boolean;
  limit?: string;
  tags: string[];
  skipTags: string[];
  startAt?: string;
  forks: number;
  verbose: boolean;
}

interface RunFlags {
  inventory?: string;
  extraVars: string[];
  dryRun?: boolean;
  check?: boolean;
  yes?: boolean;
  resume?: boolean;
  fresh?: boolean;
  force?: boolean;
  startAt?: string;
  limit?: string;
  tags?: string;
  skipTags?: string;
  forks: string;
  stateDir?: string;
  output: RunArgs['output'];
  acceptNewHostKeys?: boolean;
  breakLock?: boolean;
  verbose?: boolean;
}

/** `kcarun [run] PLAYBOOK -i INVENTORY [options]`: its option table, then the run. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('run')
    .description('run a playbook')
    .argument('<playbook>', 'the playbook file')
    .addOption(inventoryOption('the inventory (hosts, groups, vars)'))
    .option('-e, --extra-vars <vars>', 'key=value, @file.yaml or {yaml}; repeatable; highest precedence', collect, [])
    .option('--dry-run', 'show what every task would do (commands, diffs); change nothing')
    .addOption(new Option('--check', 'same as --dry-run').hideHelp())
    .option('-y, --yes', 'apply without asking (required when stdin/stdout is not a terminal)')
    .option('--resume', 'continue the last run after its last completed step')
    .option('--fresh', 'start over although the last run did not finish')
    .option('--force', 'resume although the playbook changed')
    .option('--start-at <stage>', 'begin at this stage')
    .option('-l, --limit <pattern>', 'only these hosts (group, host, glob; comma-separated)')
    .option('-t, --tags <tags>', 'only tasks with these tags (comma-separated)')
    .option('--skip-tags <tags>', 'leave out tasks with these tags (comma-separated)')
    .option('-f, --forks <n>', 'hosts worked on at once within a batch', String(DEFAULT_FORKS))
    .option('--state-dir <dir>', 'journal, artifacts, backups (default: .kcarun/ beside the inventory)')
    .addOption(outputOption())
    .option('--accept-new-host-keys', 'add unknown SSH host keys to known_hosts (changed keys are always refused)')
    .option('--break-lock', 'take the run lock from a run on another host that is gone')
    .option('-v, --verbose', 'more detail in plain output');
  const parsed = parseCommand<RunFlags>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  const v = parsed.options;
  // Decimal digits only: Number() would also take "0x10", "1e9" and " 3".
  const forks = /^[0-9]{1,4}$/.test(v.forks) ? Number(v.forks) : NaN;
  if (!Number.isInteger(forks) || forks < 1) throw new KcarunError('E_USAGE', `--forks must be a whole number from 1 to 9999, not "${v.forks}"`);
  return runCommand(
    {
      playbook: parsed.args[0]!,
      inventory: v.inventory,
      extraVars: v.extraVars,
      stateDir: v.stateDir,
      output: v.output,
      dryRun: (v.dryRun ?? false) || (v.check ?? false),
      yes: v.yes ?? false,
      resume: v.resume ?? false,
      fresh: v.fresh ?? false,
      force: v.force ?? false,
      breakLock: v.breakLock ?? false,
      acceptNewHostKeys: v.acceptNewHostKeys ?? false,
      limit: v.limit,
      tags: list(v.tags),
      skipTags: list(v.skipTags),
      startAt: v.startAt,
      forks,
      verbose: v.verbose ?? false,
    },
    io,
  );
}

/** `kcarun PLAYBOOK -i INVENTORY`: the whole run, from validation to the exit code. */
export async function runCommand(args: RunArgs, io: CommandIO): Promise<number> {
  if (args.resume && args.fresh) throw new KcarunError('E_USAGE', '--resume and --fresh contradict each other: --resume continues the last run, --fresh starts over; give one');
  const prepared = await preparePlaybook({ ...args, cwd: io.cwd });
  const options: RunOptions = {
    dryRun: args.dryRun,
    limit: args.limit,
    tags: args.tags,
    skipTags: args.skipTags,
    startAt: args.startAt,
    forks: args.forks,
    resume: args.resume,
  };

  if (!args.dryRun && !args.yes) {
    // The plan is for a person at the prompt; with --output json, stdout carries JSON events only.
    (args.output === 'json' ? io.stderr : io.stdout)(describePlan(prepared));
    if (!io.interactive) {
      throw new KcarunError('E_USAGE', 'nothing was changed: this is not an interactive terminal, so kcarun needs --yes to apply the plan above (or --dry-run to preview it)');
    }
    if (!(await io.confirm('Apply this plan? [y/N] '))) {
      io.stderr('nothing was changed.\n');
      return EXIT.ok;
    }
  }

  const session: SessionOptions = {
    stateDir: prepared.stateDir,
    inventory: prepared.inventory,
    output: args.output,
    verbose: args.verbose,
    dryRun: args.dryRun,
    breakLock: args.breakLock,
    acceptNewHostKeys: args.acceptNewHostKeys,
    command: `kcarun ${args.playbook}`,
    report: true,
    liveList: true,
  };
  return withSession(session, io, async ({ state, reporter, transports, interrupt, openJournal }) => {
    // A dry run of --resume refuses what the resume would refuse (no run to resume, changed
    // variables or playbook), so its preview is the run's.
    if (!args.dryRun || args.resume) await checkResumable(prepared, state.dir, args);
    const journal = await openJournal({ fresh: !args.resume });
    const result = await runPlaybook({
      ...prepared,
      options,
      state,
      journal,
      transports,
      reporter,
      interrupt,
      taskTypes,
      leaderProbes: leaderProbeTypes,
      pid: io.pid,
      now: io.now,
    });
    return result.exitCode;
  });
}

/**
 * --resume continues the journal's run: refused when there is none, or when the playbook changed
 * since (unless --force). A new run over a killed or interrupted one is refused unless --fresh, so
 * a retry cannot silently start the procedure over from the beginning.
 */
async function checkResumable(prepared: Prepared, stateDir: string, args: RunArgs): Promise<void> {
  // --fresh always starts over, even over a journal that cannot be read (Journal.open moves it aside).
  const records: JournalRecord[] = await readJournal(stateDir).catch((err: unknown): JournalRecord[] => {
    if (args.fresh && err instanceof KcarunError && err.code === 'E_STATE_DIR') return [];
    throw err;
  });
  const runs = records.filter((r): r is Extract<JournalRecord, { t: 'run' }> => r.t === 'run');
  const first = runs[0];
  const last = [...records].reverse().find((r) => r.t === 'end') as Extract<JournalRecord, { t: 'end' }> | undefined;
  // Killed (no end record) or interrupted: a new run would silently start the procedure over, so
  // the operator chooses. A run that failed has rolled its stage back and may simply be run again
  // (a cron job's failed expiry check must not block the next one).
  const unfinished =
    runs.length > 0 && (!last || records.lastIndexOf(last) < records.lastIndexOf(runs[runs.length - 1]!) || last.status === 'interrupted');
  if (args.resume) {
    if (!first) throw new KcarunError('E_RESUME', `--resume: no run to resume in ${stateDir}`);
    if (first.varsChecksum !== undefined && first.varsChecksum !== variablesChecksum(prepared.inventory, prepared.extraVars) && !args.force) {
      throw new KcarunError(
        'E_RESUME',
        `--resume: the variables (inventory or -e) differ from the run started ${first.startedAt}; resuming would mix old and new values. Give the same -e and inventory, use --force if you are sure, or --fresh to start over.`,
      );
    }
    if (first.checksum !== prepared.playbook.checksum && !args.force) {
      throw new KcarunError(
        'E_RESUME',
        `--resume: the playbook (or a file it imports) changed since the run started (${first.startedAt}); resuming a changed procedure is unsafe. Use --force if you are sure, or --fresh to start over.`,
      );
    }
    if (first.name !== prepared.playbook.spec.metadata.name) {
      throw new KcarunError('E_RESUME', `--resume: the journal is of playbook "${first.name}", not "${prepared.playbook.spec.metadata.name}"`);
    }
    return;
  }
  if (unfinished && !args.fresh) {
    throw new KcarunError(
      'E_RESUME',
      `the last run of "${first?.name}" (started ${first?.startedAt}) did not finish: continue it with --resume, or start over with --fresh`,
    );
  }
}

/**
 * The plan shown before anything changes: stages, their hosts and tasks, with templated stage
 * fields rendered (`serial: "{{ kubelet_batch }}"` shows the batch size it renders to).
 */
export function describePlan(prepared: Prepared): string {
  const lines = [`Plan: ${prepared.playbook.spec.metadata.name} ${prepared.playbook.spec.metadata.version} (state: ${prepared.stateDir})`];
  for (const planned of prepared.plan) {
    const { stage, hosts, skipped } = planned;
    if (skipped) {
      lines.push(`  ${stage.spec.name}: skipped (${skipped})`);
      continue;
    }
    const fields = describeStageFields(planned, prepared);
    const rolling = fields.serial !== undefined ? `, serial ${fields.serial}` : '';
    const order = fields.order ? `, ${fields.order}` : '';
    const runOnce = stage.spec.runOnce ? ', once (first host)' : '';
    const when = fields.when ? `, when ${fields.when}` : '';
    lines.push(`  ${stage.spec.name} on ${hosts.join(', ') || '(no host)'}${rolling}${order}${runOnce}${when}`);
    for (const task of stage.spec.tasks) lines.push(`    - ${task.name} (${task.type})`);
  }
  return `${lines.join('\n')}\n`;
}
