import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { PollSchema, ProbeSchema } from '../shared/health-schemas.js';

/**
 * The gate after each restart: every probe must succeed `successes` times in a row within its
 * timeout. Probes run one after another on this step's host (see src/tasks/shared/probes.ts for why on
 * the host); the failure names the host, the probe and the last error.
 */
export const waitHealthyTask = defineTask({
  type: 'wait-healthy',
  description: 'Waits until every probe (etcd, https, tls, tcp, command, kube) is stably healthy.',
  schema: Type.Object(
    {
      probes: Type.Array(ProbeSchema, { minItems: 1 }),
      ...PollSchema,
    },
    { additionalProperties: false },
  ),
  async run(ctx) {
    const { makeProbe, probeLabel } = await import('../shared/probes.js');
    const { pollUntilStable } = await import('../../core/async.js');
    const results: Array<{ probe: string; attempts: number; seconds: number }> = [];
    for (const probe of ctx.params.probes) {
      const label = probeLabel(probe);
      const options = {
        timeoutSeconds: probe.timeoutSeconds ?? ctx.params.timeoutSeconds ?? 120,
        intervalSeconds: probe.intervalSeconds ?? ctx.params.intervalSeconds ?? 2,
        successes: probe.successes ?? ctx.params.successes ?? 3,
      };
      const attempt = makeProbe(probe, { transport: ctx.transport, address: ctx.host.address, become: ctx.host.become });
      const r = await pollUntilStable({ host: ctx.host.name, probe: label }, options, attempt, ctx.signal);
      ctx.log.info(`${label}: healthy (${options.successes} in a row, ${r.attempts} attempts, ${r.seconds.toFixed(1)} s)`);
      results.push({ probe: label, ...r });
    }
    return { changed: false, output: { probes: results }, summary: results.map((r) => `${r.probe} ok`).join(', ') };
  },
  async dryRun(ctx) {
    return { changed: false, summary: `would wait for ${ctx.params.probes.map((p) => p.name ?? p.kind).join(', ')}` };
  },
});
