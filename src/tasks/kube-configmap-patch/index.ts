import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { KubeconfigParam } from '../shared/health-schemas.js';

/**
 * Merges keys into a ConfigMap's data, or sets the CA of a kubeconfig stored in one (e.g.
 * kube-public/cluster-info `kubeconfig`, certificate-authority-data from a CA file on the host).
 * Rollback puts the previous values back.
 */
export const kubeConfigMapPatchTask = defineTask({
  type: 'kube-configmap-patch',
  description: "Patches a ConfigMap's data, or the CA of a kubeconfig held in it (kube-public/cluster-info).",
  schema: Type.Object(
    {
      namespace: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      data: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Keys to set (merged).' })),
      kubeconfigCa: Type.Optional(
        Type.Object(
          {
            key: Type.String({ minLength: 1, description: 'Data key holding a kubeconfig (cluster-info: kubeconfig).' }),
            caFile: Type.String({ minLength: 1, description: 'CA bundle on the host to embed as certificate-authority-data.' }),
          },
          { additionalProperties: false },
        ),
      ),
      ...KubeconfigParam,
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('../shared/kube-tasks-run.js')).runConfigMapPatch(ctx),
  rollback: async (ctx, undo) => (await import('../shared/kube-tasks-run.js')).rollbackConfigMapPatch(ctx, undo),
  async dryRun(ctx) {
    return { changed: true, summary: `would patch configmap ${ctx.params.namespace}/${ctx.params.name}` };
  },
});
