import { KcarunError } from '../../core/errors.js';
import { hasWildcard, wildcardMatcher } from '../../core/glob.js';
import type { Inventory } from './load.js';

/** The pseudo-host for tasks on the operator machine. */
export const LOCAL_HOST = 'local';

/**
 * Resolves a stage's `hosts:` to host names in inventory order. A pattern is `local`, `all`, a group,
 * a host, or a glob (`cp*`); `a:b` is a union, `a:&b` an intersection, `a:!b` an exclusion; a list
 * is the union of its patterns. Unknown names are errors, not empty sets: a typo must not turn a
 * rolling restart into a no-op.
 */
export function resolveHostPattern(inventory: Inventory, hosts: string | string[]): string[] {
  const patterns = typeof hosts === 'string' ? [hosts] : hosts;
  if (patterns.length === 1 && patterns[0] === LOCAL_HOST) return [LOCAL_HOST];
  const selected = new Set<string>();
  for (const pattern of patterns) {
    if (pattern === LOCAL_HOST) throw new KcarunError('E_SCHEMA', '`local` cannot be combined with other hosts in one stage');
    for (const h of resolveOne(inventory, pattern)) selected.add(h);
  }
  return [...inventory.hosts.keys()].filter((h) => selected.has(h));
}

function resolveOne(inventory: Inventory, pattern: string): Set<string> {
  const parts = pattern.split(':').filter((p) => p.length > 0);
  let result = new Set<string>();
  for (const [i, part] of parts.entries()) {
    if (part.startsWith('!')) {
      const minus = term(inventory, part.slice(1));
      result = new Set([...result].filter((h) => !minus.has(h)));
    } else if (part.startsWith('&')) {
      const and = term(inventory, part.slice(1));
      result = new Set([...result].filter((h) => and.has(h)));
    } else {
      const plus = term(inventory, part);
      if (i === 0) result = plus;
      else plus.forEach((h) => result.add(h));
    }
  }
  return result;
}

function term(inventory: Inventory, name: string): Set<string> {
  const group = inventory.groups.get(name);
  if (group) return new Set(group.hosts);
  if (inventory.hosts.has(name)) return new Set([name]);
  if (hasWildcard(name)) {
    const matches = wildcardMatcher(name);
    const matched = [...inventory.hosts.keys(), ...inventory.groups.keys()].filter((n) => matches(n));
    if (matched.length === 0) throw new KcarunError('E_SCHEMA', `host pattern "${name}" matches no host or group`);
    const hosts = new Set<string>();
    for (const m of matched) (inventory.groups.get(m)?.hosts ?? [m]).forEach((h) => hosts.add(h));
    return hosts;
  }
  throw new KcarunError('E_SCHEMA', `unknown host or group "${name}"`);
}
