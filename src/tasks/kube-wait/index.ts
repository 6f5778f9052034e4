import { defineTask, unknownUntilRun } from '../define.js';
import { KubeWaitSchema } from './schema.js';

/** Waits until nodes are Ready with renewing leases and (optionally) kube-root-ca.crt matches a CA file everywhere. */
export const kubeWaitTask = defineTask({
  type: 'kube-wait',
  description: 'Waits for nodes Ready (leases renewing) and kube-root-ca.crt updated in every namespace.',
  schema: KubeWaitSchema,
  run: async (ctx) => (await import('./run.js')).runKubeWait(ctx),
  async dryRun(ctx) {
    const what = [
      ctx.params.nodesReady === false ? '' : ctx.params.nodes?.length ? `node(s) ${ctx.params.nodes.join(', ')} Ready` : 'every node Ready',
      ctx.params.rootCaFile ? `kube-root-ca.crt = ${ctx.params.rootCaFile} in every namespace` : '',
    ].filter(Boolean).join(', ');
    return { changed: false, summary: `would wait for ${what || 'the cluster to settle'}`, gate: what || 'cluster settled', output: { seconds: unknownUntilRun('seconds') } };
  },
});
