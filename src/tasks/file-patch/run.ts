import { KcarunError } from '../../core/errors.js';
import { unifiedDiff } from '../../edit/unified-diff.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import type { FileStat } from '../../transport/types.js';
import type { FilePatchParams } from './schema.js';
import { saveBackup } from '../shared/backup.js';
import { applyFileEdits } from '../shared/file-edits.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import { redactDiff } from '../shared/redact-diff.js';
import { diffStats } from '../shared/planned-file.js';
import { unknownUntilRun } from '../define.js';

interface Computed {
  /** The file as found: its mode and owner are the ones a write keeps. */
  st: FileStat | null;
  before: string | null;
  after: string;
  changed: boolean;
  diff: string;
  summaries: string[];
}

/** Reads the file, applies every edit in memory, and diffs; writes nothing. Null: absent, and `missing: skip`. */
async function compute(ctx: TaskContext<FilePatchParams>): Promise<Computed | null> {
  const p = ctx.params;
  const { st, content } = await statAndRead(ctx.transport, p.path, p.become);
  let before: string | null = null;
  if (content === null) {
    if (!p.createIfMissing && p.missing === 'skip') return null;
    if (!p.createIfMissing) throw new KcarunError('E_TASK', `${p.path} does not exist (set createIfMissing to start from an empty file)`, { host: ctx.host.name });
  } else {
    before = content.toString('utf8');
  }
  const { text, summaries } = await applyFileEdits(ctx, before ?? '', p.edits);
  const changed = text !== (before ?? '') || (before === null && p.createIfMissing === true && text !== '');
  const diff = changed ? redactDiff(unifiedDiff(before ?? '', text, { oldLabel: `${ctx.host.name}:${p.path}`, newLabel: `${ctx.host.name}:${p.path}` })) : '';
  return { st, before, after: text, changed, diff, summaries };
}

const absentSummary = (path: string): string => `${path} does not exist on this host: skipped (missing: skip)`;

export async function runFilePatch(ctx: TaskContext<FilePatchParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const c = await compute(ctx);
  if (c === null) {
    ctx.log.warn(absentSummary(p.path));
    return { changed: false, summary: absentSummary(p.path), output: { path: p.path, changed: false, absent: true } };
  }
  if (!c.changed) return { changed: false, summary: `${p.path} already as wanted`, output: { path: p.path, changed: false } };
  const undo = await saveBackup(ctx, p.path, c.before === null ? null : Buffer.from(c.before), c.st, p.become);
  await ctx.transport.writeFile(p.path, c.after, { become: p.become, mode: c.st?.mode ?? 0o644 });
  ctx.log.info(`patched ${p.path}: ${c.summaries.join(', ')}`);
  return {
    changed: true,
    undo,
    diff: c.diff,
    summary: `${p.path}: ${c.summaries.join(', ')}`,
    output: { path: p.path, changed: true, backupFile: undo.backupFile ?? null },
    files: [p.path],
  };
}

/** The exact diff (secrets redacted), and the patched file for the steps planned after this one. */
export async function planFilePatch(ctx: TaskContext<FilePatchParams>): Promise<TaskPlan> {
  const p = ctx.params;
  const c = await compute(ctx);
  if (c === null) return { changed: false, summary: absentSummary(p.path), output: { path: p.path, changed: false, absent: true } };
  if (!c.changed) return { changed: false, summary: `${p.path} already as wanted`, output: { path: p.path, changed: false } };
  return {
    changed: true,
    summary: `would patch ${p.path}: ${c.summaries.join(', ')}`,
    diff: c.diff,
    files: [{ path: p.path, kind: c.before === null ? 'create' : 'modify', content: Buffer.from(c.after), mode: c.st?.mode ?? 0o644, ...diffStats(c.diff) }],
    output: { path: p.path, changed: true, backupFile: unknownUntilRun(`backup of ${p.path}`) },
  };
}
