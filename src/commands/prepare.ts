import { dirname, resolve } from 'node:path';
import { KcarunErrorList } from '../core/errors.js';
import { emptyInventory, loadInventory, type Inventory } from '../formats/inventory/load.js';
import { loadPlaybook, resolveVarsFiles, type LoadedPlaybook } from '../formats/playbook/load.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import { validatePlaybook, type PlannedStage } from '../formats/playbook/validate.js';
import { hostVars, loadExtraVars } from '../formats/playbook/vars.js';
import { leaderProbeTypes, taskTypes } from '../tasks/index.js';

export interface Prepared {
  playbook: LoadedPlaybook;
  inventory: Inventory;
  extraVars: { files: Record<string, unknown>; inline: Record<string, unknown> };
  plan: PlannedStage[];
  stateDir: string;
}

/**
 * Loads and validates a playbook with its inventory and -e vars: everything that can be checked
 * without touching a host. Throws the complete list of problems (exit 2).
 */
export async function preparePlaybook(args: { playbook: string; inventory?: string; extraVars: string[]; stateDir?: string; cwd: string }): Promise<Prepared> {
  const loaded = await loadPlaybook(resolve(args.cwd, args.playbook));
  const inventory = args.inventory ? await loadInventory(resolve(args.cwd, args.inventory)) : emptyInventory();
  const extraVars = await loadExtraVars(args.extraVars, args.cwd);
  // varsFiles names may use any cluster-wide var (layout...): what `local` sees, less the files themselves.
  const playbook = await resolveVarsFiles(loaded, hostVars(inventory, LOCAL_HOST, { playbook: loaded.vars, extraFiles: extraVars.files, extraInline: extraVars.inline }));
  const result = validatePlaybook({ playbook, inventory, extraVars, taskTypes, leaderProbes: leaderProbeTypes });
  if ('errors' in result) {
    throw new KcarunErrorList('E_SCHEMA', `${args.playbook}: ${result.errors.length} problem(s)`, result.errors);
  }
  return { playbook, inventory, extraVars, plan: result.plan, stateDir: stateDirFor(args) };
}

/** The state dir: --state-dir, else `.kcarun/` beside the inventory (or in the current directory). */
export function stateDirFor(args: { inventory?: string; stateDir?: string; cwd: string }): string {
  if (args.stateDir) return resolve(args.cwd, args.stateDir);
  return args.inventory ? resolve(dirname(resolve(args.cwd, args.inventory)), '.kcarun') : resolve(args.cwd, '.kcarun');
}
