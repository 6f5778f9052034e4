import { defineTask, unknownUntilRun } from '../define.js';
import { KubeRolloutRestartSchema } from './schema.js';

/** `kubectl rollout restart` of every Deployment/DaemonSet in the given namespaces, then waits for the rollouts. */
export const kubeRolloutRestartTask = defineTask({
  type: 'kube-rollout-restart',
  description: 'Restarts the Deployments and DaemonSets of namespaces (pod-template annotation) and waits for their rollout.',
  schema: KubeRolloutRestartSchema,
  run: async (ctx) => (await import('./run.js')).runRolloutRestart(ctx),
  async dryRun(ctx) {
    const kinds = (ctx.params.kinds ?? ['deployments', 'daemonsets']).join(' and ');
    return {
      changed: true,
      summary: `would restart ${kinds} in ${ctx.params.namespaces.join(', ')}`,
      restarts: ctx.params.namespaces.map((ns) => ({ component: `${kinds} in ${ns}`, how: 'rollout restart' })),
      output: { restarted: unknownUntilRun('the workloads restarted'), restartedAt: unknownUntilRun('time') },
    };
  },
});
