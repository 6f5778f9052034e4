import { defineTask } from '../define.js';
import { CaGenerateSchema } from './schema.js';

/** Makes a new CA once per run state dir; a repeated or resumed run reuses it. Runs on `local`. */
export const caGenerateTask = defineTask({
  type: 'ca-generate',
  description: 'Creates a new CA (kept in the state dir; reused when it already exists).',
  schema: CaGenerateSchema,
  run: async (ctx) => (await import('./run.js')).runCaGenerate(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCaGenerate(ctx),
});
