/**
 * Where etcd-snapshot writes its file and whether it fits, on real file systems through the real
 * local transport: df and stat on a small tmpfs whose mount point has spaces in its name (review of
 * session 26: a snapshot could fill etcd's disk, and host-or-container was decided from etcdctl alone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, statfsSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freeBytes } from '../../../src/tasks/shared/free-space.js';
import { ETCD_DATA_DIR_HEADROOM_BYTES, probeEtcdTools, snapshotInDataDir, snapshotSpaceProblem } from '../../../src/tasks/etcd-snapshot/snapshot-site.js';
import { LocalTransport } from '../../../src/transport/local.js';
import { makeTempDir } from '../../helpers/task-context.js';

const MB = 1_000_000;

describe('etcd-snapshot: where the file goes and whether it fits', () => {
  const t = new LocalTransport();
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let small: string;
  let mounted = false;

  beforeAll(async () => {
    tmp = await makeTempDir('kcarun-snapsite-');
    small = join(tmp.dir, 'a small disk');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=200m', 'tmpfs', small]);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) execFileSync('umount', [small]);
    await tmp?.cleanup();
  });

  it('freeBytes reads df -Pk of a mount point with spaces in its name, as statfs sees it', async () => {
    const free = await freeBytes(t, small);
    const fs = statfsSync(small);
    expect(Math.abs(free - fs.bavail * fs.bsize)).toBeLessThan(1024 * 1024);
    expect(free).toBeGreaterThan(190 * 1024 * 1024);
  });

  it('freeBytes names the path when df cannot measure it', async () => {
    await expect(freeBytes(t, join(tmp.dir, 'no such folder'))).rejects.toThrow(/^cannot measure free space of .*no such folder: df: /);
  });

  it("in etcd's data dir the snapshot needs room for itself plus two WAL segments; the message says so", async () => {
    const where = { taken: join(small, '.kcarun-snapshot-x.db'), remoteDir: tmp.dir, inDataDir: true };
    const free = await freeBytes(t, small);
    const fits = free - ETCD_DATA_DIR_HEADROOM_BYTES - 5 * MB;
    expect(await snapshotSpaceProblem(t, where, async () => fits, {})).toBeUndefined();
    const tooBig = free - ETCD_DATA_DIR_HEADROOM_BYTES + 5 * MB;
    const problem = await snapshotSpaceProblem(t, where, async () => tooBig, {});
    expect(problem).toMatch(new RegExp(`^${small} has \\d+ MB free, \\d+ MB needed \\(the snapshot, \\d+ MB, plus 128 MB etcd keeps for its WAL\\)$`));
    // Straight into remoteDir (etcdctl on the host) there is no etcd to leave room for.
    expect(await snapshotSpaceProblem(t, { ...where, inDataDir: false }, async () => tooBig, {})).toBeUndefined();
  });

  it('moved out of the data dir to another file system, remoteDir must hold it too', async () => {
    const remoteDir = join(small, 'snapshots');
    mkdirSync(remoteDir, { recursive: true });
    const dataDir = join(tmp.dir, 'etcd');
    mkdirSync(dataDir, { recursive: true });
    const where = { taken: join(dataDir, '.kcarun-snapshot-x.db'), remoteDir, inDataDir: true };
    const problem = await snapshotSpaceProblem(t, where, async () => 250 * MB, {});
    if (statfsSync(dataDir).bavail * statfsSync(dataDir).bsize > 250 * MB + ETCD_DATA_DIR_HEADROOM_BYTES) {
      expect(problem).toMatch(new RegExp(`^${remoteDir} has \\d+ MB free, 250 MB needed \\(the snapshot, moved there from ${dataDir}\\)$`));
    } else {
      expect(problem).toMatch(new RegExp(`^${dataDir} has`));
    }
    // Same file system: the move is a rename and needs nothing more.
    expect(await snapshotSpaceProblem(t, { taken: join(small, '.x.db'), remoteDir, inDataDir: true }, async () => 10 * MB, {})).toBeUndefined();
  });

  it("a data dir that is not there is named with the setting to fix, before anything is measured", async () => {
    const missing = join(tmp.dir, 'etcd-elsewhere');
    const where = { taken: join(missing, '.x.db'), remoteDir: tmp.dir, inDataDir: true };
    const size = async () => Promise.reject(new Error('not asked'));
    expect(await snapshotSpaceProblem(t, where, size, {})).toBe(
      `${missing} does not exist: with etcd's tools in its container the snapshot is written in etcd's data dir first; set containerDataDir to that folder (kubeadm: the etcd-data hostPath of etcd.yaml)`,
    );
  });

  it("a failed size lookup is the caller's error, never a silent pass", async () => {
    const where = { taken: join(small, '.x.db'), remoteDir: tmp.dir, inDataDir: true };
    await expect(snapshotSpaceProblem(t, where, async () => Promise.reject(new Error('etcdctl endpoint status printed no JSON')), {})).rejects.toThrow(/printed no JSON/);
  });

  it('probeEtcdTools sees the tools on the PATH the commands run with', async () => {
    const bin = join(tmp.dir, 'bin');
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
