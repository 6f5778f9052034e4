/**
 * The lab in the kubeadm layout, end to end: 3 nodes up (the time printed, not asserted), reachable over real SSH,
 * PKI checked with the openssl CLI, 10 s of traffic with zero failures and zero component errors, a
 * planted kubelet.conf trusting a foreign CA does produce component errors, static pods follow their
 * manifests and crictl, and `down` leaves no process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { labUp } from '../../lab/commands/up.js';
import { labDown } from '../../lab/commands/down.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { labStatus } from '../../lab/commands/status.js';
import { labVerify } from '../../lab/commands/verify.js';
import { LabPaths } from '../../lab/lab-paths.js';
import type { LabState } from '../../lab/lab-state.js';
import { isRunning, pidsInMountNamespace } from '../../lab/processes.js';
import { labFault } from '../../lab/commands/fault.js';
import { adminRequest } from '../../lab/lab-clients.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { kubeadmLayout } from '../../lab/layouts/kubeadm.js';
import { cmd, openssl, runTraffic, ssh, tempLabDir, trafficCounted } from './lab-fixture.js';
import { setTimeout as sleep } from 'node:timers/promises';


describe('lab, kubeadm layout', () => {
  const dir = tempLabDir('kubeadm');
  const paths = new LabPaths(dir);
  let state: LabState;
  let upSeconds = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    state = await labUp({ dir, nodes: 3, layout: 'kubeadm', caDaysLeft: 30, ipPrefix: '127.0.11', log: () => undefined });
    upSeconds = (Date.now() - t0) / 1000;
  });

  afterAll(async () => {
    await labDown({ dir, purge: true, log: () => undefined });
  });

  it('comes up with 3 nodes and prints a kcarun inventory', () => {
    // How long `up` takes is a figure for docs/lab.md, not a test: it follows the machine's load.
    console.log(`[lab-kubeadm] up in ${upSeconds.toFixed(1)} s`);
    const inv = parse(labInventory(dir)) as {
      apiVersion: string; kind: string;
      defaults: { ssh: { user: string; port: number; identityFile: string; knownHostsFile: string } };
      hosts: Record<string, { address: string; vars: { node_ip: string } }>;
      groups: Record<string, { hosts: string[] }>;
      vars: Record<string, unknown>;
    };
    expect(inv.apiVersion).toBe('kcarun/v1');
    expect(inv.kind).toBe('Inventory');
    expect(inv.defaults.ssh).toEqual({ user: 'root', port: 22, identityFile: paths.userKey, knownHostsFile: paths.knownHosts });
    expect(inv.hosts['cp2']).toEqual({ address: '127.0.11.2', vars: { node_ip: '127.0.11.2' } });
    expect(inv.groups['etcd']!.hosts).toEqual(['cp1', 'cp2', 'cp3']);
    expect(inv.groups['control_plane']!.hosts).toEqual(['cp1', 'cp2', 'cp3']);
    expect(inv.groups['workers']!.hosts).toEqual([]);
    expect(inv.vars['etcd_ca_cert']).toBe('/etc/kubernetes/pki/etcd/ca.crt');
    expect(inv.vars['layout']).toBe('kubeadm');
  });

  it('gives each node its own hostname, files and emulated tools over real SSH', async () => {
    const r = await ssh(paths, state, 'cp2', 'hostname; command -v systemctl crictl; grep -c "BEGIN CERT" /etc/kubernetes/pki/apiserver.crt; systemctl is-active kubelet; crictl ps --name etcd -q | wc -l');
    expect(r.rc).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['cp2', '/usr/local/sbin/systemctl', '/usr/local/sbin/crictl', '1', 'active', '1', '']);
    // cp2's apiserver certificate is its own: its SANs name cp2's address, not cp1's.
    const san = await openssl(['x509', '-in', paths.node('cp2').fs('/etc/kubernetes/pki/apiserver.crt'), '-noout', '-ext', 'subjectAltName']);
    expect(san.stdout).toContain('IP Address:127.0.11.2');
    expect(san.stdout).toContain('IP Address:127.0.0.1');
    expect(san.stdout).toContain('DNS:kubernetes.default.svc.cluster.local');
    expect(san.stdout).not.toContain('127.0.11.1');
  });

  it('makes the old CAs near expiry and leaves that chain to them (checked with openssl)', async () => {
    const ca = paths.node('cp1').fs('/etc/kubernetes/pki/ca.crt');
    expect((await openssl(['x509', '-in', ca, '-noout', '-checkend', String(31 * 86400)])).rc).toBe(1);
    expect((await openssl(['x509', '-in', ca, '-noout', '-checkend', String(29 * 86400)])).rc).toBe(0);
    const etcdCa = paths.node('cp3').fs('/etc/kubernetes/pki/etcd/ca.crt');
    const server = paths.node('cp3').fs('/etc/kubernetes/pki/etcd/server.crt');
    const v = await openssl(['verify', '-CAfile', etcdCa, server]);
    expect(v.stdout).toContain(': OK');
    const wrong = await openssl(['verify', '-CAfile', ca, server]);
    expect(wrong.rc).not.toBe(0);
    const keyMode = (await cmd('stat', ['-c', '%a', paths.node('cp1').fs('/etc/kubernetes/pki/ca.key')])).stdout.trim();
    expect(keyMode).toBe('600');
  });

  it('runs traffic on every path with zero failures and zero component errors, data intact', async () => {
    await runTraffic(dir, paths);
    const r = await labVerify(dir);
    expect(r.requests).toBeGreaterThanOrEqual(100);
    // Every path on every node: etcd write/read, admin, kubelet, apiserver -> kubelet, front proxy.
    expect(Object.keys(trafficCounted(paths).byTarget)).toHaveLength(18);
    // Beside it, each apiserver straight (issue 19's unavailability seconds): all answered.
    expect(Object.keys((trafficCounted(paths) as { direct?: object }).direct ?? {}).sort()).toEqual(['apiserver:cp1', 'apiserver:cp2', 'apiserver:cp3']);
    expect(r.unavailability).toEqual([]);
    expect(r.failuresByTarget, JSON.stringify(r.failureWindows)).toEqual({});
    expect(r.failures).toBe(0);
    expect(r.componentErrorsByComponent).toEqual({});
    expect(r.componentErrors).toBe(0);
    expect(r.connectionErrors).toBe(0);
    expect(r.dataIntact).toBe(true);
    // Nothing was rotated: every leaf still chains to the CAs recorded at `up`.
    expect(r.allCertsOnNewCA).toBe(false);
    expect(r.leavesOnOldCa).toContain('cp1:/etc/kubernetes/pki/apiserver.crt');
    expect(r.leavesOnOldCa).toContain('cp2:/etc/kubernetes/admin.conf');
    // kubelet.conf only holds the CA now; its client pair lives in the file the link names.
    expect(r.leavesOnOldCa).not.toContain('cp2:/etc/kubernetes/kubelet.conf');
    expect(r.leavesOnOldCa.filter((w) => /^cp2:\/var\/lib\/kubelet\/pki\/kubelet-client-\d{4}(-\d\d){5}\.pem$/.test(w))).toHaveLength(1);
  }, 180_000);

  it('times an apiserver that cannot answer, straight to it: cp2 without its manifest for 5 s is one window of cp2 alone', async () => {
    await trafficStart({ dir, rate: 20 });
    await sleep(3000);
    // The kubelet stops the pod when its manifest goes, and starts a new one when it comes back.
    const manifest = '/etc/kubernetes/manifests/kube-apiserver.yaml';
    expect((await ssh(paths, state, 'cp2', `mv ${manifest} /etc/kubernetes/kube-apiserver.yaml.out`)).rc).toBe(0);
    await sleep(5000);
    expect((await ssh(paths, state, 'cp2', `mv /etc/kubernetes/kube-apiserver.yaml.out ${manifest}`)).rc).toBe(0);
    // The next direct probe to cp2 that answers closes its window.
    for (let i = 0; i < 60 && (await adminRequest(paths, kubeadmLayout, state.nodes[1]!, '/readyz').catch(() => ({ status: 0 }))).status !== 200; i++) await sleep(500);
    await sleep(3000);
    await trafficStop({ dir });
    const r = await labVerify(dir);
    expect(r.unavailability.map((w) => w.target)).toEqual(['apiserver:cp2']);
    const w = r.unavailability[0]!;
    expect(w.to).not.toBeNull();
    expect(w.seconds).toBeGreaterThanOrEqual(3);
    expect(w.seconds).toBeLessThan(30);
    // Clients behind the load balancer (retried on another node) saw none of it.
    expect(r.failures).toBe(0);
  }, 180_000);

  it('a node the node lifecycle controller marked Ready=Unknown reports Ready again at its next status update (10 s), as the real kubelet does', async () => {
    const ready = async (): Promise<string | undefined> => {
      const node = JSON.parse((await adminRequest(paths, kubeadmLayout, state.nodes[0]!, '/api/v1/nodes/cp3')).body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
      return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    };
    expect(await ready()).toBe('True');
    const verdict = { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }] } };
    const r = await adminRequest(paths, kubeadmLayout, state.nodes[0]!, '/api/v1/nodes/cp3/status', { method: 'PATCH', body: verdict });
    expect(r.status).toBe(200);
    expect(await ready()).toBe('Unknown');
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000 && (await ready()) !== 'True') await sleep(500);
    expect(await ready()).toBe('True');
    // nodeStatusUpdateFrequency is 10 s: the kubelet sees the difference at its next sync, not after
    // nodeStatusReportFrequency (5 min). Loose bound for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(25_000);
  }, 60_000);

  it('keeps the kubelet client pair like kubeadm >= 1.17: kubelet.conf names kubelet-client-current.pem -> kubelet-client-<ts>.pem (certificate + EC key, 0600)', async () => {
    const kubeconf = parse(readFileSync(paths.node('cp2').fs('/etc/kubernetes/kubelet.conf'), 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    const current = '/var/lib/kubelet/pki/kubelet-client-current.pem';
    expect(kubeconf.users[0]!.user).toEqual({ 'client-certificate': current, 'client-key': current });
    const link = readlinkSync(paths.node('cp2').fs(current));
    expect(link).toMatch(/^kubelet-client-\d{4}(-\d\d){5}\.pem$/);
    const pair = paths.node('cp2').fs(`/var/lib/kubelet/pki/${link}`);
    expect(statSync(pair).mode & 0o777).toBe(0o600);
    const text = readFileSync(pair, 'utf8');
    expect(text).toMatch(/^-----BEGIN CERTIFICATE-----[\s\S]+-----BEGIN EC PRIVATE KEY-----/);
    const ca = paths.node('cp2').fs('/etc/kubernetes/pki/ca.crt');
    expect((await openssl(['verify', '-CAfile', ca, pair])).stdout).toContain(': OK');
    expect((await openssl(['x509', '-in', pair, '-noout', '-subject', '-nameopt', 'compat'])).stdout.trim()).toBe('subject=/O=system:nodes/CN=system:node:cp2');
    expect((await openssl(['x509', '-in', pair, '-noout', '-ext', 'extendedKeyUsage'])).stdout).toContain('TLS Web Client Authentication');
    expect((await openssl(['pkey', '-in', pair, '-pubout'])).stdout).toBe((await openssl(['x509', '-in', pair, '-noout', '-pubkey'])).stdout);
  });

  it('the kubelet presents the pair the link names, read at its start: a foreign-CA pair makes it fail against --client-ca-file; verify skips the pair the link no longer names', async () => {
    const pkiDir = paths.node('cp3').fs('/var/lib/kubelet/pki');
    const link = `${pkiDir}/kubelet-client-current.pem`;
    const original = readlinkSync(link);
    const foreign = tempLabDir('foreign-kubelet-client');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${foreign}/k.key`, '-out', `${foreign}/k.crt`, '-subj', '/O=system:nodes/CN=system:node:cp3', '-days', '30']);
    writeFileSync(`${pkiDir}/kubelet-client-2030-01-01-00-00-00.pem`, readFileSync(`${foreign}/k.crt`, 'utf8') + readFileSync(`${foreign}/k.key`, 'utf8'), { mode: 0o600 });
    await cmd('rm', ['-rf', foreign]);
    symlinkSync('kubelet-client-2030-01-01-00-00-00.pem', `${link}.tmp`);
    renameSync(`${link}.tmp`, link);
    const pairsOnOldCa = (r: { leavesOnOldCa: string[] }) => r.leavesOnOldCa.filter((w) => w.startsWith('cp3:/var/lib/kubelet/pki/kubelet-client-'));
    try {
      const before = await labVerify(dir);
      // The old pair stays on disk but nothing reads it; the foreign pair is on no old CA.
      expect(pairsOnOldCa(before)).toEqual([]);
      expect((await ssh(paths, state, 'cp3', 'systemctl restart kubelet')).rc).toBe(0);
      await sleep(3000);
      const after = await labVerify(dir);
      expect(after.componentErrors).toBeGreaterThan(before.componentErrors);
      expect(Object.keys(after.componentErrorsByComponent)).toContain('cp3/kubelet');
    } finally {
      symlinkSync(original, `${link}.tmp`);
      renameSync(`${link}.tmp`, link);
      rmSync(`${pkiDir}/kubelet-client-2030-01-01-00-00-00.pem`);
      expect((await ssh(paths, state, 'cp3', 'systemctl restart kubelet')).rc).toBe(0);
    }
    expect(pairsOnOldCa(await labVerify(dir))).toEqual([`cp3:/var/lib/kubelet/pki/${original}`]);
  });

  it('counts component errors when a kubelet.conf trusts a foreign CA', async () => {
    const kubeconf = paths.node('cp3').fs('/etc/kubernetes/kubelet.conf');
    const original = readFileSync(kubeconf, 'utf8');
    const foreign = tempLabDir('foreign-ca');
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${foreign}/ca.key`, '-out', `${foreign}/ca.crt`, '-subj', '/CN=foreign-ca', '-days', '30']);
    const foreignData = Buffer.from(readFileSync(`${foreign}/ca.crt`)).toString('base64');
    writeFileSync(kubeconf, original.replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${foreignData}`));
    await cmd('rm', ['-rf', foreign]);
    const before = (await labVerify(dir)).componentErrors;
    expect((await ssh(paths, state, 'cp3', 'systemctl restart kubelet')).rc).toBe(0);
    await sleep(3000);
    const after = await labVerify(dir);
    expect(after.componentErrors).toBeGreaterThan(before);
    expect(Object.keys(after.componentErrorsByComponent)).toContain('cp3/kubelet');
    writeFileSync(kubeconf, original);
    expect((await ssh(paths, state, 'cp3', 'systemctl restart kubelet')).rc).toBe(0);
  });

  it('restarts a static pod when its manifest changes, on crictl stop, and refuses a bundle as signing cert', async () => {
    const id1 = (await ssh(paths, state, 'cp1', 'crictl ps --name kube-scheduler -q')).stdout.trim();
    expect(id1).toMatch(/^[0-9a-f]{64}$/);
    expect((await ssh(paths, state, 'cp1', `crictl stop ${id1}`)).rc).toBe(0);
    await sleep(2500);
    const id2 = (await ssh(paths, state, 'cp1', 'crictl ps --name kube-scheduler -q')).stdout.trim();
    expect(id2).toMatch(/^[0-9a-f]{64}$/);
    expect(id2).not.toBe(id1);
    // Moving the manifest out stops the pod; moving it back starts a new container.
    const park = await ssh(paths, state, 'cp1', 'mv /etc/kubernetes/manifests/kube-scheduler.yaml /etc/kubernetes/.parked.yaml && sleep 1.5 && crictl ps --name kube-scheduler -q | wc -l && mv /etc/kubernetes/.parked.yaml /etc/kubernetes/manifests/kube-scheduler.yaml && sleep 1.5 && crictl ps --name kube-scheduler -q');
    expect(park.rc).toBe(0);
    const [countWhileParked, id3] = park.stdout.trim().split('\n');
    expect(countWhileParked).toBe('0');
    expect(id3).toMatch(/^[0-9a-f]{64}$/);
    expect(id3).not.toBe(id2);

    const manifest = '/etc/kubernetes/manifests/kube-controller-manager.yaml';
    const setSigning = (file: string): string => `sed -i "s#--cluster-signing-cert-file=.*#--cluster-signing-cert-file=${file}#" ${manifest}`;
    const bundle = await ssh(paths, state, 'cp1', `cat /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/ca.crt > /etc/kubernetes/pki/bundle-test.crt && ${setSigning('/etc/kubernetes/pki/bundle-test.crt')}`);
    expect(bundle.rc).toBe(0);
    await sleep(3000);
    const events = readFileSync(paths.events, 'utf8');
    expect(events).toContain('bundle-test.crt\\": data does not contain exactly one certificate (found 2)');
    // The pod crash-loops: the kubelet keeps restarting it with a growing attempt count.
    const ps = await ssh(paths, state, 'cp1', 'crictl ps -a --name kube-controller-manager');
    expect(Number(ps.stdout.trim().split('\n')[1]!.split('\t')[5])).toBeGreaterThan(0);
    expect((await ssh(paths, state, 'cp1', `${setSigning('/etc/kubernetes/pki/ca.crt')} && rm /etc/kubernetes/pki/bundle-test.crt`)).rc).toBe(0);
    await sleep(2500);
    expect((await ssh(paths, state, 'cp1', 'crictl ps --name kube-controller-manager -q | wc -l')).stdout.trim()).toBe('1');
  });

  it('restarts the in-cluster workloads when their DaemonSet is annotated (rollout restart)', async () => {
    const started = (): number => (readFileSync(paths.events, 'utf8').match(/"started kube-proxy-cp\d with ca.crt/g) ?? []).length;
    const before = started();
    expect(before).toBeGreaterThanOrEqual(3);
    const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } };
    const r = await adminRequest(paths, kubeadmLayout, state.nodes[1]!, '/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy', { method: 'PATCH', body: patch });
    expect(r.status).toBe(200);
    const generation = (JSON.parse(r.body) as { metadata: { generation: number } }).metadata.generation;
    expect(generation).toBeGreaterThan(1);
    // Each kubelet restarts its pod at its next sync (~1 s; longer on a loaded machine).
    for (let i = 0; i < 60 && started() < before + 3; i++) await sleep(500);
    expect(started()).toBe(before + 3);
    // The controller-manager leader reports the rollout done once every pod runs the new template
    // (a leader lost in the previous test is replaced when its 15 s Lease expires). As with the real
    // DaemonSet controller, observedGeneration moves first and the updated counts follow the pods'
    // reports, so wait for the whole of `kubectl rollout status`'s condition, not its first part.
    const done = { observedGeneration: generation, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 };
    let status: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const ds = JSON.parse((await adminRequest(paths, kubeadmLayout, state.nodes[0]!, '/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy')).body) as { status?: Record<string, number> };
      status = ds.status ?? {};
      if (Object.entries(done).every(([k, v]) => status[k] === v)) break;
      await sleep(500);
    }
    expect(status).toMatchObject(done);
  }, 60_000);

  it('fault verbs: sshd stop/start, host key change (detected by ssh), pause/resume', async () => {
    await labFault('stop-sshd', 'cp3', dir);
    expect((await ssh(paths, state, 'cp3', 'true')).rc).not.toBe(0);
    await labFault('start-sshd', 'cp3', dir);
    expect((await ssh(paths, state, 'cp3', 'hostname')).stdout.trim()).toBe('cp3');
    await labFault('change-host-key', 'cp3', dir);
    const changed = await ssh(paths, state, 'cp3', 'true');
    expect(changed.rc).not.toBe(0);
    expect(changed.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    await labFault('pause', 'cp2', dir);
    const ps = await cmd('ps', ['-o', 'stat=', '-p', String(state.nodes[1]!.holderPid)]);
    expect(ps.stdout.trim()).toMatch(/^T/);
    await labFault('resume', 'cp2', dir);
    expect((await ssh(paths, state, 'cp2', 'hostname')).stdout.trim()).toBe('cp2');
  });

  it('prints verify --json as one JSON object on the last line (CLI)', async () => {
    const r = await cmd('npx', ['tsx', 'lab/cli.ts', 'verify', '--json', '--dir', dir]);
    expect(r.rc).toBe(0);
    const last = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    for (const k of ['requests', 'failures', 'componentErrors', 'allCertsOnNewCA', 'dataIntact']) expect(last).toHaveProperty(k);
    expect(last['dataIntact']).toBe(true);
  });

  it('down stops every lab process and leaves no process or listener behind', async () => {
    const status = labStatus(dir);
    expect(status.nodes.every((n) => n.up && n.sshd && n.processes >= 6)).toBe(true);
    const created = state.createdMountPoints;
    await labDown({ dir, log: () => undefined });
    for (const n of state.nodes) {
      expect(pidsInMountNamespace(n.mntNs)).toEqual([]);
      expect(isRunning(n.unsharePid)).toBe(false);
      expect(isRunning(n.holderPid)).toBe(false);
    }
    // Mount points stay on the host (another lab may still use them), empty but for the marker.
    for (const m of created) expect(readdirSync(m)).toEqual(['.kcarun-lab-mount-point']);
    const ss = await cmd('ss', ['-Htln']);
    expect(ss.stdout).not.toContain('127.0.11.');
  });
});
