/**
 * The etcd restore procedure of docs/health.md, on the emulated kubeadm lab (real etcd 3.4 with mutual
 * TLS, real sshd): a task snapshot restored into all 3 members, a key overwritten after the snapshot
 * read back as it was. It stays emulated: etcd 3.6 (the genuine kubeadm lab's) restores with etcdutl,
 * and on a kubeadm node etcdutl exists only inside the etcd container, which the procedure stops
 * (docs/health.md, "Restoring etcd from a snapshot"). Every other health task test runs on the
 * genuine kubeadm cluster: test/e2e/health-real.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { labUp } from '../../../lab/commands/up.js';
import { labDown } from '../../../lab/commands/down.js';
import { LabPaths } from '../../../lab/lab-paths.js';
import type { LabState } from '../../../lab/lab-state.js';
import { etcdSnapshotTask } from '../../../src/tasks/etcd-snapshot/index.js';
import { waitHealthyTask } from '../../../src/tasks/wait-healthy/index.js';
import { ssh, tempLabDir } from '../../lab/lab-fixture.js';
import { labTasks, type LabTasks } from './health-fixture.js';

const PREFIX = '127.0.21';
const P = '/etc/kubernetes/pki';
const TLS = { cacert: `${P}/etcd/ca.crt`, cert: `${P}/etcd/healthcheck-client.crt`, key: `${P}/etcd/healthcheck-client.key` };

describe('etcd restore procedure of docs/health.md on the emulated kubeadm lab', () => {
  const dir = tempLabDir('health');
  const work = tempLabDir('health-work');
  const paths = new LabPaths(dir);
  let state: LabState;
  let t: LabTasks;

  const etcdctlOn = (node: string, args: string): Promise<{ stdout: string; stderr: string; rc: number }> =>
    ssh(paths, state, node, `ETCDCTL_API=3 etcdctl --endpoints=https://${state.nodes.find((n) => n.name === node)!.ip}:2379 --cacert=${TLS.cacert} --cert=${TLS.cert} --key=${TLS.key} ${args}`);

  beforeAll(async () => {
    state = await labUp({ dir, nodes: 3, layout: 'kubeadm', caDaysLeft: 30, ipPrefix: PREFIX, log: () => undefined });
    t = await labTasks(dir, work);
  }, 120_000);

  afterAll(async () => {
    await t?.transports.closeAll();
    await labDown({ dir, purge: true, log: () => undefined });
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('restores the whole 3-member cluster from a task snapshot with the procedure of docs/health.md', async () => {
    expect((await etcdctlOn('cp1', 'put /kcarun-test/restore before-snapshot')).rc).toBe(0);
    const snap = await t.run(etcdSnapshotTask, 'cp1', TLS, { stepId: 'restore/0/cp1' });
    const file = (snap.output as { file: string }).file;
    expect((await etcdctlOn('cp1', 'put /kcarun-test/restore after-snapshot')).rc).toBe(0);
    const data = readFileSync(file);
    const initialCluster = state.nodes.map((n) => `${n.name}=https://${n.ip}:2380`).join(',');
    // 1. the snapshot on every member; 2. stop every etcd (kubeadm: move its static pod manifest away).
    for (const n of state.nodes) {
      expect((await ssh(paths, state, n.name, 'mkdir -p -m 700 /var/lib/kcarun/restore')).rc).toBe(0);
      await (await t.transports.get(n.name)).writeFile('/var/lib/kcarun/restore/snapshot.db', data, { mode: 0o600 });
      expect((await ssh(paths, state, n.name, 'mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.off')).rc).toBe(0);
    }
    for (const n of state.nodes) for (let i = 0; i < 40 && (await etcdctlOn(n.name, 'endpoint health')).rc === 0; i++) await sleep(250);
    // 3. restore into a new data dir on each member, 4. swap its member/ folder into the data dir.
    for (const n of state.nodes) {
      const r = await ssh(paths, state, n.name, [
        'set -e; hostname; ls -la /var/lib/kcarun /var/lib/kcarun/restore; cd /var/lib/kcarun/restore; rm -rf data',
        `ETCDCTL_API=3 etcdctl snapshot restore snapshot.db --name ${n.name} --initial-cluster ${initialCluster} --initial-cluster-token kcarun-restore-1 --initial-advertise-peer-urls https://${n.ip}:2380 --data-dir /var/lib/kcarun/restore/data`,
        'mv /var/lib/etcd/member /var/lib/kcarun/restore/member.before-restore',
        'mv /var/lib/kcarun/restore/data/member /var/lib/etcd/member',
        'chmod 700 /var/lib/etcd/member',
      ].join(' && '));
      expect(r.rc, r.stdout + r.stderr).toBe(0);
    }
    // 5. start every etcd again, then gate on the whole cluster.
    for (const n of state.nodes) expect((await ssh(paths, state, n.name, 'mv /etc/kubernetes/etcd.yaml.off /etc/kubernetes/manifests/etcd.yaml')).rc).toBe(0);
    await t.run(waitHealthyTask, 'cp2', { intervalSeconds: 0.5, timeoutSeconds: 90, successes: 3, probes: [{ kind: 'etcd', ...TLS }] });
    expect((await etcdctlOn('cp3', 'get /kcarun-test/restore --print-value-only')).stdout.trim()).toBe('before-snapshot');
    expect((await etcdctlOn('cp1', 'get /kcarun-lab/seed/0000 --print-value-only')).stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
  }, 180_000);
});
