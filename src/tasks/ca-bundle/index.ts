import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { CaNameSchema, CertSourceSchema } from '../shared/pki-schemas.js';

/** new + old (new first) for the trust phase, or new alone for finalize. Written to the state dir. */
export const caBundleTask = defineTask({
  type: 'ca-bundle',
  description: 'Builds a CA bundle (new + old, or new only) in the state dir.',
  schema: Type.Object(
    {
      ca: CaNameSchema,
      old: Type.Optional(CertSourceSchema),
      mode: Type.Optional(Type.Union([Type.Literal('new+old'), Type.Literal('new')], { default: 'new+old' })),
      output: Type.Optional(Type.String({ minLength: 1, description: 'Artifact path; default ca/<ca>-bundle.crt (new+old) or ca/<ca>-new.crt.' })),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runCaBundle(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCaBundle(ctx),
});
