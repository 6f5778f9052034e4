import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KcarunError } from '../../core/errors.js';
import { parseSource } from '../source.js';
import type { Inventory } from '../inventory/load.js';
import { LOCAL_HOST } from '../inventory/patterns.js';
import type { HostInfo } from '../../core/types.js';

/** `-e` values in command-line order: `@file.yaml`, `key=value`, or an inline YAML/JSON mapping. */
export async function loadExtraVars(args: readonly string[], cwd: string): Promise<{ files: Record<string, unknown>; inline: Record<string, unknown> }> {
  const files: Record<string, unknown> = {};
  const inline: Record<string, unknown> = {};
  for (const arg of args) {
    if (arg.startsWith('@')) {
      const file = resolve(cwd, arg.slice(1));
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new KcarunError('E_USAGE', `-e ${arg}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {}, { cause: err });
      }
      // Parsed like a playbook: errors at FILE:LINE:COL, the same size, depth and alias limits.
      const value = parseSource(file, text).value;
      if (!isMapping(value)) throw new KcarunError('E_USAGE', `-e ${arg}: the file must hold a YAML mapping of variables`);
      Object.assign(files, value);
    } else if (arg.trimStart().startsWith('{')) {
      // The "file" of an inline mapping is the option itself: `-e:1:7: ...`.
      const value = parseSource('-e', arg).value;
      if (!isMapping(value)) throw new KcarunError('E_USAGE', `-e ${arg}: not a mapping`);
      Object.assign(inline, value);
    } else {
      const eq = arg.indexOf('=');
      const key = eq > 0 ? arg.slice(0, eq) : '';
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new KcarunError('E_USAGE', `-e ${arg}: expected key=value, @file.yaml or a {mapping}`);
      inline[key] = scalarValue(arg.slice(eq + 1));
    }
  }
  return { files, inline };
}

/**
 * `-e key=value`: true/false and plain whole numbers become booleans and numbers (so
 * `-e run_finalize=false` switches a stage off); anything else stays a string, so a version such
 * as 1.10 or a zero-padded 010 is not mangled. Use `-e '{key: value}'` for other types.
 */
export function scalarValue(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?(0|[1-9][0-9]{0,14})$/.test(text)) return Number(text);
  return text;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface VarLayers {
  playbook: Record<string, unknown>;
  /** From the import statements and stage files that led to a stage. */
  imports?: Record<string, unknown>;
  stage?: Record<string, unknown>;
  extraFiles: Record<string, unknown>;
  extraInline: Record<string, unknown>;
}

/**
 * A host's variables, lowest precedence first: playbook vars < (import vars < stage vars) <
 * inventory vars < group vars (parents before children, then by name) < host vars < `-e @file` <
 * `-e key=value`. Inventory beats the playbook so that an environment customises a stock playbook
 * without copying it.
 */
export function hostVars(inventory: Inventory, hostName: string, layers: VarLayers): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...layers.playbook, ...layers.imports, ...layers.stage, ...inventory.vars };
  if (hostName !== LOCAL_HOST) {
    const host = inventory.hosts.get(hostName);
    const groups = [...inventory.groups.values()]
      .filter((g) => g.name !== 'all' && host?.groups.includes(g.name))
      .sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name));
    for (const g of groups) Object.assign(merged, g.vars);
    Object.assign(merged, host?.vars);
  }
  return { ...merged, ...layers.extraFiles, ...layers.extraInline };
}

/** Facts every template can read besides vars (`host.name`, `groups.etcd`...). */
export function builtinScope(inventory: Inventory, host: HostInfo | null): Record<string, unknown> {
  return {
    host: host ? { name: host.name, address: host.address, port: host.port, user: host.user, groups: host.groups } : { name: LOCAL_HOST, address: '127.0.0.1', groups: [] },
    inventory_hostname: host?.name ?? LOCAL_HOST,
    groups: Object.fromEntries([...inventory.groups.values()].map((g) => [g.name, g.hosts])),
    hostvars: Object.fromEntries([...inventory.hosts.values()].map((h) => [h.name, { address: h.address, ...h.vars }])),
  };
}

export const BUILTIN_NAMES = ['host', 'inventory_hostname', 'groups', 'hostvars', 'run'] as const;
