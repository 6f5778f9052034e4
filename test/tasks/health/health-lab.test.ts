/**
 * Health tasks against one real lab (kubeadm layout, real etcd 3.4 with mutual TLS, real sshd):
 * snapshots saved, verified and restored into a throwaway etcd; every probe passing on the healthy
 * lab and failing with a message naming host, probe and cause on a broken one (wrong CA, a stopped
 * member, a paused node); leader probes agreeing with etcdctl and the Lease; leader-last through the
 * built CLI; the Kubernetes API tasks; preflight refusing with every problem and changing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labUp } from '../../../lab/commands/up.js';
import { labDown } from '../../../lab/commands/down.js';
import { labFault } from '../../../lab/commands/fault.js';
import { LabPaths } from '../../../lab/lab-paths.js';
import type { LabState } from '../../../lab/lab-state.js';
import { isRunning } from '../../../lab/processes.js';
import { KcarunError, KcarunErrorList } from '../../../src/core/errors.js';
import { etcdSnapshotTask } from '../../../src/tasks/etcd-snapshot/index.js';
import { waitHealthyTask } from '../../../src/tasks/wait-healthy/index.js';
import { etcdLeaderProbe } from '../../../src/tasks/etcd-leader-probe/index.js';
import { leaseLeaderProbe } from '../../../src/tasks/lease-leader-probe/index.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { kubeConfigMapPatchTask } from '../../../src/tasks/kube-configmap-patch/index.js';
import { kubeRolloutRestartTask } from '../../../src/tasks/kube-rollout-restart/index.js';
import { kubeWaitTask } from '../../../src/tasks/kube-wait/index.js';
import { kubeClientFromHost, type KubeApiClient } from '../../../src/tasks/shared/kube-api-client.js';
import { CLI, jsonEvents, runCli } from '../../helpers/cli.js';
import { cmd, openssl, ssh, tempLabDir } from '../../lab/lab-fixture.js';
import { labTasks, type LabTasks } from './health-fixture.js';
import { setTimeout as sleep } from 'node:timers/promises';

const PREFIX = '127.0.21';
const P = '/etc/kubernetes/pki';
const TLS = { cacert: `${P}/etcd/ca.crt`, cert: `${P}/etcd/healthcheck-client.crt`, key: `${P}/etcd/healthcheck-client.key` };

async function failure(p: Promise<unknown>): Promise<KcarunError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KcarunError);
    return err as KcarunError;
  }
  throw new Error('expected a failure, got success');
}

describe('health tasks on the lab', () => {
  const dir = tempLabDir('health');
  const work = tempLabDir('health-work');
  const paths = new LabPaths(dir);
  let state: LabState;
  let t: LabTasks;
  let api: KubeApiClient;

  const etcdctlOn = (node: string, args: string): Promise<{ stdout: string; stderr: string; rc: number }> =>
    ssh(paths, state, node, `ETCDCTL_API=3 etcdctl --endpoints=https://${state.nodes.find((n) => n.name === node)!.ip}:2379 --cacert=${TLS.cacert} --cert=${TLS.cert} --key=${TLS.key} ${args}`);

  /** The current leader's node name, from etcdctl's own table (IS LEADER column). */
  async function etcdctlLeader(): Promise<string> {
    const r = await etcdctlOn('cp1', 'endpoint status --cluster -w table');
    const row = r.stdout.split('\n').find((l) => /\|\s*true\s*\|/.test(l) && /https:\/\//.test(l));
    const ip = /https:\/\/([\d.]+):2379/.exec(row ?? '')?.[1];
    return state.nodes.find((n) => n.ip === ip)?.name ?? `none (${r.stdout} ${r.stderr})`;
  }

  beforeAll(async () => {
    state = await labUp({ dir, nodes: 3, layout: 'kubeadm', caDaysLeft: 30, ipPrefix: PREFIX, log: () => undefined });
    t = await labTasks(dir, work);
    api = await kubeClientFromHost(await t.transports.get('cp1'), '/etc/kubernetes/admin.conf');
  }, 120_000);

  afterAll(async () => {
    await t?.transports.closeAll();
    await labFault('resume', 'cp3', dir).catch(() => undefined);
    await labDown({ dir, purge: true, log: () => undefined });
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('saves a verified etcd snapshot with a matching sha256, reuses it on a re-run of the step, keeps the last N', async () => {
    const marker = randomBytes(8).toString('hex');
    expect((await etcdctlOn('cp1', `put /kcarun-test/marker ${marker}`)).rc).toBe(0);
    const first = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/0/cp1' });
    expect(first.changed).toBe(true);
    const out = first.output as { file: string; sha256: string; revision: number; totalKey: number; size: number };
    expect(out.file.startsWith(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp1'))).toBe(true);
    expect(statSync(out.file).mode & 0o777).toBe(0o600);
    expect(createHash('sha256').update(readFileSync(out.file)).digest('hex')).toBe(out.sha256);
    // etcdctl on this machine agrees with what the task recorded.
    const status = JSON.parse((await cmd('etcdctl', ['snapshot', 'status', out.file, '-w', 'json'])).stdout) as { revision: number; totalKey: number };
    expect(status.revision).toBe(out.revision);
    expect(status.totalKey).toBe(out.totalKey);
    expect(out.totalKey).toBeGreaterThan(100); // the lab seeds keys
    // Nothing left on the host.
    expect((await ssh(paths, state, 'cp1', 'ls /var/lib/kcarun/snapshots | wc -l')).stdout.trim()).toBe('0');

    const again = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/0/cp1' });
    expect(again.changed).toBe(false);
    expect((again.output as { file: string }).file).toBe(out.file);

    await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/1/cp1' });
    const third = await t.run(etcdSnapshotTask, 'cp1', { ...TLS, keep: 2 }, { stepId: 'backup/2/cp1' });
    expect((third.output as { pruned: string[] }).pruned).toHaveLength(1);
    const dbs = readdirSync(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp1')).filter((f) => f.endsWith('.db'));
    expect(dbs).toHaveLength(2);
    expect(existsSync(out.file)).toBe(false);

    // Restorable: `etcdctl snapshot restore` into a temp data dir, a throwaway etcd reads the marker back.
    const snap = (third.output as { file: string }).file;
    const restoreDir = join(work, 'restore');
    const ip = `${PREFIX}.200`;
    const restore = await cmd('etcdctl', ['snapshot', 'restore', snap, '--data-dir', restoreDir, '--name', 'restore', '--initial-cluster', `restore=http://${ip}:2380`, '--initial-advertise-peer-urls', `http://${ip}:2380`]);
    expect(restore.rc, restore.stderr).toBe(0);
    const etcd = spawn('etcd', ['--name', 'restore', '--data-dir', restoreDir, '--listen-client-urls', `http://${ip}:2379`, '--advertise-client-urls', `http://${ip}:2379`, '--listen-peer-urls', `http://${ip}:2380`, '--initial-advertise-peer-urls', `http://${ip}:2380`, '--initial-cluster', `restore=http://${ip}:2380`], { stdio: 'ignore' });
    try {
      let got = '';
      for (let i = 0; i < 40 && got !== marker; i++) {
        await sleep(250);
        got = (await cmd('etcdctl', [`--endpoints=http://${ip}:2379`, 'get', '/kcarun-test/marker', '--print-value-only'])).stdout.trim();
      }
      expect(got).toBe(marker);
    } finally {
      etcd.kill('SIGTERM');
      await new Promise((r) => etcd.once('exit', r));
    }
    expect(isRunning(etcd.pid)).toBe(false);
  }, 90_000);

  it('refuses to snapshot with a client certificate etcd does not trust, saving nothing', async () => {
    const err = await failure(t.run(etcdSnapshotTask, 'cp2', { ...TLS, cacert: `${P}/ca.crt` }, { stepId: 'backup/9/cp2' }));
    expect(err.message).toMatch(/^cp2: etcd snapshot: no healthy member to snapshot \(https:\/\/127\.0\.21\.2:2379: /);
    expect(existsSync(join(work, 'state', 'artifacts', 'etcd-snapshots', 'cp2'))).toBe(false);
  }, 60_000);

  it('passes every probe kind on the healthy lab', async () => {
    const res = await t.run(waitHealthyTask, 'cp2', {
      intervalSeconds: 0.5,
      successes: 2,
      timeoutSeconds: 30,
      probes: [
        { kind: 'etcd', ...TLS },
        { kind: 'https', url: `https://${PREFIX}.2:6443/readyz`, cacert: `${P}/ca.crt`, bodyMatches: '^ok$' },
        { kind: 'https', url: `https://${PREFIX}.2:10250/pods`, cacert: `${P}/ca.crt`, cert: `${P}/apiserver-kubelet-client.crt`, key: `${P}/apiserver-kubelet-client.key` },
        { kind: 'tls', address: `${PREFIX}.2:6443`, ca: `${P}/ca.crt` },
        { kind: 'tls', address: `${PREFIX}.3:2379`, ca: `${P}/etcd/ca.crt`, cert: TLS.cert, key: TLS.key },
        { kind: 'tcp', address: `${PREFIX}.1:2380` },
        { kind: 'command', command: 'hostname', stdoutMatches: '^cp2$' },
        { kind: 'kube', nodes: ['cp1', 'cp2', 'cp3'] },
      ],
    });
    expect((res.output as { probes: Array<{ probe: string }> }).probes.map((p) => p.probe)).toEqual([
      'etcd', `https https://${PREFIX}.2:6443/readyz`, `https https://${PREFIX}.2:10250/pods`, `tls ${PREFIX}.2:6443`, `tls ${PREFIX}.3:2379`, `tcp ${PREFIX}.1:2380`, 'command', 'kube',
    ]);
  }, 90_000);

  it('fails each probe with a message naming the host, the probe and the cause', async () => {
    const fast = { intervalSeconds: 0.5, timeoutSeconds: 2, successes: 2 };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ kind: 'tls', address: `${PREFIX}.1:6443`, ca: `${P}/etcd/ca.crt` }, /^cp1: probe tls 127\.0\.21\.1:6443 not healthy within 2 s .*served certificate does not verify against \/etc\/kubernetes\/pki\/etcd\/ca\.crt: .*issuer: CN = kubernetes/],
      [{ kind: 'etcd', name: 'etcd-new-ca', ...TLS, cacert: `${P}/ca.crt` }, /^cp1: probe etcd-new-ca not healthy within 2 s .*last error: etcdctl member list failed/],
      [{ kind: 'https', url: `https://${PREFIX}.1:6443/api`, cacert: `${P}/ca.crt` }, /^cp1: probe https https:\/\/127\.0\.21\.1:6443\/api .*answered HTTP 401 \(expected 200\)/],
      [{ kind: 'https', url: `https://${PREFIX}.1:6443/readyz`, cacert: `${P}/front-proxy-ca.crt` }, /^cp1: probe https .*curl https:\/\/127\.0\.21\.1:6443\/readyz failed \(rc 60\)/],
      [{ kind: 'tcp', address: `${PREFIX}.1:2999` }, /^cp1: probe tcp 127\.0\.21\.1:2999 .*cannot connect to 127\.0\.21\.1:2999.*Connection refused/],
      [{ kind: 'command', command: 'hostname', stdoutMatches: '^cp9$' }, /^cp1: probe command .*output does not match \/\^cp9\$\/: cp1/],
      [{ kind: 'kube', nodes: ['cp1', 'cp4'] }, /^cp1: probe kube .*node cp4 is not registered/],
    ];
    for (const [probe, message] of cases) {
      const err = await failure(t.run(waitHealthyTask, 'cp1', { ...fast, probes: [probe] }));
      expect(err.code).toBe('E_TIMEOUT');
      expect(err.message).toMatch(message);
      expect(err.context.host).toBe('cp1');
    }
  }, 120_000);

  it('finds the etcd leader and the Lease holders as inventory hosts, agreeing with etcdctl and the API', async () => {
    expect(await t.leader(etcdLeaderProbe, ['cp1', 'cp2', 'cp3'], TLS)).toBe(await etcdctlLeader());
    for (const name of ['kube-controller-manager', 'kube-scheduler']) {
      const lease = await api.get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`);
      const holder = lease!.spec.holderIdentity.split('_')[0];
      expect(['cp1', 'cp2', 'cp3']).toContain(holder);
      expect(await t.leader(leaseLeaderProbe, ['cp1', 'cp2', 'cp3'], { name })).toBe(holder);
      // A leader outside the stage's hosts is no leader of the stage.
      expect(await t.leader(leaseLeaderProbe, ['cp1', 'cp2', 'cp3'].filter((h) => h !== holder), { name })).toBeNull();
    }
  }, 60_000);

  it('puts the real etcd leader, and the kube-scheduler Lease holder, last in leader-last stages run through the built CLI', async () => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
    // Make cp1 (first in inventory order) the leader, so leader-last must really reorder.
    if ((await etcdctlLeader()) !== 'cp1') {
      const ids = JSON.parse((await etcdctlOn('cp1', 'member list -w json')).stdout.replace(/("ID":)(\d+)/g, '$1"$2"')) as { members: Array<{ ID: string; name: string }> };
      const cp1 = ids.members.find((m) => m.name === 'cp1')!.ID;
      const leaderIp = state.nodes.find((n) => n.name === 'cp1')!.ip;
      let moved = '';
      for (const n of state.nodes) {
        const r = await ssh(paths, state, 'cp1', `ETCDCTL_API=3 etcdctl --endpoints=https://${n.ip}:2379 --cacert=${TLS.cacert} --cert=${TLS.cert} --key=${TLS.key} move-leader ${BigInt(cp1).toString(16)}`);
        if (r.rc === 0) moved = n.name;
      }
      expect(moved, `move-leader to ${leaderIp}`).not.toBe('');
    }
    expect(await etcdctlLeader()).toBe('cp1');
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
      - { name: gate, type: wait-healthy, with: { intervalSeconds: 0.5, successes: 1, timeoutSeconds: 30, probes: [{ kind: etcd, cacert: ${TLS.cacert}, cert: ${TLS.cert}, key: ${TLS.key} }] } }
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
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const events = jsonEvents(res.stdout);
    const start = events.find((e) => e.event === 'stage-start' && e.stage === 'etcd-rolling');
    expect(start?.hosts).toEqual(['cp2', 'cp3', 'cp1']);
    expect(events.filter((e) => e.event === 'batch-start' && e.stage === 'etcd-rolling').map((e) => e.hosts)).toEqual([['cp2'], ['cp3'], ['cp1']]);
    // The kube-scheduler Lease holder goes last in the second stage.
    expect(await schedulerHolder()).toBe(holderBefore);
    const sched = events.find((e) => e.event === 'stage-start' && e.stage === 'scheduler-rolling')?.hosts as string[];
    expect(sched).toEqual([...['cp1', 'cp2', 'cp3'].filter((h) => h !== holderBefore), holderBefore]);
  }, 120_000);

  it('patches cluster-info CA data idempotently and rolls it back; restarts workloads; waits for kube-root-ca.crt', async () => {
    const caPem = readFileSync(paths.node('cp1').fs(`${P}/ca.crt`), 'utf8');
    const etcdCaPem = readFileSync(paths.node('cp1').fs(`${P}/etcd/ca.crt`), 'utf8');
    const oldInfo = `apiVersion: v1\nkind: Config\nclusters:\n- name: ""\n  cluster:\n    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}\n    server: https://${PREFIX}.1:6443\ncontexts: null\ncurrent-context: ""\nusers: null\n`;
    await api.put('/api/v1/namespaces/kube-public/configmaps/cluster-info', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig: oldInfo, 'jws-kubeconfig-abcdef': 'x' } });
    writeFileSync(paths.node('cp1').fs('/etc/kubernetes/pki/bundle-test.crt'), caPem + etcdCaPem);
    const params = { namespace: 'kube-public', name: 'cluster-info', kubeconfigCa: { key: 'kubeconfig', caFile: '/etc/kubernetes/pki/bundle-test.crt' } };
    const first = await t.run(kubeConfigMapPatchTask, 'cp1', params);
    expect(first.changed).toBe(true);
    const cm = await api.get<{ data: Record<string, string> }>('/api/v1/namespaces/kube-public/configmaps/cluster-info');
    expect(cm!.data['kubeconfig']).toBe(oldInfo.replace(Buffer.from(caPem).toString('base64'), Buffer.from(caPem + etcdCaPem).toString('base64')));
    expect(cm!.data['jws-kubeconfig-abcdef']).toBe('x');
    expect((await t.run(kubeConfigMapPatchTask, 'cp1', params)).changed).toBe(false);
    // Rollback from the journal's undo puts the old kubeconfig back.
    const ctxRollback = { params, host: t.host('cp1'), transport: await t.transports.get('cp1') } as never;
    await kubeConfigMapPatchTask.rollback!(ctxRollback, first.undo);
    expect((await api.get<{ data: Record<string, string> }>('/api/v1/namespaces/kube-public/configmaps/cluster-info'))!.data['kubeconfig']).toBe(oldInfo);
    rmSync(paths.node('cp1').fs('/etc/kubernetes/pki/bundle-test.crt'));

    const restart = await t.run(kubeRolloutRestartTask, 'cp1', { namespaces: ['kube-system'], kinds: ['deployments'], timeoutSeconds: 20 });
    const stamp = (restart.output as { restartedAt: string; restarted: string[] }).restartedAt;
    expect((restart.output as { restarted: string[] }).restarted).toContain('deployments/kube-system/coredns');
    const coredns = await api.get<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>('/apis/apps/v1/namespaces/kube-system/deployments/coredns');
    expect(coredns!.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBe(stamp);

    await t.run(kubeWaitTask, 'cp1', { rootCaFile: `${P}/ca.crt`, timeoutSeconds: 20, intervalSeconds: 0.5 });
    const err = await failure(t.run(kubeWaitTask, 'cp1', { rootCaFile: `${P}/etcd/ca.crt`, timeoutSeconds: 2, intervalSeconds: 0.5 }));
    expect(err.message).toMatch(/^cp1: probe kube-wait not healthy within 2 s .*kube-root-ca\.crt differs from \/etc\/kubernetes\/pki\/etcd\/ca\.crt in namespace\(s\) default, kube-node-lease, kube-public, kube-system/);
  }, 90_000);

  it('preflight passes on the healthy lab and warns about a webhook trusting the old CA', async () => {
    const caPem = readFileSync(paths.node('cp1').fs(`${P}/ca.crt`));
    await api.put('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/policy', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'policy' },
      webhooks: [{ name: 'check.policy.example.com', clientConfig: { caBundle: caPem.toString('base64') } }, { name: 'other.example.com', clientConfig: { caBundle: readFileSync(paths.node('cp1').fs(`${P}/front-proxy-ca.crt`)).toString('base64') } }],
    });
    const res = await t.run(preflightTask, 'cp1', {
      disk: { path: '/var/lib', minFreeMb: 1, localMinFreeMb: 1 },
      etcd: TLS,
      certificates: [
        { path: `${P}/apiserver.crt`, key: `${P}/apiserver.key`, ca: `${P}/ca.crt` },
        { path: `${P}/etcd/server.crt`, key: `${P}/etcd/server.key`, ca: `${P}/etcd/ca.crt` },
        { path: `${P}/front-proxy-client.crt`, key: `${P}/front-proxy-client.key`, ca: `${P}/front-proxy-ca.crt` },
      ],
      caKeys: [{ cert: `${P}/ca.crt`, key: `${P}/ca.key`, hosts: ['cp1'] }],
      webhooks: { oldCaFile: `${P}/ca.crt` },
    });
    expect(res.changed).toBe(false);
    expect((res.output as { warnings: string[] }).warnings).toEqual([
      'validatingwebhookconfigurations/policy webhook check.policy.example.com: caBundle is the old cluster CA; update it when its serving certificate is re-issued',
    ]);
    expect(t.logs.some((l) => l.startsWith('warn validatingwebhookconfigurations/policy'))).toBe(true);
  }, 60_000);

  it('preflight lists a cert/key mismatch, a foreign CA, a missing CA key, an unreachable host and a held lock in one refusal, changing no file', async () => {
    // A leaf from a foreign CA on cp2, and a kubelet client key swapped onto the apiserver cert on cp3.
    const foreign = join(work, 'foreign');
    await cmd('mkdir', ['-p', foreign]);
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${foreign}/ca.key`, '-out', `${foreign}/ca.crt`, '-subj', '/CN=foreign-ca', '-days', '30']);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths.node('cp2').fs(`${P}/foreign-leaf.key`), '-out', `${foreign}/leaf.csr`, '-subj', '/CN=foreign-leaf']);
    await openssl(['x509', '-req', '-in', `${foreign}/leaf.csr`, '-CA', `${foreign}/ca.crt`, '-CAkey', `${foreign}/ca.key`, '-CAcreateserial', '-out', paths.node('cp2').fs(`${P}/foreign-leaf.crt`), '-days', '30']);
    const stateDir = join(work, 'preflight-state');
    await cmd('mkdir', ['-p', stateDir]);
    writeFileSync(join(stateDir, 'lock'), `${JSON.stringify({ pid: 1, host: 'other-operator', startedAt: '2026-01-01T00:00:00Z', command: 'kcarun run rotate.yaml' })}\n`);
    const pkiFiles = (node: string): Record<string, string> => {
      const root = paths.node(node).fs('/etc/kubernetes');
      const out: Record<string, string> = {};
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const f = join(d, e.name);
          if (e.isDirectory()) walk(f);
          else if (e.isFile()) out[f] = `${statSync(f).mtimeMs}:${createHash('sha256').update(readFileSync(f)).digest('hex')}`;
        }
      };
      walk(root);
      return out;
    };
    const before = ['cp1', 'cp2', 'cp3'].map(pkiFiles);
    await labFault('stop-sshd', 'cp3', dir);
    await t.transports.closeAll();
    const fresh = await labTasks(dir, work);
    try {
      const err = await failure(
        fresh.run(
          preflightTask,
          'cp1',
          {
            certificates: [
              { path: `${P}/apiserver.crt`, key: `${P}/apiserver-kubelet-client.key`, ca: `${P}/ca.crt`, hosts: ['cp1'] },
              { path: `${P}/foreign-leaf.crt`, key: `${P}/foreign-leaf.key`, ca: `${P}/ca.crt`, optional: true },
            ],
            caKeys: [{ cert: `${P}/front-proxy-ca.crt`, key: `${P}/front-proxy-ca.key.missing`, hosts: ['cp2'] }],
          },
          { stateDir },
        ),
      );
      expect(err).toBeInstanceOf(KcarunErrorList);
      expect(err.code).toBe('E_PREFLIGHT');
      const lines = (err as KcarunErrorList).errors.map((e) => e.message);
      expect(lines).toHaveLength(5);
      expect(lines[0]).toMatch(/^cp3: unreachable: /);
      expect(lines).toContain(`cp1: ${P}/apiserver.crt: does not match its key ${P}/apiserver-kubelet-client.key`);
      expect(lines).toContain(`cp2: ${P}/foreign-leaf.crt: does not chain to ${P}/ca.crt: issued by "CN=foreign-ca", which chains to no CA of the bundle ("CN=kubernetes")`);
      expect(lines).toContain(`cp2: CA key ${P}/front-proxy-ca.key.missing is missing (needed to sign on this host)`);
      expect(lines).toContain(`local: another run holds the lock ${join(stateDir, 'lock')} (pid 1 on other-operator since 2026-01-01T00:00:00Z: kcarun run rotate.yaml)`);
      expect(err.message.split('\n')[0]).toBe('preflight found 5 problem(s); nothing was changed:');
      expect(err.message).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    } finally {
      await fresh.transports.closeAll();
      await labFault('start-sshd', 'cp3', dir);
      t = await labTasks(dir, work);
    }
    expect(['cp1', 'cp2', 'cp3'].map(pkiFiles)).toEqual(before);
    rmSync(paths.node('cp2').fs(`${P}/foreign-leaf.crt`));
    rmSync(paths.node('cp2').fs(`${P}/foreign-leaf.key`));
  }, 120_000);

  it('fails the etcd gate naming the stopped member, and passes again once it is back', async () => {
    const manifest = '/etc/kubernetes/manifests/etcd.yaml';
    expect((await ssh(paths, state, 'cp3', `mv ${manifest} /etc/kubernetes/etcd.yaml.off`)).rc).toBe(0);
    try {
      for (let i = 0; i < 40 && (await etcdctlOn('cp3', 'endpoint health')).rc === 0; i++) await sleep(250);
      const err = await failure(t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 3, successes: 2, probes: [{ kind: 'etcd', ...TLS }] }));
      expect(err.message).toMatch(/^cp1: probe etcd not healthy within 3 s .*last error: unhealthy member\(s\): https:\/\/127\.0\.21\.3:2379/);
    } finally {
      expect((await ssh(paths, state, 'cp3', `mv /etc/kubernetes/etcd.yaml.off ${manifest}`)).rc).toBe(0);
    }
    const ok = await t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 60, successes: 3, probes: [{ kind: 'etcd', ...TLS }] });
    expect(ok.changed).toBe(false);
  }, 120_000);

  it('fails the kube gate naming a paused node whose lease stops renewing', async () => {
    // An SSH session to cp3 that was open before the node froze, as in a real rolling run.
    expect((await (await t.transports.get('cp3')).exec('true')).rc).toBe(0);
    await labFault('pause', 'cp3', dir);
    try {
      // The lease was fresh when the node stopped: wait (reading the API) until it is older than the gate allows.
      const leaseAge = async (): Promise<number> => {
        const l = await api.get<{ spec: { renewTime: string } }>('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/cp3');
        return (Date.now() - Date.parse(l!.spec.renewTime)) / 1000;
      };
      for (let i = 0; i < 60 && (await leaseAge()) < 9; i++) await sleep(500);
      expect(await leaseAge(), 'cp3 still renews its lease while paused').toBeGreaterThanOrEqual(9);
      const err = await failure(t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 4, successes: 2, probes: [{ kind: 'kube', maxLeaseAgeSeconds: 8 }] }));
      expect(err.message).toMatch(/^cp1: probe kube not healthy within 4 s .*last error: node cp3 lease not renewed for \d+ s \(max 8 s\)( \(then an attempt was cut off after [\d.]+ s, past the 4 s deadline\))?$/);
      expect(err.message).not.toMatch(/node cp[12] /);
      // A gate on the paused host itself: its SSH session hangs, the attempt is cut off at the deadline.
      const t0 = Date.now();
      const stuck = await failure(t.run(waitHealthyTask, 'cp3', { intervalSeconds: 0.5, timeoutSeconds: 3, successes: 1, probes: [{ kind: 'tcp', address: `${PREFIX}.3:2379` }] }));
      expect(stuck.message).toBe(`cp3: probe tcp ${PREFIX}.3:2379 not healthy within 3 s (1 consecutive successes needed, 1 attempts); last error: an attempt was cut off after 15 s, past the 3 s deadline`);
      expect(Date.now() - t0).toBeLessThan(25_000);
    } finally {
      await labFault('resume', 'cp3', dir);
    }
    await t.run(waitHealthyTask, 'cp1', { intervalSeconds: 0.5, timeoutSeconds: 60, successes: 2, probes: [{ kind: 'kube', maxLeaseAgeSeconds: 8 }, { kind: 'etcd', ...TLS }] });
  }, 120_000);

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
