import { createHash } from 'node:crypto';
import { KcarunError } from '../../core/errors.js';
import { shellQuote } from '../../core/shell.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { FileStat } from '../../transport/types.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import { plannedFileChange } from '../shared/planned-file.js';
import { saveBackup } from '../shared/backup.js';
import { looksLikePrivateKey, parseMode } from '../shared/file-mode.js';
import type { FileUploadParams } from './schema.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function uploadSource(ctx: TaskContext<FileUploadParams>): Promise<{ data: Buffer; label: string }> {
  const p = ctx.params;
  if ((p.artifact === undefined) === (p.content === undefined)) {
    throw new KcarunError('E_SCHEMA', 'file-upload needs exactly one of `artifact` or `content`', { host: ctx.host.name });
  }
  if (p.content !== undefined) return { data: Buffer.from(p.content), label: 'inline content' };
  const data = await ctx.state.readArtifact(p.artifact!);
  if (data === null) throw new KcarunError('E_TASK', `artifact ${p.artifact} does not exist in ${ctx.state.dir}/artifacts`, { host: ctx.host.name });
  return { data, label: `artifact ${p.artifact}` };
}

interface RemoteState {
  exists: boolean;
  mode?: number;
  owner?: string;
  group?: string;
  sha256?: string;
  /** Stat and content, when they were read to take the checksum (reused for the backup). */
  st?: FileStat;
  content?: Buffer;
}

/** Files up to this size are checksummed by reading them back over SFTP instead of running sha256sum. */
const READ_BACK_LIMIT = 1024 * 1024;

/**
 * Mode, checksum (and owner names when asked for) of the destination. Through SFTP when the
 * transport reaches files directly and no owner names are needed: a stat and a read cost the host
 * far less than a shell running stat and sha256sum, which matters with a hundred hosts at once.
 * Otherwise one command does it all.
 */
async function remoteState(ctx: TaskContext<FileUploadParams>): Promise<RemoteState> {
  const p = ctx.params;
  if (p.owner === undefined && p.group === undefined && ctx.transport.directFileAccess({ become: p.become })) {
    const st = await ctx.transport.stat(p.dest, { become: p.become });
    if (st === null) return { exists: false };
    if (st.size <= READ_BACK_LIMIT) {
      const content = await ctx.transport.readFile(p.dest, { become: p.become });
      return { exists: true, mode: st.mode, sha256: sha256(content), st, content };
    }
  }
  const dest = shellQuote(p.dest);
  const res = await ctx.transport.exec(`if [ -e ${dest} ]; then stat -L -c '%a %U %G' -- ${dest} && sha256sum -- ${dest}; else echo absent; fi`, {
    become: p.become,
    signal: ctx.signal,
  });
  if (res.rc !== 0) throw new KcarunError('E_TASK', `cannot inspect ${p.dest}: ${res.stderr.trim()}`, { host: ctx.host.name });
  const lines = res.stdout.trim().split('\n');
  if (lines[0] === 'absent') return { exists: false };
  const [mode, owner, group] = (lines[0] ?? '').split(' ');
  return { exists: true, mode: parseInt(mode ?? '0', 8), owner, group, sha256: (lines[1] ?? '').split(' ')[0] };
}

function plannedChanges(p: FileUploadParams, data: Buffer, mode: number, r: RemoteState): string[] {
  if (!r.exists) return ['create'];
  const out: string[] = [];
  if (r.sha256 !== sha256(data)) out.push('content');
  if (r.mode !== mode) out.push(`mode ${r.mode?.toString(8)} -> ${mode.toString(8)}`);
  if (p.owner !== undefined && p.owner !== r.owner && p.owner !== String(r.owner)) out.push(`owner -> ${p.owner}`);
  if (p.group !== undefined && p.group !== r.group) out.push(`group -> ${p.group}`);
  return out;
}

function wantedMode(p: FileUploadParams, data: Buffer, r: RemoteState): number {
  return parseMode(p.mode) ?? (looksLikePrivateKey(p.dest, data) ? 0o600 : (r.mode ?? 0o644));
}

export async function runFileUpload(ctx: TaskContext<FileUploadParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const { data, label } = await uploadSource(ctx);
  const before = await remoteState(ctx);
  const output = { dest: p.dest, sha256: sha256(data), size: data.length };
  if (p.onlyIfExists && !before.exists) return { changed: false, summary: `${p.dest} absent: not created (onlyIfExists)`, output: { ...output, changed: false, absent: true } };
  const mode = wantedMode(p, data, before);
  const changes = plannedChanges(p, data, mode, before);
  if (changes.length === 0) return { changed: false, summary: `${p.dest} up to date`, output: { ...output, changed: false } };
  const { st, content: original } = !before.exists
    ? { st: null, content: null }
    : before.st && before.content
      ? { st: before.st, content: before.content }
      : await statAndRead(ctx.transport, p.dest, p.become);
  const undo = await saveBackup(ctx, p.dest, original, st, p.become);
  await ctx.transport.writeFile(p.dest, data, { mode, owner: p.owner, group: p.group, become: p.become });
  // Read the checksum back: the summary claims the host has exactly these bytes.
  const after = await remoteState(ctx);
  if (after.sha256 !== output.sha256) throw new KcarunError('E_TASK', `${p.dest}: checksum after upload does not match (${after.sha256} != ${output.sha256})`, { host: ctx.host.name });
  return { changed: true, undo, summary: `${p.dest} from ${label} (${changes.join(', ')})`, output: { ...output, changed: true }, files: [p.dest] };
}

export async function planFileUpload(ctx: TaskContext<FileUploadParams>): Promise<TaskPlan> {
  const p = ctx.params;
  const { data, label } = await uploadSource(ctx);
  const before = await remoteState(ctx);
  const output = { dest: p.dest, sha256: sha256(data), size: data.length };
  if (p.onlyIfExists && !before.exists) return { changed: false, summary: `${p.dest} absent: would not be created (onlyIfExists)`, output: { ...output, changed: false, absent: true } };
  const mode = wantedMode(p, data, before);
  const changes = plannedChanges(p, data, mode, before);
  if (changes.length === 0) return { changed: false, summary: `${p.dest} up to date`, output: { ...output, changed: false } };
  // The content as it is now (or as an earlier planned step leaves it): what the diff is against.
  const current = before.exists ? (before.content ?? (await ctx.transport.readFile(p.dest, { become: p.become }).catch(() => null))) : null;
  const { file, diff } = await plannedFileChange(ctx.transport.host, p.dest, current, data, mode, before.mode);
  return { changed: true, summary: `would write ${p.dest} from ${label} (${changes.join(', ')})`, diff, files: [file], output: { ...output, changed: true } };
}

