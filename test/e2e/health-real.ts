/**
 * kcarun's health tasks on the genuine kubeadm HA cluster of health-tasks-real.test.ts (real
 * kubeadm, kubelet, containerd, control plane and etcd 3.6 as static pods), called directly over the
 * real SSH transport as a playbook's steps would be, and leader-last through the built CLI:
 * - etcd-snapshot: a verified snapshot (sha256, and the pinned etcdutl on this machine agreeing with
 *   what the task recorded), restorable into a throwaway etcd; re-runs reuse it; keep N; refused
 *   with a CA etcd's certificates do not chain to, saving nothing; on a node with etcdctl but no
 *   etcdutl; refused, writing nothing, when remoteDir is too small;
 * - wait-healthy: every probe kind passing on the healthy cluster, and failing with a message naming
 *   the host, the probe and the cause; the etcd gate on a stopped member; the kube gate on a paused
 *   node (and a gate on that node itself cut off at its deadline);
 * - the etcd and Lease leader probes agreeing with etcdctl and the Lease; leader-last through the CLI;
 * - kube-configmap-patch, kube-rollout-restart, kube-wait, preflight (health-real-kube.ts);
 * - preflight refusing with every problem in one report and changing no file.
 * Registered inside that file's describe, on its one lab: everything stopped, paused or added here is
 * restarted, resumed or removed, and the cluster gated healthy again. (They ran first inside
 * other-playbooks-real, before its renewal; there the renewal once logged an apiserver's
 * "invalid bearer token, context canceled" while it restarted, 1 of 3 runs, so they got a lab of
 * their own.)
 * The restore procedure of docs/health.md runs after these, on the same lab (health-restore-real.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labFault } from '../../lab/commands/fault.js';
import { isRunning } from '../../lab/processes.js';
import { KcarunErrorList } from '../../src/core/errors.js';
import { etcdSnapshotTask } from '../../src/tasks/etcd-snapshot/index.js';
import { waitHealthyTask } from '../../src/tasks/wait-healthy/index.js';
import { etcdLeaderProbe } from '../../src/tasks/etcd-leader-probe/index.js';
import { leaseLeaderProbe } from '../../src/tasks/lease-leader-probe/index.js';
import { preflightTask } from '../../src/tasks/preflight/index.js';
import { kubeClientFromHost } from '../../src/tasks/shared/kube-api-client.js';
import { CLI, jsonEvents, runCli } from '../helpers/cli.js';
import { cmd, openssl, ssh } from '../lab/lab-fixture.js';
import { labTasks } from '../tasks/health/health-fixture.js';
import type { RealLab } from './real-lab-session.js';
import { describeKubeApiTasks, type HealthSession } from './health-real-kube.js';
import { etcdctlIn, etcdctlLeader, failure, machineEtcdTool, moveEtcdLeaderTo, nodeIp, P, re, TLS, withWrongEtcdCa, WRONG_ETCD_CA } from './health-real-tools.js';

const NODES = ['cp1', 'cp2', 'cp3'];
/** A loopback address of this machine for the throwaway etcd a snapshot is restored into. */
const RESTORE_IP = '127.0.38.200';
/**
 * The kubelet renews its node Lease every 10 s (a quarter of leaseDurationSeconds 40,
 * k8s.io/component-helpers/apimachinery/lease): a gate allowing 20 s never flags a live node.
 */
const MAX_LEASE_AGE = 20;

