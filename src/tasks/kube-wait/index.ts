import { defineTask } from '../define.js';
import { KubeWaitSchema } from './schema.js';

/** Waits until nodes are Ready with renewing leases and (optionally) kube-root-ca.crt matches a CA file everywhere. */
export const kubeWaitTask = defineTask({
  type: 'kube-wait',
  description: 'Waits for nodes Ready (leases renewing) and kube-root-ca.crt updated in every namespace.',
  schema: KubeWaitSchema,
  run: async (ctx) => (await import('./run.js')).runKubeWait(ctx),
  async dryRun() {
    return { changed: false, summary: 'would wait for the cluster to settle' };
  },
});
