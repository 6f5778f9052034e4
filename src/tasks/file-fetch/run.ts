import { createHash } from 'node:crypto';
import { KcarunError } from '../../core/errors.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { looksLikePrivateKey, parseMode } from '../shared/file-mode.js';
import type { FileFetchParams } from './schema.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export async function runFileFetch(ctx: TaskContext<FileFetchParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const { st, content: data } = await statAndRead(ctx.transport, p.src, p.become);
  if (st === null || data === null) {
    if (p.missingOk) return { changed: false, summary: `${p.src} does not exist`, output: { src: p.src, exists: false } };
    throw new KcarunError('E_TASK', `${p.src} does not exist`, { host: ctx.host.name });
  }
  const previous = await ctx.state.readArtifact(p.artifact);
  const mode = parseMode(p.mode) ?? (looksLikePrivateKey(p.src, data) ? 0o600 : 0o644);
  const path = await ctx.state.writeArtifact(p.artifact, data, { mode });
  const changed = previous === null || !previous.equals(data);
  return {
    changed,
    summary: `${p.src} -> ${p.artifact}`,
    output: { src: p.src, exists: true, artifact: p.artifact, localPath: path, sha256: sha256(data), size: data.length },
  };
}
