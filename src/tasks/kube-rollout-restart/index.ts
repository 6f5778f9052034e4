import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { KubeconfigParam } from '../shared/health-schemas.js';

/** `kubectl rollout restart` of every Deployment/DaemonSet in the given namespaces, then waits for the rollouts. */
export const kubeRolloutRestartTask = defineTask({
  type: 'kube-rollout-restart',
  description: 'Restarts the Deployments and DaemonSets of namespaces (pod-template annotation) and waits for their rollout.',
  schema: Type.Object(
    {
      namespaces: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      kinds: Type.Optional(Type.Array(Type.Union([Type.Literal('deployments'), Type.Literal('daemonsets')]), { minItems: 1 })),
      timeoutSeconds: Type.Optional(Type.Number({ minimum: 1, description: 'Rollout wait (default 300).' })),
      intervalSeconds: Type.Optional(Type.Number({ minimum: 0.1 })),
      ...KubeconfigParam,
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('../shared/kube-tasks-run.js')).runRolloutRestart(ctx),
  async dryRun(ctx) {
    return { changed: true, summary: `would restart ${(ctx.params.kinds ?? ['deployments', 'daemonsets']).join(' and ')} in ${ctx.params.namespaces.join(', ')}` };
  },
});
