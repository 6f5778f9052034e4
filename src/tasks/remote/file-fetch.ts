import { Type, type Static } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { BecomeSchema, ModeSchema } from './schemas.js';

export const FileFetchSchema = Type.Object(
  {
    src: Type.String({ minLength: 1, description: 'Path on the host.' }),
    artifact: Type.String({ minLength: 1, description: 'Where to store it in the state dir artifacts/, e.g. hosts/cp1/apiserver.crt.' }),
    mode: Type.Optional(ModeSchema),
    missingOk: Type.Optional(Type.Boolean({ default: false, description: 'A missing file is not an error (output.exists=false).' })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type FileFetchParams = Static<typeof FileFetchSchema>;

/** Copies a host file into the state dir (e.g. existing certificates to re-issue). Changes no host. */
export const fileFetchTask = defineTask({
  type: 'file-fetch',
  description: 'Copies a file from the host into the state dir artifacts/ (keys stored 0600).',
  schema: FileFetchSchema,
  run: async (ctx) => (await import('./impl/file-transfer.js')).runFileFetch(ctx),
  async dryRun(ctx) {
    return { changed: false, summary: `would fetch ${ctx.params.src} to artifact ${ctx.params.artifact}` };
  },
});
