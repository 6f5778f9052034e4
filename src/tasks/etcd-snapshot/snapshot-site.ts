import { dirname } from 'node:path';
import { shellQuote } from '../../core/shell.js';
import type { ExecOptions, Transport } from '../../transport/types.js';
import { etcdctlCommand, parseToolJson, type EtcdTls } from '../shared/etcdctl.js';
import { freeBytes } from '../shared/free-space.js';

/** Which of etcd's tools a host has on its PATH, and whether an etcd container runs there. */
export interface EtcdTools {
  hostEtcdctl: boolean;
  hostEtcdutl: boolean;
  etcdContainer: boolean;
}

/**
 * One look at the host: `command -v` for etcdctl and etcdutl, and `crictl ps --name ^etcd$` for a
 * running etcd container (the place etcdToolCommand falls back to). A host without crictl simply
 * has no container here.
 */
export async function probeEtcdTools(t: Transport, opts: ExecOptions): Promise<EtcdTools> {
  const res = await t.exec(
    `for t in etcdctl etcdutl; do command -v "$t" >/dev/null 2>&1 && echo "host:$t"; done; ` +
      `c=$(crictl ps --name '^etcd$' -q 2>/dev/null | head -n 1); [ -n "$c" ] && echo container; true`,
    { ...opts, timeoutMs: 30_000 },
  );
  const seen = new Set(res.stdout.split('\n').map((l) => l.trim()));
  return { hostEtcdctl: seen.has('host:etcdctl'), hostEtcdutl: seen.has('host:etcdutl'), etcdContainer: seen.has('container') };
}

/**
 * Whether the snapshot must be written inside etcd's data dir (the one folder the etcd container
 * and the host see at the same path) rather than straight into remoteDir. etcdToolCommand runs each
 * tool on the host when the host has it, else in the etcd container: `snapshot save` (etcdctl) and
 * `snapshot status` (etcdutl since 3.5; etcd 3.6's etcdctl lacks it) must both see the file. So the
 * data dir is needed when etcdctl runs in the container, or when etcdutl does (host etcdctl without
 * etcdutl, e.g. a distribution's etcd-client 3.5 package on a kubeadm node). Review of session 26:
 * deciding from etcdctl alone saved on the host where the container's etcdutl could not read it.
 */
export function snapshotInDataDir(tools: EtcdTools): boolean {
  return !tools.hostEtcdctl || (!tools.hostEtcdutl && tools.etcdContainer);
}

/**
 * Room etcd keeps on its own file system beyond the snapshot: two WAL segments. etcd preallocates
 * each 64 MB segment (SegmentSizeBytes in etcd's server/storage/wal/wal.go) and its file pipeline
 * keeps the next one ready; a snapshot that filled the disk would leave etcd unable to cut a
 * segment, and a member that cannot write its WAL stops.
 */
export const ETCD_DATA_DIR_HEADROOM_BYTES = 2 * 64_000_000;

/** The size of `member`'s backend database (`endpoint status` dbSize, bytes): what a snapshot of it writes, at most. */
export async function memberDbSize(t: Transport, tls: EtcdTls, hostAddress: string, member: string, opts: ExecOptions): Promise<number> {
  const res = await t.exec(etcdctlCommand({ ...tls, endpoints: [member] }, hostAddress, ['endpoint', 'status', '-w', 'json']), { ...opts, timeoutMs: 30_000 });
  const doc = parseToolJson('etcdctl endpoint status', res) as Array<{ Status?: { dbSize?: number } }>;
  const size = doc[0]?.Status?.dbSize;
  if (typeof size !== 'number' || !(size > 0)) throw new Error(`etcdctl endpoint status of ${member} gives no dbSize: ${res.stdout.trim().slice(0, 160)}`);
  return size;
}

