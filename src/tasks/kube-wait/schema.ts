import { Type, type Static } from '@sinclair/typebox';
import { KubeconfigParam, PollSchema, RemotePathSchema } from '../shared/schemas.js';

export const KubeWaitSchema = Type.Object(
  {
    nodesReady: Type.Optional(Type.Boolean({ description: 'Default true.' })),
    nodes: Type.Optional(Type.Array(Type.String())),
    maxLeaseAgeSeconds: Type.Optional(Type.Number({ minimum: 1 })),
    rootCaFile: Type.Optional(RemotePathSchema('CA bundle on the host that kube-root-ca.crt must equal in every namespace.')),
    ...PollSchema,
    ...KubeconfigParam,
  },
  { additionalProperties: false },
);
export type KubeWaitParams = Static<typeof KubeWaitSchema>;
