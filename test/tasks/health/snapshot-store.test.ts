/**
 * etcd-snapshot's store in the state dir (src/tasks/etcd-snapshot/snapshot-store.ts): keep N never
 * removes the snapshot just taken, even when an older one carries a later `takenAt` (the operator's
 * clock stepped back, or a state dir copied from another machine; session 26's review).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateDir } from '../../../src/engine/state-dir.js';
import { listSnapshots, pruneSnapshots, saveSnapshot } from '../../../src/tasks/etcd-snapshot/snapshot-store.js';
import { makeTempDir } from '../../helpers/task-context.js';

const record = (name: string, takenAt: string) => ({ name, host: 'cp1', stepId: 'backup/0/cp1', runId: 'r1', member: 'https://10.0.0.1:2379', takenAt, sha256: 'x', size: 4, hash: 1, revision: 2, totalKey: 3, totalSize: 4 });

describe('etcd snapshot store', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('kcarun-snapstore-');
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('keep 1 keeps the snapshot just saved, not the one whose clock says it is newer', async () => {
    const state = await openStateDir(join(tmp.dir, 'state'), { pid: process.pid, env: {} });
    const older = await saveSnapshot(state, record('a-older', '2026-12-05T00:00:00.000Z'), Buffer.from('old!'));
    const fresh = await saveSnapshot(state, record('b-fresh', '2026-12-04T00:00:00.000Z'), Buffer.from('new!'));
    expect(await pruneSnapshots(state, 'cp1', 1, 'b-fresh')).toEqual(['a-older']);
    expect(existsSync(fresh.file)).toBe(true);
    expect(existsSync(older.file)).toBe(false);
    expect((await listSnapshots(state, 'cp1')).map((r) => r.name)).toEqual(['b-fresh']);
  });

  it('keep 2 with the just-saved one among them keeps it and the newest other', async () => {
    const state = await openStateDir(join(tmp.dir, 'state2'), { pid: process.pid, env: {} });
    for (const [n, t] of [['s1', '2026-12-01'], ['s2', '2026-12-02'], ['s3', '2026-12-03']] as const) await saveSnapshot(state, record(n, `${t}T00:00:00.000Z`), Buffer.from(n));
    await saveSnapshot(state, record('s0-just', '2026-11-30T00:00:00.000Z'), Buffer.from('s0'));
    expect((await pruneSnapshots(state, 'cp1', 2, 's0-just')).sort()).toEqual(['s1', 's2']);
    expect((await listSnapshots(state, 'cp1')).map((r) => r.name).sort()).toEqual(['s0-just', 's3']);
  });

  it('a record whose name is not a plain file name is never pruned (no ../ out of the snapshot folder)', async () => {
    const state = await openStateDir(join(tmp.dir, 'state3'), { pid: process.pid, env: {} });
    await state.writeArtifact('ca/etcd-ca.db', 'precious', { mode: 0o600 });
    // A .json edited by hand: its name points out of the snapshot folder.
    await state.writeArtifact('etcd-snapshots/cp1/evil.json', JSON.stringify({ ...record('../../ca/etcd-ca', '2026-11-01T00:00:00.000Z'), file: '/x' }), { mode: 0o600 });
    await saveSnapshot(state, record('new', '2026-12-01T00:00:00.000Z'), Buffer.from('y'));
    expect(await pruneSnapshots(state, 'cp1', 1, 'new')).toEqual([]);
    expect(readFileSync(state.artifactPath('ca/etcd-ca.db'), 'utf8')).toBe('precious');
  });
});
