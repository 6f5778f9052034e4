/**
 * Issue 18 for the hand-installed ("binary") layout of the field notes, on the real components: the
 * lab's binary layout (lab/real/binary.ts: units whose ExecStart carries the flags, /etc/etcd/ssl
 * with one etcd certificate for serving, peers and clients, /etc/kubernetes/ssl, kubeconfigs naming
 * files, no front-proxy CA) running the pinned etcd 3.6, kube-apiserver, controller-manager, scheduler
 * and kubelet (with containerd) under the lab's unit supervisor, in per-node network namespaces, behind
 * haproxy (`lab up --layout binary-real`; lab/real/up.ts).
 *
 * The user's path: an inventory of hosts and groups and `layout: binary`; `kcarun discover` finds the
 * paths; the dry run with them changes no file and restarts no unit; the stock rotate-ca.yaml with
 * them then runs under traffic and changes what the dry run planned. Asserted: exit 0, no failed
 * request through the load balancer, every leaf and
 * kubeconfig on the new CAs (openssl verify), the old CAs trusted nowhere, no TLS or authentication
 * error in the real components' logs, the data written intact, the operator's kubectl with the rotated
 * admin kubeconfig lists 5 Ready nodes; `lab down` leaves the machine as it was. Printed: wall time
 * and each apiserver's unavailability windows.
 *
 * Five control-plane nodes, five etcd members (issue 18: the 5-node scenario on the real components,
 * combined with this one for CI's time): the rolling stages go one member at a time with quorum 3, the
 * leader last, and every apiserver lists every member.
 *
 * The rotation loses a node over SSH mid-stage (cp2's sshd stopped while trust-apiserver gates cp1):
 * the stage is rolled back (cp1's apiserver restarted on its old flags), nothing fails through the
 * load balancer; with sshd back, --resume completes it, and the two runs together change exactly what
 * the dry run planned. (This scenario ran on the emulated binary lab until session 18; cp2 rather than
 * the last node keeps the rollback to one real apiserver restart.)
 *
 * Subnet: $KCARUN_REAL_BINARY_SUBNET or 10.233.0.0/16 (the kubeadm file uses 10.232).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFault } from '../../lab/commands/fault.js';
import { trafficStop } from '../../lab/commands/traffic.js';
import { readVersions } from '../../lab/real/artifacts.js';
import { kubectl } from '../../lab/real/up.js';
import { realVerify } from '../../lab/real/traffic.js';
import { jsonEvents, runCli, startCli, waitForEvent } from '../helpers/cli.js';
import { openssl, ssh } from '../lab/lab-fixture.js';
import { changedFiles, plannedFiles, stageStatuses, type Events } from './plan-check.js';
import { downAndExpectMachineRestored, dryRun, realLabSession } from './real-lab-session.js';
import { describeEtcdRestore, unitRestoreLayout } from './health-restore-real.js';

const SUBNET = process.env['KCARUN_REAL_BINARY_SUBNET'] ?? '10.233.0.0/16';
const NODES = 5;
const NODE_NAMES = Array.from({ length: NODES }, (_, i) => `cp${i + 1}`);
const PLAYBOOK = join(import.meta.dirname, '..', '..', 'playbooks', 'rotate-ca.yaml');
const UNITS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
const certsIn = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

describe('stock rotate-ca on a hand-installed cluster of real binaries (binary-real)', () => {
  const pinned = readVersions();
  const lab = realLabSession({ name: 'binreal', layout: 'binary', nodes: NODES, subnet: SUBNET, traffic: true }, { beforeAll, afterAll });
  const { work, dir, paths } = lab;
  const bare = join(work, 'hosts-only.yaml');
  const varsFile = join(work, 'discovered.yaml');
  let dry: Events = [];
  const fs = lab.fs;

  it(`the components are the pinned binaries, run from their units; the operator's kubectl lists ${NODES} Ready nodes`, async () => {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'json']);
    expect(r.rc, r.stderr).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }>; nodeInfo: { kubeletVersion: string } } }> }).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(NODE_NAMES);
    for (const n of nodes) {
      expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status.nodeInfo.kubeletVersion).toBe(pinned.KUBERNETES_VERSION);
    }
    for (const n of lab.state.nodes) {
      const active = await ssh(paths, lab.state, n.name, `systemctl is-active ${UNITS.join(' ')}`);
      expect(active.stdout.trim().split('\n'), `${n.name}: ${active.stderr}`).toEqual(UNITS.map(() => 'active'));
      const ver = await ssh(paths, lab.state, n.name, 'kube-apiserver --version; etcd --version');
      expect(ver.stdout).toContain(`Kubernetes ${pinned.KUBERNETES_VERSION}`);
      expect(ver.stdout).toMatch(/etcd Version: 3\.6\./);
    }
    // five voting members, all started: quorum 3, so the rolling stages may have one down at a time
    const cp1 = lab.state.nodes.find((n) => n.name === 'cp1')!;
    const members = await ssh(paths, lab.state, 'cp1', `etcdctl --endpoints=https://${cp1.ip}:2379 --cacert=/etc/etcd/ssl/ca-etcd.pem --cert=/etc/etcd/ssl/cert-etcd.pem --key=/etc/etcd/ssl/cert-etcd-key.pem member list -w json`);
    expect(members.rc, members.stderr).toBe(0);
    const list = (JSON.parse(members.stdout) as { members: Array<{ name: string; isLearner?: boolean; clientURLs?: string[] }> }).members;
    expect(list.map((m) => m.name).sort()).toEqual(NODE_NAMES);
    expect(list.filter((m) => m.isLearner || !m.clientURLs?.length)).toEqual([]);
    // hand-installed: no static pods, no kubeadm files
    expect(existsSync(fs('cp1', '/etc/kubernetes/manifests'))).toBe(false);
    expect(existsSync(fs('cp1', '/etc/kubernetes/admin.conf'))).toBe(false);
  }, 300_000);

  // Issue 15's discover on hosts and groups alone, then the dry run with what it found.
  it('kcarun discover finds the binary layout\'s paths; the dry run with them changes no file and restarts no unit', async () => {
    const full = readFileSync(lab.inventory, 'utf8');
    expect(full).toMatch(/vars:\n {2}layout: binary\n$/);
    writeFileSync(bare, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
    const found = await runCli(['discover', '-i', bare, '--output', 'json', '--write-vars', varsFile], { cwd: work });
    expect(found.code, `${found.stderr}${found.stdout.slice(-4000)}`).toBe(0);
    const report = JSON.parse(found.stdout) as { warnings: string[] };
    console.log(`[e2e binary-real] discover: warnings ${JSON.stringify(report.warnings)}`);
    const vars = parse(readFileSync(varsFile, 'utf8')) as Record<string, unknown>;
    expect(vars).toMatchObject({
      layout: 'binary',
      k8s_ca_cert: '/etc/kubernetes/ssl/ca-kubernetes.pem',
      etcd_ca_cert: '/etc/etcd/ssl/ca-etcd.pem',
    });

    dry = await dryRun(lab, 'rotate-ca.yaml', ['-e', `@${varsFile}`], bare);
    expect(plannedFiles(dry).size).toBeGreaterThan(10);
  }, 600_000);

  // The other stock playbooks' dry runs with the same vars (they ran on the emulated binary lab until
  // session 23: dry-run.test.ts). A dry run is the first thing a user runs against a cluster (README).
  it('--dry-run of check-expiry, renew-leaf-certs, offline-replace, rotate-etcd-ca and rotate-k8s-ca with the discovered vars: every stage planned, nothing changed or restarted', async () => {
    const vars = ['-e', `@${varsFile}`];
    const expiry = await dryRun(lab, 'check-expiry.yaml', [...vars, '-e', 'warn_days=1'], bare);
    expect(new Set(expiry.filter((e) => e.event === 'task-end' && e['stage'] === 'check-expiry' && e['status'] === 'ok').map((e) => e['host']))).toEqual(new Set(NODE_NAMES));
    expect(expiry.filter((e) => e.event === 'planned-change')).toEqual([]);

    const renew = await dryRun(lab, 'renew-leaf-certs.yaml', [...vars, '-e', 'force_renewal=true'], bare);
    expect(stageStatuses(renew)['renew-detect']).toBe('ok');
    for (const [stage, status] of Object.entries(stageStatuses(renew))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
    expect(new Set([...plannedFiles(renew)].map((p) => p.split(':')[0]))).toEqual(new Set(NODE_NAMES));

    const offline = await dryRun(lab, 'offline-replace.yaml', [...vars, '-e', 'accept_downtime=true'], bare);
    for (const [stage, status] of Object.entries(stageStatuses(offline))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
    expect(offline.some((e) => e.event === 'planned-change' && e['kind'] === 'command' && /systemctl stop/.test(String(e['command'])))).toBe(true);

    const etcd = stageStatuses(await dryRun(lab, 'rotate-etcd-ca.yaml', vars, bare));
    for (const stage of ['detect', 'preflight', 'backup', 'prepare-cas', 'prepare-certs', 'distribute', 'trust-etcd', 'trust-apiserver', 'switch-etcd', 'finalize', 'finalize-check', 'finalize-apiserver', 'finalize-etcd', 'finalize-cleanup', 'post-check']) {
      expect(`${stage}: ${etcd[stage]}`).toBe(`${stage}: ok`);
    }
    expect(etcd['trust-kubelets']).toBe('skipped');
    const k8s = stageStatuses(await dryRun(lab, 'rotate-k8s-ca.yaml', vars, bare));
    for (const stage of ['detect', 'preflight', 'prepare-cas', 'prepare-certs', 'trust-controller-manager', 'trust-apiserver', 'trust-kubeconfigs', 'trust-kubelets', 'switch-signing', 'switch-control-plane', 'finalize', 'finalize-apiserver', 'finalize-kubelets', 'post-check']) {
      expect(`${stage}: ${k8s[stage]}`).toBe(`${stage}: ok`);
    }
    expect(k8s['trust-etcd']).toBe('skipped');
  }, 1_200_000);

  it('the stock rotation with the discovered vars, under traffic, a node lost over SSH mid-stage: rolled back, resumed; exit 0, the dry run\'s plan, no failed request through the load balancer, every leaf on the new CAs, data intact', async () => {
    const t0 = Date.now();
    const rotate = (...extra: string[]): string[] => [PLAYBOOK, '-i', bare, '--yes', '--output', 'json', '-e', `@${varsFile}`, ...extra];
    const run = startCli(rotate(), { cwd: work });
    // trust-apiserver runs host after host: while cp1's gate runs (its apiserver restarted on the
    // bundles), cp2 is lost to SSH (its sshd and the connections it serves stopped).
    await waitForEvent(run, (e) => e.event === 'task-start' && e['stage'] === 'trust-apiserver' && e['taskIndex'] === 2 && e['host'] === 'cp1', 1_200_000);
    await labFault('stop-sshd', 'cp2', dir);
    const failed = await run.done;
    const failedEvents = jsonEvents(failed.stdout);
    expect(failed.code, failed.stdout.slice(-3000) + failed.stderr.slice(-2000)).toBe(1);
    const cp2Failures = failedEvents.filter((e) => e.event === 'task-end' && e['status'] === 'failed' && e['host'] === 'cp2');
    expect(cp2Failures.map((e) => (e['error'] as { message: string }).message).join('\n')).toMatch(/unreachable|connect|ECONNREFUSED|connection/i);
    expect(failedEvents.filter((e) => e.event === 'rollback-start').map((e) => e['stage'])).toEqual(['trust-apiserver']);
    expect(failedEvents.find((e) => e.event === 'rollback-end')).toMatchObject({ stage: 'trust-apiserver', status: 'ok' });
    console.log(`[e2e binary-real] cp2 lost at ${((Date.now() - t0) / 1000).toFixed(0)} s: trust-apiserver rolled back`);

    await labFault('start-sshd', 'cp2', dir);
    const res = await runCli(rotate('--resume'), { cwd: work });
    const seconds = (Date.now() - t0) / 1000;
    const events = jsonEvents(res.stdout);
    const failedSteps = events.filter((e) => e.event === 'task-end' && e['status'] === 'failed');
    expect(res.code, `${JSON.stringify(failedSteps.slice(0, 3))}\n${res.stderr.slice(-2000)}`).toBe(0);
    // The resumed run's verdict on each stage (done before, or run now) covers the dry run's stages;
    // a rolled-back stage runs again, so the union of both runs' changes is what ended up changed.
    expect(Object.keys(stageStatuses(events))).toEqual(Object.keys(stageStatuses(dry)));
    expect([...plannedFiles(dry)].sort()).toEqual([...new Set([...changedFiles(failedEvents), ...changedFiles(events)])].sort());
    const stages = events.filter((e) => e.event === 'stage-end' && e['status'] === 'ok').map((e) => `${e['stage']} ${Math.round(Number(e['durationMs']) / 1000)}s`);
    console.log(`[e2e binary-real] rotate-ca: ${seconds.toFixed(0)} s; stages: ${stages.join(', ')}`);
    const slowest = events.filter((e) => e.event === 'task-end').sort((a, b) => Number(b['durationMs']) - Number(a['durationMs'])).slice(0, 8);
    for (const e of slowest) console.log(`[e2e binary-real]   ${(Number(e['durationMs']) / 1000).toFixed(1)} s ${e['stage']} / ${e['task']} @${e['host']}: ${String(e['summary'] ?? '').slice(0, 120)}`);

    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    console.log(`[e2e binary-real] traffic: ${tv.requests} requests, ${tv.failures} failed (through the load balancer: ${tv.lbFailures}), retried after a Retry-After ${JSON.stringify(tv.retriesByTarget)}; by target ${JSON.stringify(tv.requestsByTarget)} failed ${JSON.stringify(tv.failuresByTarget)}`);
    for (const w of tv.unavailability) console.log(`[e2e binary-real] unavailable: ${w.target} ${w.from} -> ${w.to ?? '(end)'} ${w.seconds.toFixed(1)} s (${w.failures} failed requests)`);
    const lbFailed = lab.lbFailureLines().slice(0, 30).join('\n');
    console.log(`[e2e binary-real] component log TLS/auth errors: ${tv.componentLogErrors} ${JSON.stringify(tv.componentLogErrorsByComponent)}`);
    for (const e of tv.componentLogSamples) console.log(`[e2e binary-real]   ${e.node} ${e.component} ${e.ts} ${e.line}`);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(seconds / 2);
    // What the cluster's clients saw: 0 of 1,112-5,668 requests failed in each of the 4 runs measured
    // (sessions 17-18, load 9-25): haproxy sees a restarting apiserver's closed listener at once.
    expect(tv.lbFailures, lbFailed).toBe(0);
    // Retried answers are only an apiserver's graceful shutdown (real-lab traffic: client-go's Retry-After rule).
    expect(tv.lbRetriesOtherThanShutdown).toEqual([]);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
    expect(tv.allCertsOnNewCA, tv.leavesOnOldCa.join(', ')).toBe(true);
    expect(tv.filesTrustingOldCa).toEqual([]);
  }, 3_600_000);

  it('every certificate verifies against the new CAs with openssl, the old CAs are trusted nowhere; kubectl with the rotated admin kubeconfig works', async () => {
    const originals = readdirSync(paths.originalCaDir).map((f) => new X509Certificate(readFileSync(join(paths.originalCaDir, f))));
    for (const n of lab.state.nodes) {
      const k8sCa = fs(n.name, '/etc/kubernetes/ssl/ca-kubernetes.pem');
      const etcdCa = fs(n.name, '/etc/etcd/ssl/ca-etcd.pem');
      for (const ca of [k8sCa, etcdCa]) {
        const inFile = certsIn(readFileSync(ca, 'utf8'));
        expect(inFile, `${n.name}: ${ca}`).toHaveLength(1);
        expect(originals.map((o) => o.fingerprint256)).not.toContain(inFile[0]!.fingerprint256);
      }
      const leaves: Array<[string, string]> = [
        ['/etc/etcd/ssl/cert-etcd.pem', etcdCa],
        ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'admin', 'kubelet', 'kubelet-server'].map((l): [string, string] => [`/etc/kubernetes/ssl/${l}.pem`, k8sCa]),
      ];
      for (const [leaf, ca] of leaves) {
        const r = await openssl(['verify', '-CAfile', ca, fs(n.name, leaf)]);
        expect(r.rc, `${n.name}: openssl verify ${leaf}: ${r.stdout}${r.stderr}`).toBe(0);
      }
      // hand-installed kubeconfigs name their files: the same paths as before, now holding the new pairs
      for (const k of ['admin', 'kube-controller-manager', 'kube-scheduler', 'kubelet']) {
        const doc = parse(readFileSync(fs(n.name, `/etc/kubernetes/${k}.kubeconfig`), 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
        expect(doc.clusters[0]!.cluster['certificate-authority'], `${n.name}: ${k}.kubeconfig`).toBe('/etc/kubernetes/ssl/ca-kubernetes.pem');
      }
    }
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}']);
    expect(r.rc, r.stderr).toBe(0);
    expect(r.stdout.trim().split(' ').sort()).toEqual(NODE_NAMES.map((n) => `${n}=True`));
  }, 300_000);

  // Last before lab down: stops the whole control plane (etcd and kube-apiserver as units).
  describeEtcdRestore(lab, (l) =>
    unitRestoreLayout(l, 'the hand-installed layout', {
      tls: { cacert: '/etc/etcd/ssl/ca-etcd.pem', cert: '/etc/etcd/ssl/cert-etcd.pem', key: '/etc/etcd/ssl/cert-etcd-key.pem' },
      apiserverCa: '/etc/kubernetes/ssl/ca-kubernetes.pem',
      kubeconfig: '/etc/kubernetes/admin.kubeconfig',
    }),
  );

  it('lab down stops everything; the lab\'s addresses then fail at once; the machine is as before', async () => {
    await downAndExpectMachineRestored(lab);
  }, 120_000);
});
