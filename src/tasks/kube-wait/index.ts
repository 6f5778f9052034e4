import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { KubeconfigParam, PollSchema } from '../shared/health-schemas.js';

/** Waits until nodes are Ready with renewing leases and (optionally) kube-root-ca.crt matches a CA file everywhere. */
export const kubeWaitTask = defineTask({
  type: 'kube-wait',
  description: 'Waits for nodes Ready (leases renewing) and kube-root-ca.crt updated in every namespace.',
  schema: Type.Object(
    {
      nodesReady: Type.Optional(Type.Boolean({ description: 'Default true.' })),
      nodes: Type.Optional(Type.Array(Type.String())),
      maxLeaseAgeSeconds: Type.Optional(Type.Number({ minimum: 1 })),
      rootCaFile: Type.Optional(Type.String({ description: 'CA bundle on the host that kube-root-ca.crt must equal in every namespace.' })),
      ...PollSchema,
      ...KubeconfigParam,
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('../shared/kube-tasks-run.js')).runKubeWait(ctx),
  async dryRun() {
    return { changed: false, summary: 'would wait for the cluster to settle' };
  },
});
