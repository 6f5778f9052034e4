import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { KcarunError, KcarunErrorList } from '../../core/errors.js';
import { schemaErrors } from '../schema-check.js';
import { InventorySchema, type InventoryGroupSpec, type InventorySpec } from '../playbook/schema.js';
import { locate, readSourceFile, type SourceFile } from '../source.js';
import type { HostInfo } from '../../core/types.js';
import { inventoryHostProblems } from './host-checks.js';

export interface InventoryGroup {
  name: string;
  /** Every host of the group, its children's included, in inventory order. */
  hosts: string[];
  vars: Record<string, unknown>;
  /** Nesting depth: `all` is 0, top-level groups 1, their children 2...; vars apply parents first. */
  depth: number;
}

/** An inventory with hosts and groups resolved; host vars are not merged yet (see vars.ts). */
export interface Inventory {
  file: string | null;
  source: SourceFile | null;
  /** Hosts in inventory order; `vars` holds only the host's own vars. */
  hosts: Map<string, HostInfo>;
  groups: Map<string, InventoryGroup>;
  vars: Record<string, unknown>;
}

/** The inventory of a playbook that runs only on `local`. */
export function emptyInventory(): Inventory {
  return { file: null, source: null, hosts: new Map(), groups: new Map([['all', { name: 'all', hosts: [], vars: {}, depth: 0 }]]), vars: {} };
}

export async function loadInventory(file: string): Promise<Inventory> {
  const path = resolve(file);
  const source = await readSourceFile(path);
  const errors = schemaErrors(InventorySchema, source.value, (p) => locate(source, p));
  if (errors.length) throw new KcarunErrorList('E_SCHEMA', `${file}: ${errors.length} problem(s)`, errors);
  return resolveInventory(source.value as InventorySpec, source);
}

/** Pure: builds hosts and groups, reporting every unknown reference and cycle with its position. */
export function resolveInventory(spec: InventorySpec, source: SourceFile): Inventory {
  const problems: KcarunError[] = [];
  const defaults = spec.defaults ?? {};
  const hosts = new Map<string, HostInfo>();
  for (const [name, raw] of Object.entries(spec.hosts)) {
    if (name === 'local' || name === 'all') {
      problems.push(new KcarunError('E_SCHEMA', `"${name}" is reserved and cannot be a host name`, { position: locate(source, ['hosts', name]) }));
      continue;
    }
    const h = raw ?? {};
    const ssh = { ...defaults.ssh, ...h.ssh };
    hosts.set(name, {
      name,
      address: h.address ?? name,
      port: h.port ?? ssh.port ?? 22,
      // Empty when the inventory is silent: ~/.ssh/config's User applies, then the local user name.
      user: h.user ?? ssh.user ?? '',
      groups: [],
      vars: h.vars ?? {},
      ssh: {
        identityFile: expandHome(ssh.identityFile),
        identityPassphraseEnv: ssh.identityPassphraseEnv,
        knownHostsFile: expandHome(ssh.knownHostsFile),
        proxyJump: ssh.proxyJump,
        connectTimeoutSeconds: ssh.connectTimeoutSeconds,
        useAgent: ssh.useAgent,
      },
      connection: h.connection ?? 'ssh',
      become: h.become ?? defaults.become ?? false,
      becomePasswordEnv: h.becomePasswordEnv ?? defaults.becomePasswordEnv,
    });
  }

  const specs = new Map<string, InventoryGroupSpec>(Object.entries(spec.groups ?? {}).map(([n, g]) => [n, g ?? {}]));
  const groups = new Map<string, InventoryGroup>();
  groups.set('all', { name: 'all', hosts: [...hosts.keys()], vars: {}, depth: 0 });

  const visiting: string[] = [];
  const resolveGroup = (name: string, depth: number): InventoryGroup | undefined => {
    const done = groups.get(name);
    if (done) {
      done.depth = Math.max(done.depth, depth);
      return done;
    }
    const g = specs.get(name);
    if (!g) return undefined;
    if (visiting.includes(name)) {
      problems.push(new KcarunError('E_SCHEMA', `group cycle: ${[...visiting, name].join(' -> ')}`, { position: locate(source, ['groups', name]) }));
      return undefined;
    }
    if (hosts.has(name)) {
      problems.push(new KcarunError('E_SCHEMA', `"${name}" is both a host and a group`, { position: locate(source, ['groups', name]) }));
    }
    visiting.push(name);
    const members = new Set<string>();
    for (const [i, h] of (g.hosts ?? []).entries()) {
      if (!hosts.has(h)) {
        problems.push(new KcarunError('E_SCHEMA', `group "${name}" lists unknown host "${h}"`, { position: locate(source, ['groups', name, 'hosts', i]) }));
      } else members.add(h);
    }
    for (const [i, child] of (g.children ?? []).entries()) {
      const c = resolveGroup(child, depth + 1);
      if (!c && !visiting.includes(child)) {
        problems.push(new KcarunError('E_SCHEMA', `group "${name}" lists unknown child group "${child}"`, { position: locate(source, ['groups', name, 'children', i]) }));
      }
      c?.hosts.forEach((h) => members.add(h));
    }
    visiting.pop();
    const order = [...hosts.keys()];
    const group = { name, hosts: order.filter((h) => members.has(h)), vars: g.vars ?? {}, depth };
    groups.set(name, group);
    return group;
  };
  for (const name of specs.keys()) {
    if (name === 'all' || name === 'local') {
      problems.push(new KcarunError('E_SCHEMA', `"${name}" is reserved and cannot be a group name`, { position: locate(source, ['groups', name]) }));
      continue;
    }
    resolveGroup(name, 1);
  }
  problems.push(...inventoryHostProblems(spec, source, hosts));
  if (problems.length) throw new KcarunErrorList('E_SCHEMA', `${source.file}: ${problems.length} problem(s)`, problems);

  for (const group of groups.values()) {
    if (group.name === 'all') continue;
    for (const h of group.hosts) hosts.get(h)!.groups.push(group.name);
  }
  return { file: source.file, source, hosts, groups, vars: spec.vars ?? {} };
}

function expandHome(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}
