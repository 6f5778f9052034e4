import { defineTask } from '../define.js';
import { PreflightSchema } from './schema.js';

/**
 * Looks at every host before anything changes, collects EVERY problem and refuses with one
 * E_PREFLIGHT message listing them all. Runs on one host (or `local`) and reaches the others with
 * transportFor, so an unreachable host is one line of the list rather than the end of the run.
 */
export const preflightTask = defineTask({
  type: 'preflight',
  description: 'Checks reachability, clocks, disk, etcd, certificates/keys/chains, CA keys, the lock and webhook CA bundles; refuses listing every problem.',
  schema: PreflightSchema,
  run: async (ctx) => (await import('./run.js')).runPreflight(ctx),
  // Every check only reads: a dry run runs them all, and refuses as the run would.
  dryRun: async (ctx) => {
    const o = await (await import('./run.js')).runPreflight(ctx);
    return { changed: false, summary: o.summary ?? '', output: o.output };
  },
});