export function describeHealthTasks(lab: RealLab): void {
  describe('health tasks on the genuine kubeadm cluster', () => {
    let session: HealthSession | undefined;
    const h = (): HealthSession => {
      if (!session) throw new Error('the health block set-up did not run');
      return session;
    };
    const ip = (node: string) => nodeIp(lab, node);
    /** Every member healthy, every apiserver ready, every node Ready with a fresh lease: as the file's later tests need it. */
    const clusterHealthy = (timeoutSeconds: number) =>
      h().t.run(waitHealthyTask, 'cp1', {
        intervalSeconds: 1,
        timeoutSeconds,
        successes: 2,
        probes: [{ kind: 'etcd', ...TLS }, { kind: 'kube', maxLeaseAgeSeconds: MAX_LEASE_AGE }, ...NODES.map((n) => ({ kind: 'https', url: `https://${ip(n)}:6443/readyz`, cacert: `${P}/ca.crt`, bodyMatches: '^ok$' }))],
      });

    beforeAll(async () => {
      const work = join(lab.work, 'health');
      mkdirSync(work, { recursive: true });
      const t = await labTasks(lab.dir, work);
      session = { t, work, api: await kubeClientFromHost(await t.transports.get('cp1'), '/etc/kubernetes/admin.conf') };
    }, 60_000);

    afterAll(async () => {
      await labFault('resume', 'cp3', lab.dir).catch(() => undefined);
      await labFault('start-sshd', 'cp3', lab.dir).catch(() => undefined);
      await session?.t.transports.closeAll();
    }, 60_000);

    it('etcd-snapshot saves a verified snapshot the pinned etcdutl agrees with and a throwaway etcd restores, reuses it on a re-run of the step, keeps the last N', async () => {
      const { t, work } = h();
      const marker = randomBytes(8).toString('hex');
      expect((await etcdctlIn(lab, 'cp1', `put /kcarun-test/marker ${marker}`)).rc).toBe(0);
      const restoreDir = join(work, 'restore');
      let etcd: ReturnType<typeof spawn> | undefined;
      try {
        const first = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/0/cp1' });
        expect(first.changed).toBe(true);
        const out = first.output as { file: string; sha256: string; revision: number; totalKey: number; size: number };
        expect(out.file.startsWith(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp1'))).toBe(true);
        expect(statSync(out.file).mode & 0o777).toBe(0o600);
        expect(createHash('sha256').update(readFileSync(out.file)).digest('hex')).toBe(out.sha256);
        // The pinned etcdutl (etcd 3.6: snapshot status left etcdctl) agrees with what the task recorded.
        const status = await cmd(machineEtcdTool('etcdutl'), ['snapshot', 'status', out.file, '-w', 'json']);
        expect(status.rc, status.stderr).toBe(0);
        const st = JSON.parse(status.stdout) as { revision: number; totalKey: number };
        expect({ revision: st.revision, totalKey: st.totalKey }).toEqual({ revision: out.revision, totalKey: out.totalKey });
        expect(out.totalKey).toBeGreaterThan(100); // a running cluster's objects
        // Nothing left on the host: not in kcarun's folder, not in etcd's data dir (where the container wrote it).
        expect((await ssh(lab.paths, lab.state, 'cp1', 'ls -A /var/lib/kcarun/snapshots | wc -l')).stdout.trim()).toBe('0');
        expect((await ssh(lab.paths, lab.state, 'cp1', 'ls -A /var/lib/etcd')).stdout.trim()).toBe('member');

        const again = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/0/cp1' });
        expect(again.changed).toBe(false);
        expect((again.output as { file: string }).file).toBe(out.file);
        // The same step id in another run (rotate-k8s-ca after rotate-etcd-ca: one backup stage) is another backup.
        const otherRun = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/0/cp1', runId: 'another-run' });
        expect(otherRun.changed).toBe(true);
        expect((otherRun.output as { file: string }).file).not.toBe(out.file);

        await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/1/cp1' });
        const third = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/2/cp1' });
        expect((third.output as { pruned: string[] }).pruned).toHaveLength(1); // the other run's; the first went when backup/1 was taken
        expect(readdirSync(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp1')).filter((f) => f.endsWith('.db'))).toHaveLength(2);
        expect(existsSync(out.file)).toBe(false);

        // Restorable: etcdutl snapshot restore into a temp data dir; a throwaway etcd 3.6 reads the marker back.
        const snap = (third.output as { file: string }).file;
        const peer = `http://${RESTORE_IP}:2380`;
        const restore = await cmd(machineEtcdTool('etcdutl'), ['snapshot', 'restore', snap, '--data-dir', restoreDir, '--name', 'restore', '--initial-cluster', `restore=${peer}`, '--initial-advertise-peer-urls', peer]);
        expect(restore.rc, restore.stderr).toBe(0);
        etcd = spawn(machineEtcdTool('etcd'), ['--name', 'restore', '--data-dir', restoreDir, '--listen-client-urls', `http://${RESTORE_IP}:2379`, '--advertise-client-urls', `http://${RESTORE_IP}:2379`, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `restore=${peer}`], { stdio: 'ignore' });
        let got = '';
        for (let i = 0; i < 60 && got !== marker; i++) {
          await sleep(500);
          got = (await cmd(machineEtcdTool('etcdctl'), [`--endpoints=http://${RESTORE_IP}:2379`, 'get', '/kcarun-test/marker', '--print-value-only'])).stdout.trim();
        }
        expect(got).toBe(marker);
      } finally {
        if (etcd?.pid && etcd.exitCode === null) {
          etcd.kill('SIGTERM');
          await new Promise((r) => etcd!.once('exit', r));
        }
        rmSync(restoreDir, { recursive: true, force: true });
        await etcdctlIn(lab, 'cp1', 'del /kcarun-test/marker');
      }
      expect(etcd?.pid === undefined || !isRunning(etcd.pid)).toBe(true);
    }, 180_000);

    it('etcd-snapshot refuses when the CA it is given is not the one of etcd, saving nothing', async () => {
      const { t, work } = h();
      const err = await withWrongEtcdCa(lab, () => failure(t.run(etcdSnapshotTask, 'cp2', { ...TLS, cacert: WRONG_ETCD_CA }, { stepId: 'backup/9/cp2' })));
      console.log(`[e2e health-real] snapshot with a wrong CA: ${err.message}`);
      // etcd 3.6's last line is "Error: unhealthy cluster": the cause is in the lines before it.
      expect(err.message).toMatch(new RegExp(`^cp2: etcd snapshot: no healthy member to snapshot \\(https://${re(ip('cp2'))}:2379: .*x509: certificate signed by unknown authority`));
      expect(existsSync(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp2'))).toBe(false);
      expect((await ssh(lab.paths, lab.state, 'cp2', 'ls -A /var/lib/etcd; ls -A /var/lib/kcarun/snapshots 2>/dev/null')).stdout.trim()).toBe('member');
    }, 120_000);

    it("etcd-snapshot on a node with etcdctl but no etcdutl on its PATH writes in etcd's data dir, where the container's etcdutl reads it; a remoteDir too small for the snapshot is refused, nothing written", async () => {
      const { t } = h();
      // The pinned etcdctl (3.6: no `snapshot status`) in the nodes' /usr/local/bin, etcdutl only in the
      // etcd container: a kubeadm node where someone installed etcdctl alone. Every node sees the link.
      const link = join(lab.paths.binDir, 'etcdctl');
      symlinkSync(machineEtcdTool('etcdctl'), link);
      const small = '/run/kcarun-small-snapshots';
      try {
        expect((await ssh(lab.paths, lab.state, 'cp2', 'command -v etcdctl; command -v etcdutl || echo no-etcdutl')).stdout.trim().split('\n')).toEqual(['/usr/local/bin/etcdctl', 'no-etcdutl']);
        // What a killed run left in etcd's data dir two hours ago goes; a file of a run that may still be writing stays.
        const leftovers = 'touch -d "2 hours ago" /var/lib/etcd/.kcarun-snapshot-killed.db && touch /var/lib/etcd/.kcarun-snapshot-recent.db';
        expect((await ssh(lab.paths, lab.state, 'cp2', leftovers)).rc).toBe(0);
        const ok = await t.run(etcdSnapshotTask, 'cp2', { ...TLS, keep: 5 }, { stepId: 'backup/5/cp2' });
        expect(ok.changed).toBe(true);
        expect((ok.output as { totalKey: number }).totalKey).toBeGreaterThan(100);
        expect(t.logs).toContain("warn removed /var/lib/etcd/.kcarun-snapshot-killed.db, a snapshot an interrupted run left in etcd's data dir");
        expect((await ssh(lab.paths, lab.state, 'cp2', 'rm /var/lib/etcd/.kcarun-snapshot-recent.db && ls -A /var/lib/etcd; ls -A /var/lib/kcarun/snapshots')).stdout.trim()).toBe('member');

        // A 64 KiB tmpfs in cp2's own mount namespace as remoteDir: the snapshot (a running cluster's
        // database: a few MB, 1-2 MB in this lab) cannot fit.
        expect((await ssh(lab.paths, lab.state, 'cp2', `mkdir -p ${small} && mount -t tmpfs -o size=64k tmpfs ${small}`)).rc).toBe(0);
        // --dry-run already says so: the room check only reads (df, stat, endpoint status).
        const planned = await failure(t.plan(etcdSnapshotTask, 'cp2', { ...TLS, remoteDir: `${small}/not-yet-made` }, { stepId: 'backup/6/cp2' }));
        expect(planned.message).toMatch(new RegExp(`^cp2: etcd snapshot: ${re(small)}/not-yet-made has \\d+ MiB free, \\d+ MiB needed \\(the snapshot, moved there from /var/lib/etcd\\); the run would stop here$`));
        const err = await failure(t.run(etcdSnapshotTask, 'cp2', { ...TLS, remoteDir: small }, { stepId: 'backup/6/cp2' }));
        console.log(`[e2e health-real] snapshot into a 64 KiB remoteDir: ${err.message}`);
        expect(err.message).toMatch(new RegExp(`^cp2: etcd snapshot: ${re(small)} has \\d+ MiB free, \\d+ MiB needed \\(the snapshot, moved there from /var/lib/etcd\\); no snapshot was written$`));
        expect((await ssh(lab.paths, lab.state, 'cp2', `ls -A /var/lib/etcd; ls -A ${small}`)).stdout.trim()).toBe('member');
      } finally {
        rmSync(link, { force: true });
        await ssh(lab.paths, lab.state, 'cp2', `umount ${small} 2>/dev/null; rmdir ${small} 2>/dev/null; rm -f /var/lib/etcd/.kcarun-snapshot-killed.db /var/lib/etcd/.kcarun-snapshot-recent.db`);
      }
    }, 180_000);

    it('wait-healthy passes every probe kind on the healthy cluster', async () => {
      const { t } = h();
      const probes = [
        { kind: 'etcd', ...TLS },
        { kind: 'https', url: `https://${ip('cp2')}:6443/readyz`, cacert: `${P}/ca.crt`, bodyMatches: '^ok$' },
        // The kubelet serves its own self-signed certificate (kubeadm default, no serverTLSBootstrap).
        { kind: 'kubelet', address: `${ip('cp2')}:10250`, cert: `${P}/apiserver-kubelet-client.crt`, key: `${P}/apiserver-kubelet-client.key`, ca: `${P}/ca.crt` },
        { kind: 'tls', address: `${ip('cp2')}:6443`, ca: `${P}/ca.crt` },
        { kind: 'tls', address: `${ip('cp3')}:2379`, ca: `${P}/etcd/ca.crt`, cert: TLS.cert, key: TLS.key },
        { kind: 'tcp', address: `${ip('cp1')}:2380` },
        { kind: 'command', command: 'hostname', stdoutMatches: '^cp2$' },
        { kind: 'kube', nodes: NODES },
      ];
      const res = await t.run(waitHealthyTask, 'cp2', { intervalSeconds: 1, successes: 2, timeoutSeconds: 60, probes });
      expect((res.output as { probes: Array<{ probe: string }> }).probes.map((p) => p.probe)).toEqual([
        'etcd', `https https://${ip('cp2')}:6443/readyz`, `kubelet ${ip('cp2')}:10250`, `tls ${ip('cp2')}:6443`, `tls ${ip('cp3')}:2379`, `tcp ${ip('cp1')}:2380`, 'command', 'kube',
      ]);
    }, 120_000);

    it('wait-healthy fails each probe with a message naming the host, the probe and the cause', async () => {
      const { t } = h();
      const ip1 = re(ip('cp1'));
      const caSubject = new X509Certificate(readFileSync(lab.fs('cp1', `${P}/ca.crt`))).subject.replace(/=/g, ' = ');
      const fast = { intervalSeconds: 0.5, timeoutSeconds: 2, successes: 2 };
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ kind: 'tls', address: `${ip('cp1')}:6443`, ca: `${P}/etcd/ca.crt` }, new RegExp(`^cp1: probe tls ${ip1}:6443 not healthy within 2 s .*served certificate does not verify against /etc/kubernetes/pki/etcd/ca\\.crt: .*issuer: ${re(caSubject)}`)],
        [{ kind: 'etcd', name: 'etcd-new-ca', ...TLS, cacert: WRONG_ETCD_CA }, /^cp1: probe etcd-new-ca not healthy within 2 s .*last error: etcdctl member list failed \(rc 1\): (?!.*connect using default endpoints).*x509: certificate signed by unknown authority/],
        // The real apiserver authorizes anonymous requests (system:anonymous) and refuses /api: 403, not 401.
        [{ kind: 'https', url: `https://${ip('cp1')}:6443/api`, cacert: `${P}/ca.crt` }, new RegExp(`^cp1: probe https https://${ip1}:6443/api .*answered HTTP 403 \\(expected 200\\)`)],
        [{ kind: 'https', url: `https://${ip('cp1')}:6443/readyz`, cacert: `${P}/front-proxy-ca.crt` }, new RegExp(`^cp1: probe https .*curl https://${ip1}:6443/readyz failed \\(rc 60\\): curl: \\(60\\) SSL certificate problem`)],
        [{ kind: 'tcp', address: `${ip('cp1')}:2999` }, new RegExp(`^cp1: probe tcp ${ip1}:2999 .*cannot connect to ${ip1}:2999.*Connection refused`)],
        [{ kind: 'command', command: 'hostname', stdoutMatches: '^cp9$' }, /^cp1: probe command .*output does not match \/\^cp9\$\/: cp1/],
        [{ kind: 'kube', nodes: ['cp1', 'cp4'] }, /^cp1: probe kube .*node cp4 is not registered/],
      ];
      await withWrongEtcdCa(lab, async () => {
        for (const [probe, message] of cases) {
          const err = await failure(t.run(waitHealthyTask, 'cp1', { ...fast, probes: [probe] }));
          console.log(`[e2e health-real] ${String(probe['kind'])}: ${err.message}`);
          expect(err.code).toBe('E_TIMEOUT');
          expect(err.message).toMatch(message);
          expect(err.context.host).toBe('cp1');
        }
      });
    }, 180_000);

    it('the etcd and Lease leader probes name inventory hosts, agreeing with etcdctl and the Lease objects', async () => {
      const { t, api } = h();
      expect(await t.leader(etcdLeaderProbe, NODES, TLS)).toBe(await etcdctlLeader(lab));
      for (const name of ['kube-controller-manager', 'kube-scheduler']) {
        const lease = await api.get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`);
        const holder = lease!.spec.holderIdentity.split('_')[0]!;
        expect(NODES).toContain(holder);
        expect(await t.leader(leaseLeaderProbe, NODES, { name })).toBe(holder);
        // A leader outside the stage's hosts is no leader of the stage.
        expect(await t.leader(leaseLeaderProbe, NODES.filter((n) => n !== holder), { name })).toBeNull();
      }
    }, 120_000);

    it('leader-last through the built CLI puts the real etcd leader, and the kube-scheduler Lease holder, last', async () => {
      const { t, api, work } = h();
      expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
      // cp1 (first in inventory order) the leader, so leader-last must really reorder.
      if ((await etcdctlLeader(lab)) !== 'cp1') await moveEtcdLeaderTo(lab, 'cp1');
      expect(await etcdctlLeader(lab)).toBe('cp1');
      const pb = join(work, 'leader-last.yaml');
      writeFileSync(
        pb,
        `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: leader-last, version: 1.0.0 }
stages:
  - name: etcd-rolling
    hosts: etcd
    serial: 1
    order: leader-last
    leader: { type: etcd-leader, with: { cacert: ${TLS.cacert}, cert: ${TLS.cert}, key: ${TLS.key} } }
    tasks:
      - { name: gate, type: wait-healthy, with: { intervalSeconds: 1, successes: 2, timeoutSeconds: 60, probes: [{ kind: etcd, cacert: ${TLS.cacert}, cert: ${TLS.cert}, key: ${TLS.key} }] } }
  - name: scheduler-rolling
    hosts: control_plane
    serial: 1
    order: leader-last
    leader: { type: lease, with: { name: kube-scheduler } }
    tasks:
      - { name: gate, type: wait-healthy, with: { intervalSeconds: 0.5, successes: 1, probes: [{ kind: command, command: hostname }] } }
`,
      );
      const schedulerHolder = async (): Promise<string> =>
        (await api.get<{ spec: { holderIdentity: string } }>('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler'))!.spec.holderIdentity.split('_')[0]!;
      const holderBefore = await schedulerHolder();
      const res = await runCli([pb, '-i', t.inventoryFile, '--yes', '--output', 'json', '--state-dir', join(work, 'cli-state')], { cwd: work });
      expect(res.code, res.stderr + res.stdout.slice(-3000)).toBe(0);
      const events = jsonEvents(res.stdout);
      expect(events.find((e) => e.event === 'stage-start' && e.stage === 'etcd-rolling')?.hosts).toEqual(['cp2', 'cp3', 'cp1']);
      expect(events.filter((e) => e.event === 'batch-start' && e.stage === 'etcd-rolling').map((e) => e.hosts)).toEqual([['cp2'], ['cp3'], ['cp1']]);
      expect(await etcdctlLeader(lab)).toBe('cp1');
      // The kube-scheduler Lease holder goes last in the second stage.
      expect(await schedulerHolder()).toBe(holderBefore);
      expect(events.find((e) => e.event === 'stage-start' && e.stage === 'scheduler-rolling')?.hosts).toEqual([...NODES.filter((n) => n !== holderBefore), holderBefore]);
    }, 300_000);

    describeKubeApiTasks(lab, h);

    it('preflight lists a cert/key mismatch, a foreign CA, a missing CA key, an unreachable host and a held lock in one refusal, changing no file', async () => {
      const { work } = h();
      // A leaf from a foreign CA on cp2, and a kubelet client key swapped onto the apiserver cert on cp3.
      const foreign = join(work, 'foreign');
      mkdirSync(foreign, { recursive: true });
      const leafKey = lab.fs('cp2', `${P}/kcarun-health-test-foreign-leaf.key`);
      const leafCrt = lab.fs('cp2', `${P}/kcarun-health-test-foreign-leaf.crt`);
      const stateDir = join(work, 'preflight-state');
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(join(stateDir, 'lock'), `${JSON.stringify({ pid: 1, host: 'other-operator', startedAt: '2026-01-01T00:00:00Z', command: 'kcarun run rotate.yaml' })}\n`);
      const caSubject = new X509Certificate(readFileSync(lab.fs('cp1', `${P}/ca.crt`))).subject.split('\n').join(', ');
      try {
        expect((await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${foreign}/ca.key`, '-out', `${foreign}/ca.crt`, '-subj', '/CN=foreign-ca', '-days', '30'])).rc).toBe(0);
        expect((await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', leafKey, '-out', `${foreign}/leaf.csr`, '-subj', '/CN=foreign-leaf'])).rc).toBe(0);
        expect((await openssl(['x509', '-req', '-in', `${foreign}/leaf.csr`, '-CA', `${foreign}/ca.crt`, '-CAkey', `${foreign}/ca.key`, '-CAcreateserial', '-out', leafCrt, '-days', '30'])).rc).toBe(0);
        const before = lab.clusterFiles();
        await labFault('stop-sshd', 'cp3', lab.dir);
        await h().t.transports.closeAll();
        const fresh = await labTasks(lab.dir, work);
        try {
          const err = await failure(
            fresh.run(
              preflightTask,
              'cp1',
              {
                certificates: [
                  { path: `${P}/apiserver.crt`, key: `${P}/apiserver-kubelet-client.key`, ca: `${P}/ca.crt`, hosts: ['cp1'] },
                  { path: `${P}/kcarun-health-test-foreign-leaf.crt`, key: `${P}/kcarun-health-test-foreign-leaf.key`, ca: `${P}/ca.crt`, optional: true },
                ],
                caKeys: [{ cert: `${P}/front-proxy-ca.crt`, key: `${P}/front-proxy-ca.key.missing`, hosts: ['cp2'] }],
              },
              { stateDir },
            ),
          );
          expect(err).toBeInstanceOf(KcarunErrorList);
          expect(err.code).toBe('E_PREFLIGHT');
          const lines = (err as KcarunErrorList).errors.map((e) => e.message);
          expect(lines, err.message).toHaveLength(5);
          expect(lines[0]).toMatch(/^cp3: unreachable: /);
          expect(lines).toContain(`cp1: ${P}/apiserver.crt: does not match its key ${P}/apiserver-kubelet-client.key`);
          expect(lines).toContain(`cp2: ${P}/kcarun-health-test-foreign-leaf.crt: does not chain to ${P}/ca.crt: issued by "CN=foreign-ca", which chains to no CA of the bundle ("${caSubject}")`);
          expect(lines).toContain(`cp2: CA key ${P}/front-proxy-ca.key.missing is missing (needed to sign on this host)`);
          expect(lines).toContain(`local: another run holds the lock ${join(stateDir, 'lock')} (pid 1 on other-operator since 2026-01-01T00:00:00Z: kcarun run rotate.yaml)`);
          expect(err.message.split('\n')[0]).toBe('preflight found 5 problem(s); nothing was changed:');
          expect(err.message).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
        } finally {
          await fresh.transports.closeAll();
          await labFault('start-sshd', 'cp3', lab.dir);
          h().t = await labTasks(lab.dir, work);
          h().api = await kubeClientFromHost(await h().t.transports.get('cp1'), '/etc/kubernetes/admin.conf');
        }
        expect(lab.clusterFiles()).toEqual(before);
      } finally {
        rmSync(leafCrt, { force: true });
        rmSync(leafKey, { force: true });
      }
    }, 180_000);

    it('the etcd gate fails naming the stopped member, and passes again once the kubelet has it back', async () => {
      const { t } = h();
      const manifest = '/etc/kubernetes/manifests/etcd.yaml';
      const off = '/etc/kubernetes/kcarun-health-test-etcd.yaml.off';
      // The kubelet stops a static pod whose manifest leaves the folder (kubeadm's own way to stop etcd).
      expect((await ssh(lab.paths, lab.state, 'cp3', `mv ${manifest} ${off}`)).rc).toBe(0);
      const movedAt = Date.now();
      let backAt = Date.now();
      try {
        let rc = 0;
        for (let i = 0; i < 90 && rc === 0; i++) {
          rc = (await etcdctlIn(lab, 'cp1', 'endpoint health', 'cp3')).rc;
          if (rc === 0) await sleep(1000);
        }
        expect(rc, 'cp3 etcd still answers 90 s after its manifest left').not.toBe(0);
        console.log(`[e2e health-real] cp3 etcd stopped by the kubelet ${((Date.now() - movedAt) / 1000).toFixed(0)} s after its manifest left`);
        const err = await failure(t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 5, successes: 2, probes: [{ kind: 'etcd', ...TLS }] }));
        console.log(`[e2e health-real] etcd gate, cp3 stopped: ${err.message}`);
        expect(err.message).toMatch(new RegExp(`^cp1: probe etcd not healthy within 5 s .*last error: unhealthy member\\(s\\): https://${re(ip('cp3'))}:2379`));
        expect(err.message).not.toMatch(new RegExp(`https://(${re(ip('cp1'))}|${re(ip('cp2'))}):2379`));
      } finally {
        expect((await ssh(lab.paths, lab.state, 'cp3', `mv ${off} ${manifest}`)).rc).toBe(0);
        backAt = Date.now();
      }
      const ok = await clusterHealthy(180);
      console.log(`[e2e health-real] etcd, apiservers and nodes healthy again ${((Date.now() - backAt) / 1000).toFixed(0)} s after cp3's etcd manifest came back`);
      expect(ok.changed).toBe(false);
    }, 360_000);

    it('the kube gate fails naming a paused node whose Lease stops renewing, a gate on that node is cut off at its deadline, and both pass once it resumes', async () => {
      const { t, api } = h();
      // An SSH session to cp3 that was open before the node froze, as in a real rolling run.
      expect((await (await t.transports.get('cp3')).exec('true')).rc).toBe(0);
      const leaseAge = async (): Promise<number> => {
        const l = await api.get<{ spec: { renewTime: string } }>('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/cp3');
        return (Date.now() - Date.parse(l!.spec.renewTime)) / 1000;
      };
      // Every process of the node (kubelet, containerd, sshd); its containers run on, unwatched.
      await labFault('pause', 'cp3', lab.dir);
      const pausedAt = Date.now();
      try {
        // A gate on the paused host itself: its SSH session hangs, the attempt is cut off at the deadline.
        const stuck = await failure(t.run(waitHealthyTask, 'cp3', { intervalSeconds: 0.5, timeoutSeconds: 3, successes: 1, probes: [{ kind: 'tcp', address: `${ip('cp3')}:2379` }] }));
        expect(stuck.message).toBe(`cp3: probe tcp ${ip('cp3')}:2379 not healthy within 3 s (1 consecutive successes needed, 1 attempts); last error: an attempt was cut off after 15 s, past the 3 s deadline`);
        expect(Date.now() - pausedAt).toBeLessThan(25_000);
        // The lease was fresh when the node stopped: wait (reading the API) until it is older than the gate allows.
        for (let i = 0; i < 60 && (await leaseAge()) <= MAX_LEASE_AGE; i++) await sleep(500);
        expect(await leaseAge(), 'cp3 still renews its lease while paused').toBeGreaterThan(MAX_LEASE_AGE);
        const err = await failure(t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 4, successes: 2, probes: [{ kind: 'kube', maxLeaseAgeSeconds: MAX_LEASE_AGE }] }));
        console.log(`[e2e health-real] kube gate, cp3 paused ${((Date.now() - pausedAt) / 1000).toFixed(0)} s: ${err.message}`);
        expect(err.message).toMatch(new RegExp(`^cp1: probe kube not healthy within 4 s .*last error: node cp3 lease not renewed for \\d+ s \\(max ${MAX_LEASE_AGE} s\\)`));
        expect(err.message).not.toMatch(/node cp[12] /);
      } finally {
        await labFault('resume', 'cp3', lab.dir);
      }
      await clusterHealthy(180);
    }, 360_000);
  });
}
