import type { HostInfo } from '../define.js';

/** client-go's holderIdentity is `<hostname>_<uuid>`; older ones are just the hostname. */
export function holderHostname(holder: string): string {
  const i = holder.lastIndexOf('_');
  return i > 0 ? holder.slice(0, i) : holder;
}

/**
 * The inventory host a cluster-side name refers to: by inventory name first, then by a
 * `node_name`/`hostname` var, then by address or `node_ip` var.
 */
export function matchHost(hosts: readonly HostInfo[], names: readonly string[], addresses: readonly string[]): string | null {
  for (const n of names) {
    const byName = hosts.find((h) => h.name === n || h.vars['node_name'] === n || h.vars['hostname'] === n);
    if (byName) return byName.name;
  }
  for (const a of addresses) {
    const byAddr = hosts.find((h) => h.address === a || h.vars['node_ip'] === a);
    if (byAddr) return byAddr.name;
  }
  return null;
}
