import { defineTask, unknownUntilRun } from '../define.js';
import { KubeConfigMapPatchSchema } from './schema.js';

/**
 * Merges keys into a ConfigMap's data, or sets the CA of a kubeconfig stored in one (e.g.
 * kube-public/cluster-info `kubeconfig`, certificate-authority-data from a CA file on the host).
 * Rollback puts the previous values back.
 */
export const kubeConfigMapPatchTask = defineTask({
  type: 'kube-configmap-patch',
  description: "Patches a ConfigMap's data, or the CA of a kubeconfig held in it (kube-public/cluster-info).",
  schema: KubeConfigMapPatchSchema,
  run: async (ctx) => (await import('./run.js')).runConfigMapPatch(ctx),
  rollback: async (ctx, undo) => (await import('./run.js')).rollbackConfigMapPatch(ctx, undo),
  async dryRun(ctx) {
    const keys = [...Object.keys(ctx.params.data ?? {}), ...(ctx.params.kubeconfigCa ? [`${ctx.params.kubeconfigCa.key} (CA from ${ctx.params.kubeconfigCa.caFile})`] : [])];
    return {
      changed: true,
      summary: `would patch configmap ${ctx.params.namespace}/${ctx.params.name}: ${keys.join(', ')}`,
      commands: [`patch configmap ${ctx.params.namespace}/${ctx.params.name}`],
      output: { changedKeys: unknownUntilRun('the keys that differ') },
    };
  },
});
