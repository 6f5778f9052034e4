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
  async dryRun() {
    return { changed: false, summary: 'would check hosts, clocks, disk, etcd, certificates and the lock (read-only)' };
  },
});
