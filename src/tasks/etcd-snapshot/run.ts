import { KcarunError } from '../../core/errors.js';
import { safeFileName } from '../../core/names.js';
import { shellJoin } from '../../core/shell.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import type { ExecOptions } from '../../transport/types.js';
import type { EtcdSnapshotParams } from './schema.js';
import { etcdctlCommand, etcdEndpoints, etcdctlStderr, etcdToolCommand, parseToolJson } from '../shared/etcdctl.js';
import { memberDbSize, probeEtcdTools, snapshotInDataDir, snapshotSpaceProblem } from './snapshot-site.js';
import { listSnapshots, pruneSnapshots, saveSnapshot, sha256, snapshotIntact, type SnapshotRecord } from './snapshot-store.js';

const fail = (host: string, message: string, extra: Record<string, unknown> = {}): KcarunError =>
  new KcarunError('E_TASK', `${host}: etcd snapshot: ${message}`, { host, ...extra });

export async function runEtcdSnapshot(ctx: TaskContext<EtcdSnapshotParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const host = ctx.host.name;
  const keep = p.keep ?? 3;
  const reuseMs = (p.reuseWithinMinutes ?? 60) * 60_000;
  const opts = { signal: ctx.signal, become: ctx.host.become, timeoutMs: 600_000 };

  // Only this run's own snapshot is reused (a resumed step re-run): the stock rotations share one
  // `backup` stage, so the same step id in another run is another backup (review, session 26).
  const previous = ctx.runId === undefined ? undefined : (await listSnapshots(ctx.state, host)).filter((r) => r.stepId === ctx.stepId && r.runId === ctx.runId).pop();
  if (previous && Date.now() - Date.parse(previous.takenAt) <= reuseMs && (await snapshotIntact(previous))) {
    ctx.log.info(`reusing snapshot ${previous.name} made by this step at ${previous.takenAt}`);
    return outcome(previous, false, []);
  }

  // snapshot save takes exactly one endpoint: the first healthy one.
  const member = await firstHealthy(ctx, p);
  const tls = { ...p, endpoints: [member] };
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${safeFileName(ctx.stepId)}`;
  const { remoteDir, remote, taken, inDataDir } = await snapshotPaths(ctx, name, opts);
  try {
    const mk = await ctx.transport.exec(`umask 077 && mkdir -p ${shellJoin([remoteDir])}`, opts);
    if (mk.rc !== 0) throw fail(host, `cannot create ${remoteDir}: ${mk.stderr.trim()}`);
    if (inDataDir) await removeLeftovers(ctx, opts);
    const room = await roomProblem(ctx, member, { taken, remoteDir, inDataDir }, opts);
    if (room) throw fail(host, `${room}; no snapshot was written`);
    const save = await ctx.transport.exec(`umask 077 && ${etcdctlCommand(tls, ctx.host.address, ['snapshot', 'save', taken])}`, opts);
    if (save.rc !== 0) throw fail(host, `snapshot save from ${member} failed (rc ${save.rc}): ${etcdctlStderr(save)}`, { exitCode: save.rc });
    const st = await snapshotStatus(ctx, taken, opts);
    if (taken !== remote) {
      const mv = await ctx.transport.exec(`mv -f -- ${shellJoin([taken, remote])}`, opts);
      if (mv.rc !== 0) throw fail(host, `cannot move ${taken} to ${remote}: ${mv.stderr.trim()}`);
    }
    // From stdin: sha256sum escapes a file name it prints (a backslash first), stdin has none.
    const sum = await ctx.transport.exec(`sha256sum < ${shellJoin([remote])}`, opts);
    const remoteSha = /^([0-9a-f]{64})\s/.exec(sum.stdout)?.[1];
    if (sum.rc !== 0 || !remoteSha) throw fail(host, `sha256sum ${remote} failed: ${sum.stderr.trim()}`);
    const data = await ctx.transport.readFile(remote, { become: ctx.host.become });
    if (data.length === 0) throw fail(host, `snapshot ${remote} is empty`);
    const localSha = sha256(data);
    if (localSha !== remoteSha) throw fail(host, `the copy of ${remote} differs from the host's file (sha256 ${localSha} != ${remoteSha})`);
    const record = await saveSnapshot(
      ctx.state,
      { name, host, stepId: ctx.stepId, ...(ctx.runId !== undefined ? { runId: ctx.runId } : {}), member, takenAt: new Date().toISOString(), sha256: localSha, size: data.length, hash: st.hash, revision: st.revision, totalKey: st.totalKey, totalSize: st.totalSize },
      data,
    );
    const pruned = await pruneSnapshots(ctx.state, host, keep, record.name);
    ctx.log.info(`snapshot of ${member}: revision ${st.revision}, ${st.totalKey} keys, ${data.length} bytes, sha256 ${localSha.slice(0, 12)}`);
    return outcome(record, true, pruned);
  } finally {
    const leftovers = [remote, `${remote}.part`, ...(taken !== remote ? [taken, `${taken}.part`] : [])];
    if (!p.keepOnHost) await ctx.transport.exec(shellJoin(['rm', '-f', ...leftovers]), opts).catch(() => undefined);
    else if (taken !== remote) await ctx.transport.exec(shellJoin(['rm', '-f', taken, `${taken}.part`]), opts).catch(() => undefined);
  }
}

interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/**
 * `snapshot status` of a saved file, verified: etcdutl since etcd 3.5 (in 3.6 etcdctl no longer has
 * the command and prints its help), etcdctl for older etcd; wherever the host has them
 * (etcdToolCommand). Throws naming what came back when neither gives a complete JSON status.
 */
async function snapshotStatus(ctx: TaskContext<EtcdSnapshotParams>, file: string, opts: { signal: AbortSignal; become: boolean; timeoutMs: number }): Promise<SnapshotStatus> {
  const errors: string[] = [];
  for (const tool of ['etcdutl', 'etcdctl'] as const) {
    const res = await ctx.transport.exec(etcdToolCommand(tool, ['snapshot', 'status', file, '-w', 'json']), opts);
    let st: Partial<SnapshotStatus>;
    try {
      st = parseToolJson(`${tool} snapshot status`, res) as Partial<SnapshotStatus>;
    } catch (err) {
      errors.push(`${(err as Error).message}${res.rc !== 0 ? ` ${etcdctlStderr(res, 1)}` : ''}`);
      continue;
    }
    if (!st.totalKey || !st.totalSize || st.revision === undefined || st.hash === undefined) {
      throw fail(ctx.host.name, `snapshot ${file} is empty or unverifiable (${tool}): ${res.stdout.trim()}`);
    }
    return st as SnapshotStatus;
  }
  throw fail(ctx.host.name, `cannot verify snapshot ${file}: ${errors.join('; ')}`);
}

/**
 * The member the snapshot would be taken from, asked for real (`endpoint health` only reads); the
 * snapshot itself writes a file on the host, so it is planned, its checksums unknown until then.
 */
export async function planEtcdSnapshot(ctx: TaskContext<EtcdSnapshotParams>): Promise<TaskPlan> {
  const member = await firstHealthy(ctx, ctx.params);
  // The room check only reads (df, stat, endpoint status): a run that would stop here says so now.
  const opts = { signal: ctx.signal, become: ctx.host.become, timeoutMs: 60_000 };
  const { remoteDir, taken, inDataDir } = await snapshotPaths(ctx, 'plan', opts);
  const room = await roomProblem(ctx, member, { taken, remoteDir, inDataDir }, opts);
  if (room) throw fail(ctx.host.name, `${room}; the run would stop here`);
  const unknown = (what: string) => unknownUntilRun(`snapshot ${what}`);
  return {
    changed: true,
    summary: `would save an etcd snapshot from ${member} (healthy now), verify it and copy it into the state dir (keep ${ctx.params.keep ?? 3})`,
    output: { file: unknown('file'), sha256: unknown('sha256'), size: unknown('size'), hash: unknown('hash'), revision: unknown('revision'), totalKey: unknown('key count'), member, takenAt: unknown('time'), reused: false, pruned: [] },
  };
}

