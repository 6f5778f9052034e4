/**
 * What a lab may change on this machine and `lab down` must put back: sysctls, routes (but the
 * lab's `unreachable` guard route), links, mounts, named network namespaces, the lab's cgroups.
 * And how a TCP connection attempt to a lab address ends once the lab is down.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { cmd } from './lab-fixture.js';

export interface MachineView {
  sysctls: Map<string, string>;
  routes: string[];
  links: string[];
  mounts: string[];
  netns: string[];
  cgroups: string[];
}

// Counters and values the kernel changes on its own (or that other tests on this machine change).
const VOLATILE = /^(kernel\.random\.|kernel\.ns_last_pid|kernel\.pty\.nr|fs\.|kernel\.sched_domain|vm\.stat_|kernel\.tainted|kernel\.perf_event_max|kernel\.keys\.(maxkeys|maxbytes)$|vm\.(dirty|nr_|drop_caches))/;

/** @param subnet the lab subnet (its unreachable route is the lab's own); the lab's cgroups are named kcl<2nd octet>. */
export async function machineView(subnet: string): Promise<MachineView> {
  const sysctls = new Map<string, string>();
  for (const line of (await cmd('sysctl', ['-a'])).stdout.split('\n')) {
    const i = line.indexOf(' = ');
    if (i < 0) continue;
    const k = line.slice(0, i);
    if ((k.startsWith('kernel.') || k.startsWith('vm.') || k.startsWith('net.ipv4.ip_forward') || k.startsWith('net.bridge.')) && !VOLATILE.test(k)) sysctls.set(k, line.slice(i + 3));
  }
  const routes = (await cmd('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout.split('\n').filter((l) => l && !l.startsWith(`unreachable ${subnet}`));
  const links = (await cmd('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter(Boolean).sort();
  // this process's own mount table (the nodes' mounts live in their own namespaces)
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ').slice(3, 5).join(' ')).filter(Boolean).sort();
  // named network namespaces (the lab's mount-point marker file is not one)
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((f) => !f.startsWith('.')).sort() : [];
  const cgroups = readdirSync('/sys/fs/cgroup/pids').filter((d) => d.startsWith(`kcl${subnet.split('.')[1]}`)).sort();
  return { sysctls, routes, links, mounts, netns, cgroups };
}

/** How a TCP connection attempt ends, and how long it took. */
export function tryConnect(host: string, port: number): Promise<{ ok: boolean; code: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean, code: string): void => {
      s.destroy();
      resolve({ ok, code, ms: Date.now() - t0 });
    };
    s.setTimeout(5000, () => done(false, 'TIMEOUT'));
    s.once('connect', () => done(true, 'CONNECTED'));
    s.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? String(e)));
  });
}
