import type { Inventory } from '../formats/inventory/load.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import type { LoadedPlaybook } from '../formats/playbook/load.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { renderSerial } from './select.js';
import { scopeFor, type ScopeInput } from './scope.js';

/**
 * A stage's templated fields as the plan header shows them, rendered with the vars known before
 * the run (`serial: "{{ kubelet_batch }}"` -> `30%`). What depends on a registered result (a
 * `when:` on detect's output) or on the live cluster (the leader) is said to be decided at run time.
 */
export function describeStageFields(
  planned: PlannedStage,
  prepared: { playbook: LoadedPlaybook; inventory: Inventory; extraVars: ScopeInput['extraVars']; stateDir: string },
): { serial?: string; order?: string; when?: string } {
  const spec = planned.stage.spec;
  const scopeInput: ScopeInput = { ...prepared, registry: new Map(), run: { id: '(run id)', stateDir: prepared.stateDir, dryRun: false } };
  let serial: string | undefined;
  if (spec.serial !== undefined) {
    try {
      const value = renderSerial(spec.serial, scopeFor(scopeInput, planned.stage, LOCAL_HOST).scope);
      serial = Array.isArray(value) ? value.join(', then ') : String(value);
    } catch (err) {
      serial = `${JSON.stringify(spec.serial)} (decided at run time: ${(err as Error).message})`;
    }
  }
  const order =
    spec.order === 'leader-last'
      ? `leader last (${spec.leader?.type ?? 'leader'} probe asked at run time)`
      : spec.order === 'reverse'
        ? 'reverse inventory order'
        : undefined;
  const conditions = [...planned.stage.importWhen, ...(spec.when ? [spec.when] : [])];
  return { serial, order, when: conditions.length ? conditions.join(' and ') : undefined };
}
