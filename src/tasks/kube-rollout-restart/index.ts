import { defineTask } from '../define.js';
import { KubeRolloutRestartSchema } from './schema.js';

/** `kubectl rollout restart` of every Deployment/DaemonSet in the given namespaces, then waits for the rollouts. */
export const kubeRolloutRestartTask = defineTask({
  type: 'kube-rollout-restart',
  description: 'Restarts the Deployments and DaemonSets of namespaces (pod-template annotation) and waits for their rollout.',
  schema: KubeRolloutRestartSchema,
  run: async (ctx) => (await import('./run.js')).runRolloutRestart(ctx),
  async dryRun(ctx) {
    return { changed: true, summary: `would restart ${(ctx.params.kinds ?? ['deployments', 'daemonsets']).join(' and ')} in ${ctx.params.namespaces.join(', ')}` };
  },
});
