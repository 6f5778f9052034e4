import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { CaNameSchema, GenerateSchema, KeyPolicySchema, TargetsSchema } from '../shared/pki-schemas.js';

/**
 * Re-issues a host's certificates from the new CA into the state dir (hosts/<host>/<path>),
 * ready for upload. Reads only certificates from the host, never keys.
 */
export const certReissueTask = defineTask({
  type: 'cert-reissue',
  description: "Re-issues a host's certificates from a new CA, preserving subject, SANs, usages and validity length.",
  schema: Type.Object(
    {
      ca: CaNameSchema,
      ...TargetsSchema,
      kubeconfigs: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          description:
            "Kubeconfigs whose user has a client certificate, in either style: embedded (client-certificate-data) -> hosts/<host>/<kubeconfig>.client.crt, registered under `certificates` with `kubeconfig` set, for a file-patch kubeconfig-user edit; or a file the kubeconfig names (client-certificate, e.g. kubelet-client-current.pem holding certificate and key) -> hosts/<host>/<file>, registered under `certificateFiles`, for cert-install.",
        }),
      ),
      keyPolicy: Type.Optional(KeyPolicySchema),
      renew: Type.Optional(
        Type.Boolean({
          default: false,
          description:
            "Renewal from the same CA: a certificate already in the state dir is reused only if it is newer than the host's (a resumed run), never the host's own expiring certificate.",
        }),
      ),
      generate: Type.Optional(Type.Array(GenerateSchema)),
      backdateMinutes: Type.Optional(Type.Integer({ minimum: 0, default: 60 })),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runCertReissue(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCertReissue(ctx),
});
