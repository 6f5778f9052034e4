import { mkdir, open, readFile, rename, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KcarunError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';

/**
 * The run journal: an append-only JSON-lines file in the state dir, fsync'd after every record (a
 * step's "started" mark rides with the next one), so a SIGKILL or a power cut at any moment leaves
 * every completed step on disk. Appending one line and fsyncing is the same guarantee as
 * temp+rename for a single record, without rewriting the whole journal after each of hundreds of
 * steps: a record torn by a crash is the last line, and reading drops it.
 * Records appended while a write is under way go out together in the next write and fsync (group
 * commit): each append still resolves only once its record is on disk, but 100 hosts finishing a
 * step at once cost a handful of fsyncs, not 200.
 */
export type JournalRecord =
  | { t: 'run'; runId: string; playbook: string; name: string; version: string; checksum: string; varsChecksum?: string; startedAt: string; resumed: boolean; dryRun: boolean; pid: number }
  | { t: 'stage'; stage: string; status: 'started' | 'completed' | 'failed' | 'rolled-back' | 'skipped'; at: string; message?: string }
  | {
      t: 'step';
      key: string;
      stage: string;
      task: string;
      taskIndex: number;
      host: string;
      /** interrupted: stopped by a second SIGINT while in flight; --resume runs it again. */
      status: 'started' | 'ok' | 'failed' | 'skipped' | 'rolled-back' | 'rollback-failed' | 'interrupted';
      at: string;
      changed?: boolean;
      durationMs?: number;
      register?: string;
      output?: Record<string, unknown>;
      undo?: unknown;
      /** Host files the step changed (TaskOutcome.files); absent when it changed none or ran delegated. */
      files?: string[];
      error?: { code: string; message: string };
    }
  | { t: 'end'; status: 'succeeded' | 'failed' | 'interrupted' | 'rolled-back'; at: string; message?: string };

export type StepRecord = Extract<JournalRecord, { t: 'step' }>;

/** What the engine needs of a journal; a dry run gets one that only reads. */
export interface JournalLike {
  readonly records: JournalRecord[];
  append(record: JournalRecord, options?: { sync?: boolean }): Promise<void>;
}

/** A dry run's journal: the earlier run's records, for "done before"; writes nothing. */
export async function readOnlyJournal(stateDir: string): Promise<JournalLike> {
  return { records: await readJournal(stateDir), append: async () => {} };
}

export class Journal implements JournalLike {
  private constructor(
    readonly path: string,
    private handle: FileHandle,
    readonly records: JournalRecord[],
  ) {}

  /** Opens the journal for appending; a new run moves the previous journal to runs/. */
  static async open(stateDir: string, options: { fresh: boolean }): Promise<Journal> {
    const path = journalPath(stateDir);
    let records: JournalRecord[] = [];
    if (options.fresh) {
      const previous = await readJournal(stateDir).catch(async (err: unknown) => {
        // --fresh always starts over: a journal that cannot be read is kept aside, not in the way.
        if (!(err instanceof KcarunError) || err.code !== 'E_STATE_DIR') throw err;
        await mkdir(join(stateDir, 'runs'), { recursive: true, mode: 0o700 });
        await rename(path, join(stateDir, 'runs', `corrupt-${Date.now()}.jsonl`));
        return [];
      });
      if (previous.length) {
        await mkdir(join(stateDir, 'runs'), { recursive: true, mode: 0o700 });
        const run = previous.find((r) => r.t === 'run') as Extract<JournalRecord, { t: 'run' }> | undefined;
        await rename(path, join(stateDir, 'runs', `${run?.runId ?? Date.now()}.jsonl`));
      }
      // Gone (moved to runs/) unless it held no whole record; then a torn one is cut here.
      await dropTornTail(path, await readJournalText(path));
    } else {
      const text = await readJournalText(path);
      records = parseJournal(path, text ?? '');
      await dropTornTail(path, text);
    }
    const handle = await open(path, 'a', 0o600);
    return new Journal(path, handle, records);
  }

  private pending: string[] = [];
  private waiting: { resolve: () => void; reject: (err: unknown) => void; sync: boolean }[] = [];
  private flushing: Promise<void> | undefined;

  /**
   * Resolves once the record is on disk. `sync: false` (a step's "started" record) resolves once it
   * is written: a killed process cannot lose it, and the next synced record takes it to the disk
   * too; only a power cut in between can, and then the step simply shows as not started.
   */
  append(record: JournalRecord, options: { sync?: boolean } = {}): Promise<void> {
    this.records.push(record);
    return new Promise<void>((resolve, reject) => {
      this.pending.push(`${redactSecrets(JSON.stringify(record))}\n`);
      this.waiting.push({ resolve, reject, sync: options.sync ?? true });
      this.flush();
    });
  }

  /** Writes and fsyncs everything pending, in rounds, until nothing is left; one writer at a time. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      while (this.pending.length > 0) {
        const lines = this.pending.splice(0);
        const waiting = this.waiting.splice(0);
        try {
          await this.handle.appendFile(lines.join(''));
          if (waiting.some((w) => w.sync)) await this.handle.sync();
          for (const w of waiting) w.resolve();
        } catch (err) {
          for (const w of waiting) w.reject(err);
        }
      }
    })().finally(() => {
      this.flushing = undefined;
      // An append that came while the last round was settling.
      if (this.pending.length > 0) this.flush();
    });
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.handle.close();
  }
}

/**
 * Cuts a torn last record (a SIGKILL mid-write: the file does not end in a newline) off the file
 * whose text is `text` (undefined: no file), as reading already drops it, before anything is
 * appended: a record appended after it would be glued onto it, and that line, no longer the last,
 * would make the journal unreadable.
 */
async function dropTornTail(path: string, text: string | undefined): Promise<void> {
  if (!text || text.endsWith('\n')) return;
  await truncate(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
}

/** A journal file's text; undefined when there is none. */
async function readJournalText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function journalPath(stateDir: string): string {
  return join(stateDir, 'journal.jsonl');
}

/** Reads a journal; a torn last line (SIGKILL mid-write) is dropped, any other bad line is an error. */
export async function readJournal(stateDir: string): Promise<JournalRecord[]> {
  const path = journalPath(stateDir);
  return parseJournal(path, (await readJournalText(path)) ?? '');
}

/** A journal's records from its text (rules: readJournal); `path` names it in errors. */
function parseJournal(path: string, text: string): JournalRecord[] {
  const lines = text.split('\n');
  const records: JournalRecord[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch (err) {
      const isLast = lines.slice(i + 1).every((l) => !l.trim());
      if (isLast) break;
      throw new KcarunError(
        'E_STATE_DIR',
        `${path}:${i + 1}: corrupt journal line (${(err as Error).message}); fix or delete that line to --resume, or start over with --fresh (the journal is then kept as runs/corrupt-*.jsonl)`,
        {},
        { cause: err },
      );
    }
  }
  return records;
}

/** The latest record of every step key. */
export function latestSteps(records: readonly JournalRecord[]): Map<string, StepRecord> {
  const steps = new Map<string, StepRecord>();
  for (const r of records) if (r.t === 'step') steps.set(r.key, r);
  return steps;
}

/**
 * The files `host`'s completed steps of `stage` changed (TaskContext.changedInStage): each step as
 * its latest record says, so a step rolled back since (status rolled-back) no longer counts, and
 * one completed before a --resume does.
 */
export function filesChangedInStage(records: readonly JournalRecord[], stage: string, host: string): string[] {
  const latest = new Map<string, StepRecord>();
  for (const r of records) if (r.t === 'step' && r.stage === stage && r.host === host) latest.set(r.key, r);
  return [...latest.values()].flatMap((r) => (r.status === 'ok' ? (r.files ?? []) : []));
}

export function stepKey(stage: string, taskIndex: number, host: string): string {
  return `${stage}/${taskIndex}/${host}`;
}

