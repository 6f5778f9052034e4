import { defineTask } from '../define.js';
import { CaStatusSchema } from './schema.js';

/**
 * Where a CA's rotation stands on the cluster, read from a host: the stock playbooks decide from
 * its output which phases to run, so a finished rotation run again is a no-op that says so (from
 * the certificates on the hosts, not only from the journal), and a half-done one carries on.
 */
export const caStatusTask = defineTask({
  type: 'ca-status',
  description: "Reads a CA from a host and says whether it needs rotating, whether a rotation is under way, and whether its old CA is still trusted (a bundle is in place).",
  schema: CaStatusSchema,
  run: async (ctx) => (await import('./run.js')).runCaStatus(ctx),
  // It only reads the host, so a dry run gets the real answer (read through the dry run's
  // predictions: at finalize it sees the CA the switch would have installed) and registers it. The
  // old CA is kept in the dry run's scratch state as the run keeps it, for ca-generate to read.
  dryRun: async (ctx) => {
    const outcome = await (await import('./run.js')).runCaStatus(ctx, { dryRun: !ctx.state.scratch });
    return { changed: false, summary: outcome.summary ?? '', output: outcome.output };
  },
});
