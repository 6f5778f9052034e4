import { createHash } from 'node:crypto';
import { KcarunError } from '../../core/errors.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
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

/**
 * A fetch changes no host: a dry run fetches for real into its scratch state (a later step may read
 * the artifact). A file that only an earlier step of this run makes (a backup archive) is fetched
 * by the run; its checksum is a placeholder until then.
 */
export async function planFileFetch(ctx: TaskContext<FileFetchParams>): Promise<TaskPlan> {
  const p = ctx.params;
  if (ctx.state.scratch) {
    try {
      const o = await runFileFetch(ctx);
      return { changed: o.changed, summary: `would fetch ${o.summary}`, output: o.output };
    } catch (err) {
      if (!(err instanceof KcarunError && err.code === 'E_DRY_RUN')) throw err;
      return {
        changed: true,
        summary: `would fetch ${p.src} -> ${p.artifact} (the file is made by an earlier step of this run)`,
        output: { src: p.src, exists: true, artifact: p.artifact, localPath: ctx.state.artifactPath(p.artifact), sha256: unknownUntilRun(`sha256 of ${p.src}`), size: unknownUntilRun(`size of ${p.src}`) },
      };
    }
  }
  return { changed: false, summary: `would fetch ${p.src} to artifact ${p.artifact}` };
}
