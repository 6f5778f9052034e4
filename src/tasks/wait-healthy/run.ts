import { pollUntilStable, ProbeFailure, type PollOptions } from '../../core/async.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { makeProbe, probeLabel, type ProbeAttempt } from './probes.js';
import type { WaitHealthyParams } from './schema.js';

interface GateProbe {
  label: string;
  options: PollOptions;
  attempt: ProbeAttempt;
  /** When the probe's current run of successes began (ms since the gate started), undefined while failing. */
  okSinceMs?: number;
}

/**
 * One gate: every probe runs at once in each round, and the gate is stable after `successes`
 * rounds in a row in which all of them passed together — a component that answers only while its
 * neighbour is down is not healthy. The round is the attempt of core/async's pollUntilStable, so
 * the deadline, the cut-off of a hung attempt and the E_TIMEOUT message are the same as for any wait.
 * Per-probe settings, where they differ: the gate waits as long as its longest timeout, asks for
 * its largest `successes`, polls at its shortest interval, and a probe still failing once its own
 * (shorter) timeout has passed ends the gate, named in the message.
 */
export async function runWaitHealthy(ctx: TaskContext<WaitHealthyParams>): Promise<TaskOutcome> {
  const now = Date.now;
  const probes: GateProbe[] = ctx.params.probes.map((probe) => ({
    label: probeLabel(probe),
    options: {
      timeoutSeconds: probe.timeoutSeconds ?? ctx.params.timeoutSeconds ?? 120,
      intervalSeconds: probe.intervalSeconds ?? ctx.params.intervalSeconds ?? 2,
      successes: probe.successes ?? ctx.params.successes ?? 3,
    },
    attempt: makeProbe(probe, { transport: ctx.transport, address: ctx.host.address, become: ctx.host.become }),
  }));
  const gate: PollOptions = {
    timeoutSeconds: Math.max(...probes.map((p) => p.options.timeoutSeconds)),
    intervalSeconds: Math.min(...probes.map((p) => p.options.intervalSeconds)),
    successes: Math.max(...probes.map((p) => p.options.successes)),
  };
  const start = now();
  const round = async (streak: number, signal: AbortSignal): Promise<void> => {
    const roundStart = now() - start;
    const settled = await Promise.allSettled(probes.map((p) => p.attempt(streak, signal)));
    const failed: Array<{ probe: GateProbe; message: string }> = [];
    settled.forEach((r, i) => {
      const probe = probes[i]!;
      if (r.status === 'fulfilled') probe.okSinceMs ??= roundStart;
      else {
        probe.okSinceMs = undefined;
        failed.push({ probe, message: r.reason instanceof Error ? r.reason.message : String(r.reason) });
      }
    });
    if (failed.length === 0) return;
    // Name every probe that failed in this round; the one with the shortest timeout decides when to give up.
    const label = failed.map((f) => f.probe.label).join(', ');
    const message = failed.length === 1 ? failed[0]!.message : failed.map((f) => `${f.probe.label}: ${f.message}`).join('; ');
    throw new ProbeFailure(label, message, Math.min(...failed.map((f) => f.probe.options.timeoutSeconds)));
  };
  const label = probes.length === 1 ? probes[0]!.label : `gate (${probes.map((p) => p.label).join(', ')})`;
  const r = await pollUntilStable({ host: ctx.host.name, probe: label }, gate, round, ctx.signal, now);
  const results = probes.map((p) => ({ probe: p.label, attempts: r.attempts, seconds: r.seconds, healthyAfterSeconds: (p.okSinceMs ?? 0) / 1000 }));
  for (const p of results) ctx.log.info(`${p.probe}: healthy from ${p.healthyAfterSeconds.toFixed(1)} s`);
  ctx.log.info(`gate stable: ${gate.successes} rounds in a row of ${probes.length} probe(s), ${r.attempts} rounds, ${r.seconds.toFixed(1)} s`);
  return { changed: false, output: { probes: results, rounds: r.attempts, seconds: r.seconds }, summary: results.map((p) => `${p.probe} ok`).join(', ') };
}
