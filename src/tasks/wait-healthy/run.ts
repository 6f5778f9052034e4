import { pollUntilStable } from '../../core/async.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { makeProbe, probeLabel } from './probes.js';
import type { WaitHealthyParams } from './schema.js';

export async function runWaitHealthy(ctx: TaskContext<WaitHealthyParams>): Promise<TaskOutcome> {
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
}