/**
 * Where this snapshot goes: `remote` in remoteDir, first written at `taken` (the same file, or one
 * in etcd's data dir when the container's tools must see it: snapshotInDataDir).
 */
async function snapshotPaths(ctx: TaskContext<EtcdSnapshotParams>, name: string, opts: ExecOptions): Promise<{ remoteDir: string; remote: string; taken: string; inDataDir: boolean }> {
  const remoteDir = ctx.params.remoteDir ?? '/var/lib/kcarun/snapshots';
  const remote = `${remoteDir}/${name}.db`;
  const inDataDir = snapshotInDataDir(await probeEtcdTools(ctx.transport, opts));
  const taken = inDataDir ? `${etcdDataDir(ctx.params)}/${SNAPSHOT_IN_DATA_DIR_PREFIX}${name}.db` : remote;
  return { remoteDir, remote, taken, inDataDir };
}

/** etcd's data dir on the host (containerDataDir: kubeadm's etcd-data hostPath by default). */
const etcdDataDir = (p: EtcdSnapshotParams): string => p.containerDataDir ?? '/var/lib/etcd';
/** The name every snapshot written in etcd's data dir starts with: a leftover one is recognised by it. */
const SNAPSHOT_IN_DATA_DIR_PREFIX = '.kcarun-snapshot-';

/**
 * Snapshots an earlier run left in etcd's data dir (killed, or its SSH connection lost, before its
 * `finally` removed them): only files with kcarun's prefix, older than an hour (no run of this task
 * is still writing one then), logged by name.
 */
async function removeLeftovers(ctx: TaskContext<EtcdSnapshotParams>, opts: ExecOptions): Promise<void> {
  const r = await ctx.transport.exec(`find ${shellJoin([etcdDataDir(ctx.params)])} -maxdepth 1 -type f -name ${shellJoin([`${SNAPSHOT_IN_DATA_DIR_PREFIX}*`])} -mmin +60 -print -delete`, opts);
  for (const f of r.stdout.split('\n').filter(Boolean)) ctx.log.warn(`removed ${f}, a snapshot an interrupted run left in etcd's data dir`);
}

/** snapshotSpaceProblem for `member`'s database; a failure to measure is itself the problem. */
async function roomProblem(ctx: TaskContext<EtcdSnapshotParams>, member: string, where: { taken: string; remoteDir: string; inDataDir: boolean }, opts: ExecOptions): Promise<string | undefined> {
  const dbSize = () => memberDbSize(ctx.transport, { ...ctx.params, endpoints: [member] }, ctx.host.address, member, opts);
  return snapshotSpaceProblem(ctx.transport, { ...where, etcdDataDir: etcdDataDir(ctx.params) }, dbSize, opts).catch((err: Error) => `cannot tell whether the snapshot fits: ${err.message}`);
}

async function firstHealthy(ctx: TaskContext<EtcdSnapshotParams>, p: EtcdSnapshotParams): Promise<string> {
  const errors: string[] = [];
  for (const endpoint of etcdEndpoints(p, ctx.host.address)) {
    const res = await ctx.transport.exec(etcdctlCommand({ ...p, endpoints: [endpoint] }, ctx.host.address, ['endpoint', 'health']), {
      signal: ctx.signal,
      become: ctx.host.become,
      timeoutMs: 30_000,
    });
    if (res.rc === 0) return endpoint;
    // Not the last line alone: etcd 3.6's is "Error: unhealthy cluster"; the cause (an x509 error, a
    // refused connection) is in the lines before it.
    errors.push(`${endpoint}: ${etcdctlStderr(res) || `rc ${res.rc}`}`);
  }
  throw fail(ctx.host.name, `no healthy member to snapshot (${errors.join('; ')})`);
}

function outcome(r: SnapshotRecord, changed: boolean, pruned: string[]): TaskOutcome {
  return {
    changed,
    output: { file: r.file, sha256: r.sha256, size: r.size, hash: r.hash, revision: r.revision, totalKey: r.totalKey, member: r.member, takenAt: r.takenAt, reused: !changed, pruned },
    summary: `${changed ? 'saved' : 'reused'} ${r.name}.db (revision ${r.revision}, ${r.totalKey} keys)`,
  };
}
