import type { PlannedStage } from '../formats/playbook/validate.js';
import { renderValue } from '../formats/template.js';
import type { RunContext } from './context.js';
import { stageLogger } from './emit.js';
import { scopeFor } from './scope.js';

/**
 * The host a `leader-last` stage runs last, asked of the stage's leader probe (etcd leader,
 * lease holder, a command). A probe that fails is not fatal: the stage runs in inventory order,
 * which is still safe, only less gentle, and says so.
 */
export async function findLeader(run: RunContext, planned: PlannedStage, hosts: string[]): Promise<string | null> {
  const { input } = run;
  const spec = planned.stage.spec.leader!;
  const probe = input.leaderProbes.get(spec.type)!;
  const { scope } = scopeFor(run.scopeInput, planned.stage, hosts[0]!);
  const params = renderValue(spec.with ?? {}, scope, probe.schema);
  const log = stageLogger(run.emit, planned.stage.spec.name);
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
    return leader;
  } catch (err) {
    log.warn(`leader probe ${spec.type} failed (${(err as Error).message}); using inventory order`);
    return null;
  }
}
