import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KcarunError } from '../../core/errors.js';
import { safeFileName } from '../../core/names.js';
import { shellQuote } from '../../core/shell.js';
import { writeFileAtomic } from '../../transport/local.js';
import type { FileStat } from '../../transport/types.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { TaskContext } from '../define.js';

/**
 * Backups of remote files in the state dir (backups/<host>/), keyed by step id and path, and the
 * undo that restores them. RunState only hands out the directory, so this module does the local
 * file I/O itself. Backups may hold key material: always 0600 inside the 0700 state dir.
 */
export interface FileUndo {
  path: string;
  /** Local backup file; absent when the file did not exist before the step. */
  backupFile?: string;
  /** Permission bits, owner and group of the original. */
  mode?: number;
  uid?: number;
  gid?: number;
  existed: boolean;
  become?: boolean;
}

export function backupName(stepId: string, path: string): string {
  const safe = (s: string) => safeFileName(s).replace(/^_+|_+$/g, '');
  // The hash keeps two paths that flatten to the same name apart.
  const h = createHash('sha256').update(`${stepId}\0${path}`).digest('hex').slice(0, 8);
  return `${safe(stepId)}__${safe(path)}.${h}.bak`;
}

/**
 * Copies `original` (the content as read just before changing it) into the backup dir, with its
 * mode and owner beside it, and returns the undo. Taken on every change, so a re-run after a
 * rollback or a manual edit backs up what is there now.
 */
export async function saveBackup(ctx: TaskContext<unknown>, path: string, original: Buffer | null, st: FileStat | null, become: boolean | undefined): Promise<FileUndo> {
  const undo: FileUndo = { path, existed: original !== null, become };
  if (original === null) return undo;
  const dir = await ctx.state.backupDir(ctx.host.name);
  const backupFile = join(dir, backupName(ctx.stepId, path));
  await writeFileAtomic(backupFile, original, 0o600);
  const meta = { mode: st?.mode, uid: st?.uid, gid: st?.gid };
  await writeFileAtomic(`${backupFile}.meta.json`, JSON.stringify(meta), 0o600);
  return { ...undo, backupFile, ...meta };
}

function isFileUndo(u: unknown): u is FileUndo {
  return typeof u === 'object' && u !== null && typeof (u as FileUndo).path === 'string' && typeof (u as FileUndo).existed === 'boolean';
}

/** Puts the original back (content, mode, owner), or removes a file the step created. Safe to repeat. */
export async function restoreBackup(ctx: TaskContext<unknown>, undo: unknown): Promise<void> {
  if (!isFileUndo(undo)) throw new KcarunError('E_ROLLBACK', 'file undo data is malformed', { host: ctx.host.name });
  const become = undo.become;
  if (!undo.existed) {
    // Through a symlink the step created the link's target: that goes, the link stays (docs/security.md).
    const q = shellQuote(undo.path);
    const res = await ctx.transport.exec(`if [ -L ${q} ]; then rm -f -- "$(readlink -f -- ${q})"; else rm -f -- ${q}; fi`, { become, signal: ctx.signal });
    if (res.rc !== 0) throw new KcarunError('E_ROLLBACK', `cannot remove ${undo.path}: ${res.stderr.trim()}`, { host: ctx.host.name });
    ctx.log.info(`removed ${undo.path} (it did not exist before)`);
    return;
  }
  if (!undo.backupFile) throw new KcarunError('E_ROLLBACK', `no backup recorded for ${undo.path}`, { host: ctx.host.name });
  let original: Buffer;
  try {
    original = await readFile(undo.backupFile);
  } catch (err) {
    throw new KcarunError('E_ROLLBACK', `backup of ${undo.path} is missing (${undo.backupFile}): ${(err as Error).message}`, { host: ctx.host.name }, { cause: err });
  }
  const { st, content: current } = await statAndRead(ctx.transport, undo.path, become);
  const sameMeta = st !== null && (undo.mode === undefined || st.mode === undo.mode) && (undo.uid === undefined || (st.uid === undo.uid && st.gid === undo.gid));
  if (current && current.equals(original) && sameMeta) return;
  await ctx.transport.writeFile(undo.path, original, {
    mode: undo.mode,
    owner: undo.uid !== undefined ? String(undo.uid) : undefined,
    group: undo.gid !== undefined ? String(undo.gid) : undefined,
    become,
  });
  ctx.log.info(`restored ${undo.path} from ${undo.backupFile}`);
}
