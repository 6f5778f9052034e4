import { Type, type Static } from '@sinclair/typebox';
import { KubeconfigParam } from '../shared/schemas.js';
import { MAX_WAIT_SECONDS } from '../../core/async.js';

export const KubeRolloutRestartSchema = Type.Object(
  {
    namespaces: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    kinds: Type.Optional(Type.Array(Type.Union([Type.Literal('deployments'), Type.Literal('daemonsets')]), { minItems: 1 })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_WAIT_SECONDS, description: 'Rollout wait (default 300).' })),
    intervalSeconds: Type.Optional(Type.Number({ minimum: 0.1 })),
    ...KubeconfigParam,
  },
  { additionalProperties: false },
);
export type KubeRolloutRestartParams = Static<typeof KubeRolloutRestartSchema>;
