import { defineTask } from '../define.js';
import { CertCheckSchema } from './schema.js';

/** Preflight and post-check: chain, expiry, SANs, key match, clock. Fails naming host and path. */
export const certCheckTask = defineTask({
  type: 'cert-check',
  description: "Asserts a host's certificates chain to a bundle, are not expiring, carry SANs and match their keys.",
  schema: CertCheckSchema,
  run: async (ctx) => (await import('./run.js')).runCertCheck(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCertCheck(ctx),
});
