/**
 * The lab in the hand-installed ("binary") layout of the field notes, end to end: 3 nodes whose
 * etcd and control plane run from systemd unit files (flags in ExecStart), zero failures under 10 s of
 * traffic, component errors from a kubelet kubeconfig that trusts a foreign CA, and a clean `down`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { labUp } from '../../lab/commands/up.js';
import { labDown } from '../../lab/commands/down.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { labVerify } from '../../lab/commands/verify.js';
import { LabPaths } from '../../lab/lab-paths.js';
import type { LabState } from '../../lab/lab-state.js';
import { isRunning, pidsInMountNamespace } from '../../lab/processes.js';
import { cmd, openssl, runTraffic, ssh, tempLabDir } from './lab-fixture.js';
import { setTimeout as sleep } from 'node:timers/promises';


describe('lab, binary layout', () => {
  const dir = tempLabDir('binary');
  const paths = new LabPaths(dir);
  let state: LabState;
  let upSeconds = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    state = await labUp({ dir, nodes: 3, layout: 'binary', caDaysLeft: 20, ipPrefix: '127.0.12', log: () => undefined });
    upSeconds = (Date.now() - t0) / 1000;
  });

  afterAll(async () => {
    await labDown({ dir, purge: true, log: () => undefined });
  });

  it('comes up with the field notes paths in its inventory', () => {
    // How long `up` takes follows the machine's load: printed, not asserted.
    console.log(`[lab-binary] up in ${upSeconds.toFixed(1)} s`);
    const inv = parse(labInventory(dir)) as { hosts: Record<string, { address: string }>; vars: Record<string, unknown> };
    expect(Object.keys(inv.hosts)).toEqual(['cp1', 'cp2', 'cp3']);
    expect(inv.hosts['cp3']!.address).toBe('127.0.12.3');
    expect(inv.vars['layout']).toBe('binary');
    expect(inv.vars['etcd_ca_cert']).toBe('/etc/etcd/ssl/ca-etcd.pem');
    expect(inv.vars['k8s_ca_cert']).toBe('/etc/kubernetes/ssl/ca-kubernetes.pem');
  });

  it('runs etcd from its unit file with mutual TLS, reachable with the field notes etcdctl flags', async () => {
    const unit = readFileSync(paths.node('cp1').fs('/etc/systemd/system/etcd.service'), 'utf8');
    expect(unit).toMatch(/ExecStart=\/usr\/bin\/etcd \\\n/);
    expect(unit).toContain('--trusted-ca-file=/etc/etcd/ssl/ca-etcd.pem');
    expect(unit).toContain('--client-cert-auth=true');
    const flags = '--cacert=/etc/etcd/ssl/ca-etcd.pem --cert=/etc/etcd/ssl/cert-etcd.pem --key=/etc/etcd/ssl/cert-etcd-key.pem';
    const endpoints = state.nodes.map((n) => `https://${n.ip}:2379`).join(',');
    const ok = await ssh(paths, state, 'cp1', `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} ${flags} endpoint health`);
    expect(ok.rc).toBe(0);
    // etcdctl reports health on stderr.
    expect(`${ok.stdout}${ok.stderr}`.match(/is healthy/g)).toHaveLength(3);
    // Without a client certificate etcd refuses the connection: client TLS is really mutual.
    const noCert = await ssh(paths, state, 'cp1', `ETCDCTL_API=3 etcdctl --endpoints=https://${state.nodes[0]!.ip}:2379 --cacert=/etc/etcd/ssl/ca-etcd.pem --dial-timeout=2s --command-timeout=3s get x`);
    expect(noCert.rc).not.toBe(0);
    const end = await openssl(['x509', '-in', paths.node('cp2').fs('/etc/etcd/ssl/ca-etcd.pem'), '-noout', '-checkend', String(21 * 86400)]);
    expect(end.rc).toBe(1);
  });

  it('systemctl re-reads the unit file on restart (a broken ExecStart fails the restart)', async () => {
    const unitPath = '/etc/systemd/system/kube-scheduler.service';
    const original = readFileSync(paths.node('cp2').fs(unitPath), 'utf8');
    writeFileSync(paths.node('cp2').fs(unitPath), original.replace('/etc/kubernetes/kube-scheduler.kubeconfig', '/etc/kubernetes/missing.kubeconfig'));
    const broken = await ssh(paths, state, 'cp2', 'systemctl daemon-reload && systemctl restart kube-scheduler');
    expect(broken.rc).toBe(1);
    expect(broken.stderr).toContain('Job for kube-scheduler.service failed');
    expect((await ssh(paths, state, 'cp2', 'systemctl is-active kube-scheduler')).stdout.trim()).toBe('inactive');
    writeFileSync(paths.node('cp2').fs(unitPath), original);
    expect((await ssh(paths, state, 'cp2', 'systemctl daemon-reload && systemctl restart kube-scheduler && systemctl is-active kube-scheduler')).stdout.trim()).toBe('active');
    // MainPID as `systemctl show -p MainPID --value` prints it, new after a restart.
    const pid1 = (await ssh(paths, state, 'cp2', 'systemctl show -p MainPID --value kube-scheduler')).stdout.trim();
    expect(pid1).toMatch(/^[1-9]\d*$/);
    const pid2 = (await ssh(paths, state, 'cp2', 'systemctl restart kube-scheduler && systemctl show -p MainPID --value kube-scheduler')).stdout.trim();
    expect(pid2).toMatch(/^[1-9]\d*$/);
    expect(pid2).not.toBe(pid1);
    expect((await ssh(paths, state, 'cp2', 'systemctl show --property=ActiveState etcd')).stdout.trim()).toBe('ActiveState=active');
  });

  it('runs traffic with zero failures and zero component errors, data intact', async () => {
    await runTraffic(dir, paths);
    const r = await labVerify(dir);
    expect(r.requests).toBeGreaterThanOrEqual(100);
    expect(r.failuresByTarget).toEqual({});
    expect(r.failures).toBe(0);
    expect(r.componentErrorsByComponent).toEqual({});
    expect(r.componentErrors).toBe(0);
    expect(r.dataIntact).toBe(true);
    expect(r.allCertsOnNewCA).toBe(false);
    expect(r.leavesOnOldCa).toContain('cp2:/etc/etcd/ssl/cert-etcd.pem');
  }, 180_000);

  it('counts component errors when the kubelet kubeconfig trusts a foreign CA', async () => {
    const foreign = tempLabDir('foreign-ca');
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${foreign}/ca.key`, '-out', `${foreign}/ca.crt`, '-subj', '/CN=foreign-ca', '-days', '30']);
    writeFileSync(paths.node('cp1').fs('/etc/kubernetes/ssl/foreign-ca.pem'), readFileSync(`${foreign}/ca.crt`));
    await cmd('rm', ['-rf', foreign]);
    const kubeconf = paths.node('cp1').fs('/etc/kubernetes/kubelet.kubeconfig');
    const original = readFileSync(kubeconf, 'utf8');
    writeFileSync(kubeconf, original.replace('certificate-authority: /etc/kubernetes/ssl/ca-kubernetes.pem', 'certificate-authority: /etc/kubernetes/ssl/foreign-ca.pem'));
    const before = (await labVerify(dir)).componentErrors;
    expect((await ssh(paths, state, 'cp1', 'systemctl restart kubelet')).rc).toBe(0);
    await sleep(3000);
    const after = await labVerify(dir);
    expect(after.componentErrors).toBeGreaterThan(before);
    expect(Object.keys(after.componentErrorsByComponent)).toContain('cp1/kubelet');
    writeFileSync(kubeconf, original);
    expect((await ssh(paths, state, 'cp1', 'rm /etc/kubernetes/ssl/foreign-ca.pem && systemctl restart kubelet')).rc).toBe(0);
  });

  it('down stops every lab process, a node state.json does not list included (an `up` killed mid-start)', async () => {
    // As an `up` killed between starting cp3 and recording it leaves the state file.
    const recorded = JSON.parse(readFileSync(paths.state, 'utf8')) as LabState;
    writeFileSync(paths.state, JSON.stringify({ ...recorded, nodes: recorded.nodes.filter((n) => n.name !== 'cp3') }));
    expect(pidsInMountNamespace(state.nodes.find((n) => n.name === 'cp3')!.mntNs).length).toBeGreaterThan(0);
    await labDown({ dir, log: () => undefined });
    for (const n of state.nodes) {
      expect(pidsInMountNamespace(n.mntNs)).toEqual([]);
      expect(isRunning(n.unsharePid)).toBe(false);
    }
    const ss = await cmd('ss', ['-Htln']);
    expect(ss.stdout).not.toContain('127.0.12.');
  });
});
