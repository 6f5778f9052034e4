/**
 * The real lab's dealings with the machine's own namespace: the unreachable route, the bridge and
 * veths, cgroups, sysctls, and finding the lab's processes (by namespace inode and cgroup, never by name).
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from '../exec.js';

/** Machine-wide sysctls the kubelet is known to set (vm.overcommit_memory, kernel.panic, ...) plus neighbours: saved at up, restored at down. */
export const WATCHED_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'kernel.pid_max',
  'net.ipv4.ip_forward',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
] as const;

const sysctlPath = (k: string): string => `/proc/sys/${k.replace(/\./g, '/')}`;

export function readSysctls(keys: readonly string[] = WATCHED_SYSCTLS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    try {
      out[k] = readFileSync(sysctlPath(k), 'utf8').trim();
    } catch {
      // not on this kernel
    }
  }
  return out;
}

/** Writes back every saved value that differs now; returns what it restored. */
export function restoreSysctls(saved: Record<string, string>): string[] {
  const restored: string[] = [];
  for (const [k, v] of Object.entries(saved)) {
    try {
      if (readFileSync(sysctlPath(k), 'utf8').trim() !== v) {
        writeFileSync(sysctlPath(k), v);
        restored.push(`${k}=${v}`);
      }
    } catch {
      // gone
    }
  }
  return restored;
}

/**
 * The sysctls as they were before the first of the real labs now up started (a machine-wide file:
 * two real labs may be up at once on other subnets, and each one's kubelets change the same
 * machine-wide values). Written by the first lab's `up`, read by the later ones, removed by the
 * last lab's `down`, which alone restores them.
 */
export const MACHINE_SYSCTLS_FILE = '/run/kcarun-lab/sysctls-before-real-labs.json';

/** The bridges of real labs that are up (their names: kcl<N>br, lab/real/plan.ts), except `except`. */
export async function otherRealLabBridges(except: string): Promise<string[]> {
  const out = await runOk('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  return [...out.matchAll(/^\d+:\s+(kcl\d+br)[:@]/gm)].map((m) => m[1]!).filter((b) => b !== except);
}

/** The sysctls to restore when the last real lab goes down: the machine's own, or those the first lab saved. */
export async function sysctlsBeforeRealLabs(ownBridge: string): Promise<Record<string, string>> {
  if ((await otherRealLabBridges(ownBridge)).length > 0 && existsSync(MACHINE_SYSCTLS_FILE)) {
    try {
      return JSON.parse(readFileSync(MACHINE_SYSCTLS_FILE, 'utf8')) as Record<string, string>;
    } catch {
      // unreadable: this lab's own reading below is the best left
    }
  }
  const now = readSysctls();
  mkdirSync('/run/kcarun-lab', { recursive: true, mode: 0o755 });
  writeFileSync(MACHINE_SYSCTLS_FILE, `${JSON.stringify(now)}\n`);
  return now;
}

export async function ensureUnreachableRoute(range: string): Promise<boolean> {
  const have = await runOk('ip', ['-4', 'route', 'show', 'table', 'main', 'type', 'unreachable', range]);
  if (have.trim()) return false;
  // anything else of the machine inside the range: refuse rather than shadow it
  const inside = (await runOk('ip', ['-4', 'route', 'show', 'table', 'all', 'root', range])).trim();
  if (inside) throw new Error(`the machine already routes inside ${range}:\n${inside}\nchoose another --subnet`);
  await runOk('ip', ['-4', 'route', 'add', 'unreachable', range]);
  return true;
}

export async function linkExists(name: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', 'dev', name])).rc === 0;
}

export async function deleteLink(name: string): Promise<boolean> {
  if (!(await linkExists(name))) return false;
  await run('ip', ['link', 'del', 'dev', name]);
  return true;
}

/** The v1 (and hybrid unified) cgroup hierarchies mounted under /sys/fs/cgroup. */
export function cgroupHierarchies(): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const out: string[] = [];
  for (const line of mounts) {
    const f = line.split(' ');
    const mp = f[4];
    const sep = f.indexOf('-');
    const type = sep > 0 ? f[sep + 1] : '';
    if (mp && mp.startsWith('/sys/fs/cgroup/') && (type === 'cgroup' || type === 'cgroup2')) out.push(mp);
  }
  return out;
}

/** Creates ROOT and ROOT/lab-node in every hierarchy (cpuset needs cpus and mems copied from the parent). */
export function makeNodeCgroups(root: string, hierarchies: string[]): void {
  for (const h of hierarchies) {
    for (const rel of [root, `${root}/lab-node`]) {
      const dir = join(h, rel);
      mkdirSync(dir, { recursive: true });
      if (h.endsWith('/cpuset')) {
        const parent = join(dir, '..');
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(parent, f), 'utf8').trim());
        }
      }
    }
  }
}

/**
 * Every cgroup folder under DIR, children before parents; [] when DIR is gone. A folder removed while
 * it is read (the kubelet or containerd removing a container's cgroup as its process ends; seen in
 * `lab down` under CI's load) is left out, not an error.
 */
function cgroupDirsDepthFirst(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory()) out.push(...cgroupDirsDepthFirst(join(dir, e.name)));
  out.push(dir);
  return out;
}

export function pidsInCgroupTree(root: string, hierarchies: string[]): number[] {
  const pids = new Set<number>();
  for (const h of hierarchies) {
    for (const d of cgroupDirsDepthFirst(join(h, root))) {
      try {
        for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p.trim()) pids.add(Number(p));
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids];
}

/** Removes ROOT and everything under it in every hierarchy (only empty cgroups can go); returns what stayed. */
export function removeCgroupTree(root: string, hierarchies: string[]): string[] {
  const left: string[] = [];
  for (const h of hierarchies) {
    for (const d of cgroupDirsDepthFirst(join(h, root))) {
      try {
        rmdirSync(d);
      } catch {
        if (existsSync(d)) left.push(d);
      }
    }
  }
  return left;
}

export function nsOf(pid: number, kind: 'mnt' | 'net'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Every pid whose mount or network namespace is one of `ns` (inodes as readlink shows them). */
export function pidsInNamespaces(ns: { mnt?: string; net?: string }): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if ((ns.mnt && nsOf(pid, 'mnt') === ns.mnt) || (ns.net && nsOf(pid, 'net') === ns.net)) pids.push(pid);
  }
  return pids;
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
