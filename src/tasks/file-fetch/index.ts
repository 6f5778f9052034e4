import { defineTask } from '../define.js';
import { FileFetchSchema } from './schema.js';

export * from './schema.js';

/** Copies a host file into the state dir (e.g. existing certificates to re-issue). Changes no host. */
export const fileFetchTask = defineTask({
  type: 'file-fetch',
  description: 'Copies a file from the host into the state dir artifacts/ (keys stored 0600).',
  schema: FileFetchSchema,
  run: async (ctx) => (await import('./run.js')).runFileFetch(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planFileFetch(ctx),
});
