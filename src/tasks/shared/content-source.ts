import { KcarunError } from '../../core/errors.js';
import type { TaskContext } from '../define.js';
import type { ContentSource } from './schemas.js';

/** The bytes of a content source: a state-dir artifact, a file on this host, or inline text. */
export async function readContentSource(ctx: TaskContext<unknown>, source: ContentSource, become: boolean | undefined): Promise<Buffer> {
  if ('artifact' in source) {
    const data = await ctx.state.readArtifact(source.artifact);
    if (data === null) throw new KcarunError('E_TASK', `artifact ${source.artifact} does not exist in ${ctx.state.dir}/artifacts (run the step that generates it first)`, { host: ctx.host.name });
    return data;
  }
  if ('hostFile' in source) return ctx.transport.readFile(source.hostFile, { become });
  return Buffer.from(source.content);
}

/** Short description for summaries (never the content itself). */
export function describeSource(source: ContentSource | { path: string }): string {
  if ('artifact' in source) return `artifact ${source.artifact}`;
  if ('hostFile' in source) return source.hostFile;
  if ('path' in source) return `path ${source.path}`;
  return 'inline content';
}
