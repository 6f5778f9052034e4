import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { CaNameSchema } from '../shared/pki-schemas.js';

/**
 * Where a CA's rotation stands on the cluster, read from a host: the stock playbooks decide from
 * its output which phases to run, so a finished rotation run again is a no-op that says so (from
 * the certificates on the hosts, not only from the journal), and a half-done one carries on.
 */
export const caStatusTask = defineTask({
  type: 'ca-status',
  description: "Reads a CA from a host and says whether it needs rotating, whether a rotation is under way, and whether its old CA is still trusted (a bundle is in place).",
  schema: Type.Object(
    {
      name: CaNameSchema,
      host: Type.Optional(Type.String({ minLength: 1, description: "Inventory host to read from (default: the task's host); lets a `local` stage register the answer for every stage's `when`." })),
      cert: Type.String({ minLength: 1, description: 'The CA certificate on the host (e.g. /etc/kubernetes/pki/etcd/ca.crt).' }),
      bundle: Type.String({ minLength: 1, description: 'Where the rotation puts the new+old trust bundle on the host.' }),
      enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: report rotate=false and finalize=false (this CA is switched off).' })),
      rotateWithinDays: Type.Optional(Type.Number({ minimum: 0, default: 365, description: 'Rotate a CA that expires within this many days.' })),
      force: Type.Optional(Type.Boolean({ default: false, description: 'Rotate whatever its expiry.' })),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runCaStatus(ctx),
  // Reading a file and the state dir changes nothing, so a dry run gets the real answer.
  dryRun: async (ctx) => {
    const outcome = await (await import('./run.js')).runCaStatus(ctx, { dryRun: true });
    return { changed: false, summary: outcome.summary ?? '' };
  },
});
