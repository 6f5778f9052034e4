import { createHash } from 'node:crypto';
import type { Inventory } from './inventory/load.js';

/**
 * A checksum of every variable a run was given (the inventory: hosts, groups, vars; and -e), kept
 * in the journal's run record so that --resume refuses a run whose variables changed, as it
 * refuses a changed playbook: resuming with `-e target=NEW` after a run with OLD would mix both.
 */
export function variablesChecksum(inventory: Inventory, extraVars: { files: Record<string, unknown>; inline: Record<string, unknown> }): string {
  const stable = (_key: string, v: unknown): unknown => {
    if (v instanceof Map) return [...v.entries()].sort(([a], [b]) => String(a).localeCompare(String(b)));
    if (v instanceof Set) return [...v].sort();
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
    return v;
  };
  return createHash('sha256').update(JSON.stringify({ inventory, extraVars }, stable)).digest('hex');
}
