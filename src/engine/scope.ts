import type { Inventory } from '../formats/inventory/load.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import type { LoadedPlaybook, LoadedStage } from '../formats/playbook/load.js';
import { builtinScope, hostVars } from '../formats/playbook/vars.js';
import { resolveWholeExpressionVars } from '../formats/template.js';
import type { HostInfo } from '../core/types.js';

/** Registered task outputs, per host, by `register:` name. */
export type Registry = Map<string, Record<string, unknown>>;

export interface ScopeInput {
  playbook: LoadedPlaybook;
  inventory: Inventory;
  extraVars: { files: Record<string, unknown>; inline: Record<string, unknown> };
  registry: Registry;
  run: { id: string; stateDir: string; dryRun: boolean };
}

export const LOCAL_HOST_INFO: HostInfo = {
  name: LOCAL_HOST,
  address: '127.0.0.1',
  port: 0,
  user: '',
  groups: [],
  vars: {},
  ssh: {},
  become: false,
};

/** What templates and `when:` see for one host in one stage. Registered results beat vars. */
export function scopeFor(input: ScopeInput, stage: LoadedStage, hostName: string): { host: HostInfo; scope: Record<string, unknown> } {
  const vars = hostVars(input.inventory, hostName, {
    playbook: input.playbook.vars,
    imports: stage.importVars,
    stage: stage.spec.vars,
    extraFiles: input.extraVars.files,
    extraInline: input.extraVars.inline,
  });
  const base = hostName === LOCAL_HOST ? LOCAL_HOST_INFO : input.inventory.hosts.get(hostName)!;
  const host: HostInfo = { ...base, vars };
  const scope: Record<string, unknown> = {
    ...vars,
    ...builtinScope(input.inventory, hostName === LOCAL_HOST ? null : host),
    run: input.run,
    // What `local` stages registered (the new CAs, say) is visible to every host.
    ...input.registry.get(LOCAL_HOST),
    ...input.registry.get(hostName),
  };
  // only the vars still in the scope as themselves (a registered output of the same name wins)
  return { host, scope: resolveWholeExpressionVars(scope, Object.keys(vars).filter((k) => scope[k] === vars[k])) };
}
