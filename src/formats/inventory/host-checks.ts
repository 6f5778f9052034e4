import { isIPv6 } from 'node:net';
import { KcarunError } from '../../core/errors.js';
import type { HostInfo } from '../../core/types.js';
import type { InventorySpec } from '../playbook/schema.js';
import { locate, type SourceFile } from '../source.js';

/** Host and group names: what the schema's key pattern says (JSON Schema does not check keys of a record). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** A DNS name (RFC 1123 labels; "_" tolerated, as in many inventories) or a dotted IPv4 address. */
const HOST_NAME_OR_IPV4 = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/**
 * What the schema cannot see, checked before any host is contacted (issue 13, item 6): host and
 * group names outside the name pattern (whose entries the schema then skips entirely), addresses
 * that are not connectable as written (`[::1]`, spaces, a malformed IPv6), and proxyJump chains
 * through inventory hosts that loop (a host jumping through itself, or two through each other).
 */
export function inventoryHostProblems(spec: InventorySpec, source: SourceFile, hosts: ReadonlyMap<string, HostInfo>): KcarunError[] {
  const problems: KcarunError[] = [];
  const at = (path: (string | number)[]) => ({ position: locate(source, path) });
  for (const name of Object.keys(spec.hosts)) {
    if (!NAME.test(name)) problems.push(new KcarunError('E_SCHEMA', `host name ${JSON.stringify(name)} is not a valid name: letters, digits, "_", "." and "-", starting with a letter or digit (put an address in \`address:\`)`, at(['hosts', name])));
  }
  for (const name of Object.keys(spec.groups ?? {})) {
    if (!NAME.test(name)) problems.push(new KcarunError('E_SCHEMA', `group name ${JSON.stringify(name)} is not a valid name: letters, digits, "_", "." and "-", starting with a letter or digit`, at(['groups', name])));
  }
  for (const [name, raw] of Object.entries(spec.hosts)) {
    const address = raw?.address;
    if (address === undefined) continue;
    const where = at(['hosts', name, 'address']);
    const bracketed = /^\[(.*)\]$/.exec(address);
    if (bracketed) problems.push(new KcarunError('E_SCHEMA', `address "${address}": write an IPv6 address without brackets (${bracketed[1]}); the port goes in \`port:\``, where));
    else if (/\s/.test(address) || address === '') problems.push(new KcarunError('E_SCHEMA', `address ${JSON.stringify(address)} holds spaces: give one host name or IP address`, where));
    else if (address.includes(':') && !isIPv6(address.replace(/%[A-Za-z0-9_.-]+$/, ''))) problems.push(new KcarunError('E_SCHEMA', `address "${address}" is not a valid IPv6 address (and a host name cannot hold ":"; the port goes in \`port:\`)`, where));
    else if (!address.includes(':') && !HOST_NAME_OR_IPV4.test(address)) {
      const why = address.includes('@') ? 'the user goes in `user:`' : 'a host name is letters, digits, "-", "_" and "." (RFC 1123), an IPv4 address digits and dots';
      problems.push(new KcarunError('E_SCHEMA', `address ${JSON.stringify(address)} is not one host name or IP address: ${why}`, where));
    }
  }
  // One jump host per host: kcarun does not follow an OpenSSH hop list (a,b); a chain is written
  // as jump hosts of the inventory that have their own proxyJump.
  for (const [name, raw] of Object.entries(spec.hosts)) {
    const jump = raw?.ssh?.proxyJump;
    if (typeof jump === 'string' && jump.includes(',')) {
      problems.push(new KcarunError('E_SCHEMA', `proxyJump "${jump}" lists several hops; kcarun follows one: make the first hop an inventory host with its own proxyJump to chain them`, at(['hosts', name, 'ssh', 'proxyJump'])));
    } else if (typeof jump === 'string' && jump.toLowerCase() !== 'none') {
      // [user@]host[:port], the host as strict as `address` (an option like `-oProxyCommand=...`
      // is no host; ssh2 would only fail to resolve it, but it must not pass as valid).
      const m = /^(?:([^@\s]+)@)?([^@\s]+?)(?::(\d{1,5}))?$/.exec(jump);
      const host = m?.[2] ?? '';
      if (!m || !(HOST_NAME_OR_IPV4.test(host) || isIPv6(host.replace(/^\[|\]$/g, ''))) || host.startsWith('-') || (m[1] ?? '').startsWith('-')) {
        problems.push(new KcarunError('E_SCHEMA', `proxyJump ${JSON.stringify(jump)} is not [user@]host[:port] with one host name or IP address`, at(['hosts', name, 'ssh', 'proxyJump'])));
      }
    }
  }
  // proxyJump edges between inventory hosts; a jump spec is [user@]host[:port][,more...].
  const jumps = new Map<string, string[]>();
  for (const [name, h] of hosts) {
    const spec = h.ssh.proxyJump;
    if (!spec || spec.toLowerCase() === 'none') continue;
    const targets = spec.split(',').map((j) => j.trim().replace(/^[^@]*@/, '').replace(/:\d+$/, '')).filter((t) => hosts.has(t));
    jumps.set(name, targets);
  }
  const reported = new Set<string>();
  for (const start of jumps.keys()) {
    const path: string[] = [];
    const walk = (node: string): string[] | undefined => {
      const i = path.indexOf(node);
      if (i >= 0) return [...path.slice(i), node];
      path.push(node);
      for (const next of jumps.get(node) ?? []) {
        const cycle = walk(next);
        if (cycle) return cycle;
      }
      path.pop();
      return undefined;
    };
    const cycle = walk(start);
    if (!cycle) continue;
    const key = [...new Set(cycle)].sort().join(',');
    if (reported.has(key)) continue;
    reported.add(key);
    const first = cycle[0]!;
    const own = spec.hosts[first]?.ssh?.proxyJump !== undefined;
    problems.push(
      new KcarunError(
        'E_SCHEMA',
        cycle.length === 2 ? `host "${first}" jumps through itself (proxyJump: ${hosts.get(first)!.ssh.proxyJump})` : `proxyJump cycle: ${cycle.join(' -> ')}`,
        at(own ? ['hosts', first, 'ssh', 'proxyJump'] : ['defaults', 'ssh', 'proxyJump']),
      ),
    );
  }
  return problems;
}