/**
 * Checks, before anything is written, that the snapshot fits: where it is written first (`taken`),
 * and in remoteDir, where it is then moved (again, unless that is the same file system: a rename).
 * On the file system of etcd's data dir (`etcdDataDir`: where it is written first in the container
 * case, or a remoteDir that shares it, as /var/lib/kcarun and /var/lib/etcd often do) the snapshot
 * needs ETCD_DATA_DIR_HEADROOM_BYTES more. Folders not made yet (a dry run plans before mkdir) are
 * measured at their nearest existing parent. `dbSizeOf` gives the database's size in bytes
 * (memberDbSize). Returns a message naming the folder, what it has and what it needs (MiB), or
 * undefined when it fits.
 */
export async function snapshotSpaceProblem(
  t: Transport,
  where: { taken: string; remoteDir: string; inDataDir: boolean; etcdDataDir: string },
  dbSizeOf: () => Promise<number>,
  opts: ExecOptions,
): Promise<string | undefined> {
  const firstDir = dirname(where.taken);
  // One round trip for the three folders: where each is (or will be made) and on which file system.
  const [first, remote, etcd] = await whereOnDisk(t, [firstDir, where.remoteDir, where.etcdDataDir], opts);
  const etcdDirExists = etcd!.dir === where.etcdDataDir;
  if (where.inDataDir && !etcdDirExists) {
    return `${where.etcdDataDir} does not exist: with etcd's tools in its container the snapshot is written in etcd's data dir first; set containerDataDir to that folder (kubeadm: the etcd-data hostPath of etcd.yaml)`;
  }
  const dbSize = await dbSizeOf();
  const [firstDev, remoteDev, etcdDev] = [first!.dev, remote!.dev, etcdDirExists ? etcd!.dev : undefined];
  const onEtcdFs = (dev: string | undefined) => etcdDev !== undefined && dev === etcdDev;
  // Free space rounded down, needs rounded up: the message never shows a shortfall as enough.
  const need = (n: number) => `${Math.ceil(n / MIB)} MiB`;
  const free = (n: number) => `${Math.floor(n / MIB)} MiB`;
  const headroom = `, plus ${need(ETCD_DATA_DIR_HEADROOM_BYTES)} etcd keeps on its file system for its WAL`;
  const firstNeed = dbSize + (onEtcdFs(firstDev) ? ETCD_DATA_DIR_HEADROOM_BYTES : 0);
  const firstFree = await freeBytes(t, first!.dir, opts);
  if (firstFree < firstNeed) return `${firstDir} has ${free(firstFree)} free, ${need(firstNeed)} needed (the snapshot, ${need(dbSize)}${onEtcdFs(firstDev) ? headroom : ''})`;
  if (remoteDev === firstDev) return undefined;
  const remoteNeed = dbSize + (onEtcdFs(remoteDev) ? ETCD_DATA_DIR_HEADROOM_BYTES : 0);
  const remoteFree = await freeBytes(t, remote!.dir, opts);
  return remoteFree < remoteNeed ? `${where.remoteDir} has ${free(remoteFree)} free, ${need(remoteNeed)} needed (the snapshot, moved there from ${firstDir})` : undefined;
}

const MIB = 1024 * 1024;

/**
 * For each path: itself, or its nearest parent that exists on the host (`/` at worst; a folder not
 * made yet is made on that one's file system), and that folder's device number (`stat -c %d`:
 * equal numbers are one file system). Paths hold no newline or tab (RemotePathSchema).
 */
async function whereOnDisk(t: Transport, paths: string[], opts: ExecOptions): Promise<Array<{ dir: string; dev: string }>> {
  const script = 'for p in "$@"; do d=$p; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done; printf \'%s\\t%s\\n\' "$(stat -c %d -- "$d")" "$d"; done';
  const r = await t.exec(`sh -c ${shellQuote(script)} sh ${paths.map(shellQuote).join(' ')}`, opts);
  const rows = r.stdout.split('\n').filter(Boolean).map((l) => {
    const [dev = '', dir = ''] = l.split('\t');
    return { dev, dir };
  });
  if (r.rc !== 0 || rows.length !== paths.length || rows.some((x) => !/^\d+$/.test(x.dev))) {
    throw new Error(`cannot tell the file systems of ${paths.join(', ')}: ${r.stderr.trim() || `rc ${r.rc}`}`);
  }
  return rows;
}
