import { Type, type Static } from '@sinclair/typebox';
import { CertSourceSchema, RemotePathSchema, TargetsSchema } from '../shared/schemas.js';

export const CertCheckSchema = Type.Object(
  {
    ...TargetsSchema,
    kubeconfigs: Type.Optional(
      Type.Array(RemotePathSchema(), {
        description:
          "Kubeconfigs whose user's client certificate is checked too: embedded data, or the file client-certificate names (kubelet-client-current.pem, certificate and key in one file).",
      }),
    ),
    bundle: Type.Optional(CertSourceSchema),
    skipSelfSigned: Type.Optional(
      Type.Boolean({
        description:
          "A certificate that is self-signed, or signed by a CA in its own file that is neither in `bundle` nor in `otherCas` (the kubelet's kubelet.crt without serverTLSBootstrap), is outside the rotation: listed as such under `checked`, not a problem.",
      }),
    ),
    otherCas: Type.Optional(Type.Union(CertSourceSchema.anyOf, { description: 'skipSelfSigned: more CAs of the rotation (e.g. the old CA) that never count as a certificate\'s own issuer.' })),
    minDaysLeft: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    keyMatch: Type.Optional(Type.Boolean({ default: false, description: "Compare each key's public half with its certificate (openssl on the host)." })),
    maxClockSkewSeconds: Type.Optional(Type.Number({ minimum: 0, description: "Fail when the host's clock differs from ours by more." })),
  },
  { additionalProperties: false },
);
export type CertCheckParams = Static<typeof CertCheckSchema>;
