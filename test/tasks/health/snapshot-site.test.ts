/**
 * Where etcd-snapshot writes its file and whether it fits, on real file systems through the real
 * local transport: df and stat on a small tmpfs whose mount point has spaces in its name (review of
 * session 26: a snapshot could fill etcd's disk, and host-or-container was decided from etcdctl alone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, statfsSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freeBytes } from '../../../src/tasks/shared/free-space.js';
import { ETCD_DATA_DIR_HEADROOM_BYTES, probeEtcdTools, snapshotInDataDir, snapshotSpaceProblem } from '../../../src/tasks/etcd-snapshot/snapshot-site.js';
import { LocalTransport } from '../../../src/transport/local.js';
import { re } from '../../helpers/regex.js';
import { tmpfsDisks } from '../../helpers/tmpfs.js';

const MIB = 1024 * 1024;

describe('etcd-snapshot: where the file goes and whether it fits', () => {
  const t = new LocalTransport();
  /** etcd's disk (400 MiB) and another one (100 MiB), with spaces in their mount points. */
  const disks = tmpfsDisks('kcarun-snapsite-', { "etcd's disk": '400m', 'a backup disk': '100m' }, { beforeAll, afterAll });
  let etcdFs: string;
  let otherFs: string;
  let root: string;
  beforeAll(() => {
    ({ "etcd's disk": etcdFs, 'a backup disk': otherFs, root } = disks());
  });

  it('freeBytes reads df -Pk of a mount point with spaces in its name, as statfs sees it', async () => {
    const free = await freeBytes(t, etcdFs);
    const fs = statfsSync(etcdFs);
    expect(Math.abs(free - fs.bavail * fs.bsize)).toBeLessThan(MIB);
    expect(free).toBeGreaterThan(390 * MIB);
  });

  it('freeBytes names the path when df cannot measure it', async () => {
    await expect(freeBytes(t, join(root, 'no such folder'))).rejects.toThrow(/^cannot measure free space of .*no such folder: df: /);
  });

  it("in etcd's data dir the snapshot needs room for itself plus two WAL segments; the message says so", async () => {
    const where = { taken: join(etcdFs, '.kcarun-snapshot-x.db'), remoteDir: join(etcdFs, 'snapshots'), inDataDir: true, etcdDataDir: etcdFs };
    const free = await freeBytes(t, etcdFs);
    expect(await snapshotSpaceProblem(t, where, async () => free - ETCD_DATA_DIR_HEADROOM_BYTES - 5 * MIB, {})).toBeUndefined();
    const problem = await snapshotSpaceProblem(t, where, async () => free - ETCD_DATA_DIR_HEADROOM_BYTES + 5 * MIB, {});
    expect(problem).toMatch(new RegExp(`^${re(etcdFs)} has 400 MiB free, 405 MiB needed \\(the snapshot, 283 MiB, plus 123 MiB etcd keeps on its file system for its WAL\\)$`));
  });

  it("with etcdctl on the host a remoteDir on etcd's file system keeps the same headroom, one on another file system does not; a folder not made yet is measured at its parent (a dry run)", async () => {
    const size = (await freeBytes(t, etcdFs)) - ETCD_DATA_DIR_HEADROOM_BYTES + 5 * MIB; // ~283 MiB: fits on etcd's disk only without the headroom
    const onEtcdFs = join(etcdFs, 'kcarun', 'snapshots');
    const problem = await snapshotSpaceProblem(t, { taken: join(onEtcdFs, 'x.db'), remoteDir: onEtcdFs, inDataDir: false, etcdDataDir: etcdFs }, async () => size, {});
    expect(problem).toMatch(new RegExp(`^${re(onEtcdFs)} has 400 MiB free, 405 MiB needed \\(the snapshot, 283 MiB, plus 123 MiB etcd keeps`));
    const small = async () => 50 * MIB;
    expect(await snapshotSpaceProblem(t, { taken: join(otherFs, 'snap', 'x.db'), remoteDir: join(otherFs, 'snap'), inDataDir: false, etcdDataDir: etcdFs }, small, {})).toBeUndefined();
    expect(await snapshotSpaceProblem(t, { taken: join(otherFs, 'snap', 'x.db'), remoteDir: join(otherFs, 'snap'), inDataDir: false, etcdDataDir: etcdFs }, async () => 150 * MIB, {})).toMatch(
      new RegExp(`^${re(otherFs)}/snap has 100 MiB free, 150 MiB needed \\(the snapshot, 150 MiB\\)$`),
    );
  });

  it('moved out of the data dir to another file system, remoteDir must hold it too; on the same one the move is a rename', async () => {
    const where = { taken: join(etcdFs, '.kcarun-snapshot-x.db'), remoteDir: join(otherFs, 'snapshots'), inDataDir: true, etcdDataDir: etcdFs };
    expect(await snapshotSpaceProblem(t, where, async () => 150 * MIB, {})).toBe(`${otherFs}/snapshots has 100 MiB free, 150 MiB needed (the snapshot, moved there from ${etcdFs})`);
    expect(await snapshotSpaceProblem(t, { ...where, remoteDir: join(etcdFs, 'snapshots') }, async () => 150 * MIB, {})).toBeUndefined();
  });

  it('a data dir that is not there is named with the setting to fix, before anything is measured', async () => {
    const missing = join(root, 'etcd-elsewhere');
    const where = { taken: join(missing, '.x.db'), remoteDir: root, inDataDir: true, etcdDataDir: missing };
    const size = async () => Promise.reject(new Error('not asked'));
    expect(await snapshotSpaceProblem(t, where, size, {})).toBe(
      `${missing} does not exist: with etcd's tools in its container the snapshot is written in etcd's data dir first; set containerDataDir to that folder (kubeadm: the etcd-data hostPath of etcd.yaml)`,
    );
  });

  it("a failed size lookup is the caller's error, never a silent pass", async () => {
    const where = { taken: join(etcdFs, '.x.db'), remoteDir: root, inDataDir: true, etcdDataDir: etcdFs };
    await expect(snapshotSpaceProblem(t, where, async () => Promise.reject(new Error('etcdctl endpoint status printed no JSON')), {})).rejects.toThrow(/printed no JSON/);
  });

  it('probeEtcdTools sees the tools on the PATH the commands run with', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['etcdctl']) {
      writeFileSync(join(bin, tool), '#!/bin/sh\nexit 0\n');
      chmodSync(join(bin, tool), 0o755);
    }
    // Only this folder and the basics: the machine's own Debian etcdctl stays out of sight.
    const tools = await probeEtcdTools(t, { env: { PATH: `${bin}:/nonexistent` } });
    expect(tools).toEqual({ hostEtcdctl: true, hostEtcdutl: false, etcdContainer: false });
  });

  it.each([
    [{ hostEtcdctl: true, hostEtcdutl: true, etcdContainer: true }, false, 'both tools on the host (a hand-installed etcd)'],
    [{ hostEtcdctl: true, hostEtcdutl: false, etcdContainer: false }, false, 'etcdctl only, no container (etcd < 3.5: its etcdctl has snapshot status)'],
    [{ hostEtcdctl: true, hostEtcdutl: false, etcdContainer: true }, true, "etcdctl on the host, etcdutl only in the container: the container's etcdutl must see the file"],
    [{ hostEtcdctl: false, hostEtcdutl: false, etcdContainer: true }, true, 'a kubeadm node: both in the container'],
    [{ hostEtcdctl: false, hostEtcdutl: true, etcdContainer: true }, true, 'etcdutl on the host, etcdctl in the container'],
  ])('snapshotInDataDir(%j) is %s: %s', (tools, expected) => {
    expect(snapshotInDataDir(tools)).toBe(expected);
  });
});
