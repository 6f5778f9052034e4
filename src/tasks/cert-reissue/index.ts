import { defineTask } from '../define.js';
import { CertReissueSchema } from './schema.js';

/**
 * Re-issues a host's certificates from the new CA into the state dir (hosts/<host>/<path>),
 * ready for upload. Reads only certificates from the host, never keys.
 */
export const certReissueTask = defineTask({
  type: 'cert-reissue',
  description: "Re-issues a host's certificates from a new CA, preserving subject, SANs, usages and validity length (or a new validityDays).",
  schema: CertReissueSchema,
  run: async (ctx) => (await import('./run.js')).runCertReissue(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCertReissue(ctx),
});
