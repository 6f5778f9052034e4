import { defineTask } from '../define.js';
import { WaitHealthySchema } from './schema.js';

/**
 * The gate after each restart: every probe must succeed `successes` times in a row within its
 * timeout. Probes run one after another on this step's host (see ./probes.ts for why on the host);
 * the failure names the host, the probe and the last error.
 */
export const waitHealthyTask = defineTask({
  type: 'wait-healthy',
  description: 'Waits until every probe (etcd, https, tls, tcp, command, kube) is stably healthy.',
  schema: WaitHealthySchema,
  run: async (ctx) => (await import('./run.js')).runWaitHealthy(ctx),
  async dryRun(ctx) {
    return { changed: false, summary: `would wait for ${ctx.params.probes.map((p) => p.name ?? p.kind).join(', ')}` };
  },
});
