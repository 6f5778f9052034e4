import { defineTask } from '../define.js';
import { CaBundleSchema } from './schema.js';

/** new + old (new first) for the trust phase, or new alone for finalize. Written to the state dir. */
export const caBundleTask = defineTask({
  type: 'ca-bundle',
  description: 'Builds a CA bundle (new + old, or new only) in the state dir.',
  schema: CaBundleSchema,
  run: async (ctx) => (await import('./run.js')).runCaBundle(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCaBundle(ctx),
});
