/**
 * The etcd snapshots kept in the state dir: artifacts/etcd-snapshots/<host>/<name>.db (0600: etcd
 * holds the cluster's Secrets) beside <name>.json, the metadata written last, so a .json always
 * describes a complete .db. Only src/ code that runs at task run() time imports this.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunState } from '../define.js';
import { safeFileName } from '../../core/names.js';

export interface SnapshotRecord {
  name: string;
  host: string;
  stepId: string;
  /** The run that took it (TaskContext.runId); only that run reuses it. */
  runId?: string;
  member: string;
  takenAt: string;
  /** sha256 of the .db file, checked against `sha256sum` on the host before it was trusted. */
  sha256: string;
  size: number;
  /** From `etcdctl snapshot status`. */
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
  /** Absolute path of the local copy. */
  file: string;
}

export const snapshotDir = (host: string): string => `etcd-snapshots/${safeFileName(host)}`;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function listSnapshots(state: RunState, host: string): Promise<SnapshotRecord[]> {
  const dir = state.artifactPath(snapshotDir(host));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const records: SnapshotRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    try {
      records.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as SnapshotRecord);
    } catch {
      // a torn metadata file describes nothing usable; pruning removes it with its .db
    }
  }
  return records.sort((a, b) => a.takenAt.localeCompare(b.takenAt));
}

/** True when the local copy is still there and still has the recorded checksum. */
export async function snapshotIntact(record: SnapshotRecord): Promise<boolean> {
  try {
    return sha256(await readFile(record.file)) === record.sha256;
  } catch {
    return false;
  }
}

export async function saveSnapshot(state: RunState, record: Omit<SnapshotRecord, 'file'>, data: Buffer): Promise<SnapshotRecord> {
  const base = `${snapshotDir(record.host)}/${record.name}`;
  const file = await state.writeArtifact(`${base}.db`, data, { mode: 0o600 });
  const full: SnapshotRecord = { ...record, file };
  await state.writeArtifact(`${base}.json`, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600 });
  return full;
}

/**
 * Keeps the newest `keep` snapshots of a host; returns the names removed. `justSaved` (the name of the
 * snapshot the caller has just taken) is never removed, whatever the clock says: the order is by
 * `takenAt`, the operator's clock, which a step back (NTP) or a state dir copied from another machine
 * can reverse (review, session 26).
 */
export async function pruneSnapshots(state: RunState, host: string, keep: number, justSaved?: string): Promise<string[]> {
  const records = await listSnapshots(state, host);
  // The name inside a .json decides which files go: one that is not a plain file name (a state dir
  // edited by hand, or copied from elsewhere) is never acted on, so `../` cannot reach other artifacts.
  const others = records.filter((r) => r.name !== justSaved && /^[\w.:-]+$/.test(r.name) && !r.name.startsWith('.'));
  // The one just saved counts towards `keep`: the others keep the rest of the places.
  const places = Math.max(0, keep - (records.some((r) => r.name === justSaved) ? 1 : 0));
  const old = others.slice(0, Math.max(0, others.length - places));
  for (const r of old) {
    const base = state.artifactPath(`${snapshotDir(host)}/${r.name}`);
    await rm(`${base}.json`, { force: true });
    await rm(`${base}.db`, { force: true });
  }
  return old.map((r) => r.name);
}
