import { Type, type Static } from '@sinclair/typebox';
import { KubeconfigParam } from '../shared/schemas.js';

export const LeaseLeaderProbeSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Lease name, e.g. kube-controller-manager or kube-scheduler.' }),
    namespace: Type.Optional(Type.String({ description: 'Default kube-system.' })),
    ...KubeconfigParam,
  },
  { additionalProperties: false },
);
export type LeaseLeaderProbeParams = Static<typeof LeaseLeaderProbeSchema>;
