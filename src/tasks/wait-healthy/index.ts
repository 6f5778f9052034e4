import { defineTask, unknownUntilRun } from '../define.js';
import { WaitHealthySchema } from './schema.js';

/**
 * The gate after each restart: all probes run at once in each round, and `successes` rounds in a
 * row in which every probe passed make the component stably healthy (see ./run.ts; ./probes.ts for
 * why probes run on the host); the failure names the host, the probe that failed last and its error.
 */
export const waitHealthyTask = defineTask({
  type: 'wait-healthy',
  description: 'Waits until every probe (etcd, https, tls, tcp, command, kube) is stably healthy.',
  schema: WaitHealthySchema,
  run: async (ctx) => (await import('./run.js')).runWaitHealthy(ctx),
  // A gate follows a planned change: it is shown, not run (the cluster has not changed yet).
  async dryRun(ctx) {
    const { probeLabel } = await import('./probes.js');
    const labels = ctx.params.probes.map((p) => probeLabel(p));
    return {
      changed: false,
      summary: `would wait for ${labels.join(', ')}`,
      gate: labels.join(', '),
      output: { probes: labels.map((probe) => ({ probe, attempts: unknownUntilRun('attempts'), seconds: unknownUntilRun('seconds') })) },
    };
  },
});
