import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { latestSteps, readJournal, type JournalRecord } from '../engine/journal.js';
import { readHolder } from '../engine/lock.js';
import { refuseUntrustedStateDir } from '../engine/state-dir.js';
import { Command, inventoryOption, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';
import { stateDirFor } from './prepare.js';

export interface RunStatus {
  stateDir: string;
  run: Extract<JournalRecord, { t: 'run' }> | null;
  /** running (a live lock), succeeded, failed, rolled-back, interrupted (no end record: killed), none. */
  state: 'none' | 'running' | 'succeeded' | 'failed' | 'rolled-back' | 'interrupted';
  /** Per stage, its latest status; when it first started and when it last ended (ISO times, journal clock). */
  stages: { name: string; status: string; message?: string; startedAt?: string; endedAt?: string }[];
  /** Every step's latest status, by key (`<stage>/<task index>/<host>`): ok, failed, skipped, rolled-back, started. */
  stepStatus: Record<string, string>;
  steps: { ok: number; failed: number; skipped: number; rolledBack: number; inFlight: string[] };
  lastError?: { key: string; code: string; message: string };
  lock: { pid: number; host: string; startedAt: string } | null;
}

/** Where the last run stands, from the journal alone (no host is contacted). */
export async function readRunStatus(stateDir: string, isRunning: (pid: number) => boolean): Promise<RunStatus> {
  const records = await readJournal(stateDir);
  const run = (records.find((r) => r.t === 'run') as Extract<JournalRecord, { t: 'run' }> | undefined) ?? null;
  const lock = await readHolder(join(stateDir, 'lock'));
  const stages = new Map<string, RunStatus['stages'][number]>();
  for (const r of records) {
    if (r.t !== 'stage') continue;
    const before = stages.get(r.stage);
    stages.set(r.stage, {
      name: r.stage,
      status: r.status,
      message: r.message,
      startedAt: before?.startedAt ?? (r.status === 'started' ? r.at : undefined),
      endedAt: r.status === 'started' ? before?.endedAt : r.at,
    });
  }
  const stepStatus: Record<string, string> = {};
  const steps = { ok: 0, failed: 0, skipped: 0, rolledBack: 0, inFlight: [] as string[] };
  let lastError: RunStatus['lastError'];
  for (const s of latestSteps(records).values()) {
    stepStatus[s.key] = s.status;
    if (s.status === 'ok') steps.ok++;
    else if (s.status === 'failed') steps.failed++;
    else if (s.status === 'skipped') steps.skipped++;
    else if (s.status === 'rolled-back') steps.rolledBack++;
    else if (s.status === 'started') steps.inFlight.push(s.key);
  }
  for (const r of records) if (r.t === 'step' && r.error) lastError = { key: r.key, ...r.error };
  const lastRun = records.map((r) => r.t).lastIndexOf('run');
  const end = records.slice(lastRun).find((r) => r.t === 'end') as Extract<JournalRecord, { t: 'end' }> | undefined;
  let state: RunStatus['state'] = 'none';
  if (run) {
    if (lock && isRunning(lock.pid)) state = 'running';
    else if (!end) state = 'interrupted';
    else state = end.status === 'rolled-back' ? 'rolled-back' : end.status;
  }
  return { stateDir, run, state, stages: [...stages.values()], steps, stepStatus, lastError, lock: lock && { pid: lock.pid, host: lock.host, startedAt: lock.startedAt } };
}

/** `kcarun status -i INVENTORY [--state-dir DIR] [--output json]`: its option table, then the report. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('status')
    .description('where the last run stands, from the journal alone (no host is contacted)')
    .addOption(inventoryOption('the inventory (its state dir is .kcarun/ beside it)'))
    .option('--state-dir <dir>', 'the state dir (default: .kcarun/ beside the inventory)')
    .addOption(outputOption());
  const parsed = parseCommand<{ inventory?: string; stateDir?: string; output: 'auto' | 'plain' | 'json' }>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  return statusCommand(parsed.options, io);
}

export async function statusCommand(args: { inventory?: string; stateDir?: string; output: 'plain' | 'json' | 'auto' }, io: CommandIO): Promise<number> {
  const stateDir = stateDirFor({ ...args, cwd: io.cwd });
  // A journal in a folder others can write could say anything: refused as a run would refuse it.
  if (existsSync(stateDir)) await refuseUntrustedStateDir(stateDir);
  const status = await readRunStatus(stateDir, (pid) => io.isRunning(pid));
  if (args.output === 'json') {
    io.stdout(`${JSON.stringify(status)}\n`);
    return 0;
  }
  if (!status.run) {
    io.stdout(`no run recorded in ${status.stateDir}\n`);
    return 0;
  }
  const lines = [
    `run ${status.run.runId}: ${status.run.name} ${status.run.version} (${status.run.playbook})`,
    `started ${status.run.startedAt}: ${status.state}${status.lock && status.state === 'running' ? ` (pid ${status.lock.pid} on ${status.lock.host})` : ''}`,
    `steps: ${status.steps.ok} ok, ${status.steps.failed} failed, ${status.steps.skipped} skipped, ${status.steps.rolledBack} rolled back${status.steps.inFlight.length ? `, in flight when it stopped: ${status.steps.inFlight.join(', ')}` : ''}`,
    'stages:',
    ...status.stages.map((s) => `  ${s.name}: ${s.status}${s.message ? ` — ${s.message}` : ''}`),
  ];
  if (status.lastError) lines.push(`last error (${status.lastError.key}): ${status.lastError.message}`);
  if (status.state === 'interrupted' || status.state === 'failed' || status.state === 'rolled-back') {
    lines.push(`to continue: kcarun ${status.run.playbook} -i <inventory> --resume`);
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}
