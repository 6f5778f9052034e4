import type { PlannedStage } from '../formats/playbook/validate.js';
import { renderValue } from '../formats/template.js';
import type { RunContext } from './context.js';
import { missingOnHost, pathsIn } from './dry-run.js';
import { stageLogger } from './emit.js';
import { scopeFor } from './scope.js';

/**
 * The host a `leader-last` stage runs last, asked of the stage's leader probe (etcd leader,
 * lease holder, a command). A probe that fails is not fatal: the stage runs in inventory order,
 * which is still safe, only less gentle, and says so. A dry run asks live too (the order it shows
 * is the one the run would take now). Probes talk to the cluster as it is, so they read the hosts'
 * real files, never a dry run's predicted ones; a dry run whose probe needs a file only this run
 * creates (a trust bundle) says the leader is decided at run time instead of waiting on a probe
 * that cannot work. `note` says how the order was decided.
 */
export async function findLeader(run: RunContext, planned: PlannedStage, hosts: string[]): Promise<{ host: string | null; note?: string }> {
  const { input } = run;
  const spec = planned.stage.spec.leader!;
  const probe = input.leaderProbes.get(spec.type)!;
  const { scope } = scopeFor(run.scopeInput, planned.stage, hosts[0]!);
  const params = renderValue(spec.with ?? {}, scope, probe.schema);
  const log = stageLogger(run.emit, planned.stage.spec.name);
  if (input.options.dryRun) {
    const first = scopeFor(run.scopeInput, planned.stage, hosts[0]!).host;
    const missing = await missingOnHost(input.transports, first, pathsIn(params)).catch(() => []);
    if (missing.length) {
      // Said once, with the stage's hosts (stage-start's leader note).
      return { host: null, note: `leader decided at run time: the ${spec.type} probe reads ${missing.join(', ')}, which ${first.name} has only once this run made it; the leader goes last` };
    }
  }
  try {
    const leader = await probe.findLeader({
      params,
      hosts: hosts.map((h) => scopeFor(run.scopeInput, planned.stage, h).host),
      transportFor: (name) => input.transports.get(name),
      state: input.state,
      log,
      signal: input.interrupt.hardStop,
    });
    log.info(leader ? `leader is ${leader}: it goes last` : 'no leader found among the stage hosts: inventory order');
    return { host: leader, note: leader ? `leader ${leader} goes last (asked live)` : 'no leader among the stage hosts: inventory order' };
  } catch (err) {
    log.warn(`leader probe ${spec.type} failed (${(err as Error).message}); using inventory order`);
    return { host: null, note: 'leader probe failed: inventory order' };
  }
}
