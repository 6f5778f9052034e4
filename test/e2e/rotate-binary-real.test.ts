/**
 * Issue 18 for the hand-installed ("binary") layout of the field notes, on the real components: the
 * lab's binary layout (lab/layouts/binary.ts: units whose ExecStart carries the flags, /etc/etcd/ssl
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
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabPaths } from '../../lab/lab-paths.js';
import { labFault } from '../../lab/commands/fault.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { readVersions } from '../../lab/real/artifacts.js';
import { kubectl, realUp } from '../../lab/real/up.js';
import { realDown } from '../../lab/real/down.js';
import { realVerify } from '../../lab/real/traffic.js';
import { readState, type LabState } from '../../lab/lab-state.js';
import { jsonEvents, runCli, startCli, waitForEvent } from '../helpers/cli.js';
import { openssl, ssh } from '../lab/lab-fixture.js';
import { machineView, tryConnect, type MachineView } from '../lab/machine-view.js';
import { changedFiles, nodeFileSums, plannedFiles, stageStatuses, type Events } from './plan-check.js';

const SUBNET = process.env['KCARUN_REAL_BINARY_SUBNET'] ?? '10.233.0.0/16';
const NODES = 5;
const NODE_NAMES = Array.from({ length: NODES }, (_, i) => `cp${i + 1}`);
const PLAYBOOK = join(import.meta.dirname, '..', '..', 'playbooks', 'rotate-ca.yaml');
const UNITS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
const certsIn = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

describe('stock rotate-ca on a hand-installed cluster of real binaries (binary-real)', () => {
  const pinned = readVersions();
  let before: MachineView;
  const work = mkdtempSync(join(tmpdir(), 'kcarun-e2e-binreal-'));
  const dir = join(work, 'lab');
  const paths = new LabPaths(dir);
  const inventory = join(work, 'inventory.yaml');
  const bare = join(work, 'hosts-only.yaml');
  const varsFile = join(work, 'discovered.yaml');
  let state: LabState;
  let dry: Events = [];
  const fs = (node: string, p: string): string => paths.node(node).fs(p);
  const clusterFiles = (): Map<string, string> => nodeFileSums(paths, state.nodes.map((n) => n.name), ['/etc/kubernetes', '/etc/etcd', '/etc/systemd/system', '/var/lib/kubelet/pki']);
  /** Each unit's main process on each node, as the supervisor records it (`node/unit` -> pid): a restart changes it. */
  const unitPids = (): Map<string, string> => {
    const out = new Map<string, string>();
    for (const n of state.nodes) {
      for (const u of UNITS) {
        const f = join(paths.node(n.name).run, 'units', `${u}.pid`);
        out.set(`${n.name}/${u}`, existsSync(f) ? readFileSync(f, 'utf8').trim() : 'none');
      }
    }
    return out;
  };

  beforeAll(async () => {
    before = await machineView(SUBNET);
    const t0 = Date.now();
    await realUp({ dir, layout: 'binary', nodes: NODES, subnet: SUBNET, log: (l) => console.log(l) });
    console.log(`[e2e binary-real] lab up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    state = readState(paths)!;
    writeFileSync(inventory, labInventory(dir));
    await trafficStart({ dir });
  }, 900_000);

  afterAll(async () => {
    await trafficStop({ dir }).catch(() => undefined);
    if (readState(paths)?.real) await realDown({ dir, purge: true, log: () => undefined });
    rmSync(work, { recursive: true, force: true });
  }, 300_000);

  it(`the components are the pinned binaries, run from their units; the operator's kubectl lists ${NODES} Ready nodes`, async () => {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'json']);
    expect(r.rc, r.stderr).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }>; nodeInfo: { kubeletVersion: string } } }> }).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(NODE_NAMES);
    for (const n of nodes) {
      expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status.nodeInfo.kubeletVersion).toBe(pinned.KUBERNETES_VERSION);
    }
    for (const n of state.nodes) {
      const active = await ssh(paths, state, n.name, `systemctl is-active ${UNITS.join(' ')}`);
      expect(active.stdout.trim().split('\n'), `${n.name}: ${active.stderr}`).toEqual(UNITS.map(() => 'active'));
      const ver = await ssh(paths, state, n.name, 'kube-apiserver --version; etcd --version');
      expect(ver.stdout).toContain(`Kubernetes ${pinned.KUBERNETES_VERSION}`);
      expect(ver.stdout).toMatch(/etcd Version: 3\.6\./);
    }
    // five voting members, all started: quorum 3, so the rolling stages may have one down at a time
    const cp1 = state.nodes.find((n) => n.name === 'cp1')!;
    const members = await ssh(paths, state, 'cp1', `etcdctl --endpoints=https://${cp1.ip}:2379 --cacert=/etc/etcd/ssl/ca-etcd.pem --cert=/etc/etcd/ssl/cert-etcd.pem --key=/etc/etcd/ssl/cert-etcd-key.pem member list -w json`);
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
    const full = readFileSync(inventory, 'utf8');
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

    const filesBefore = clusterFiles();
    const pidsBefore = unitPids();
    const res = await runCli([PLAYBOOK, '-i', bare, '-e', `@${varsFile}`, '--dry-run', '--output', 'json', '--state-dir', join(work, 'dry-state')], { cwd: work });
    dry = jsonEvents(res.stdout);
    const failedSteps = dry.filter((e) => e.event === 'task-end' && e['status'] === 'failed').map((e) => `${String(e['stage'])}/${String(e['host'])}/${String(e['task'])}`);
    expect(failedSteps, res.stderr).toEqual([]);
    expect(res.code, `${res.stdout.slice(-3000)}${res.stderr}`).toBe(0);
    expect(dry.find((e) => e.event === 'plan-summary')).toMatchObject({ complete: true });
    expect(plannedFiles(dry).size).toBeGreaterThan(10);
    expect(clusterFiles(), 'the dry run changed a file').toEqual(filesBefore);
    expect(unitPids(), 'the dry run restarted a unit').toEqual(pidsBefore);
  }, 600_000);

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
    const tv = await realVerify(paths, state);
    console.log(`[e2e binary-real] traffic: ${tv.requests} requests, ${tv.failures} failed (through the load balancer: ${tv.lbFailures}); by target ${JSON.stringify(tv.requestsByTarget)} failed ${JSON.stringify(tv.failuresByTarget)}`);
    for (const w of tv.unavailability) console.log(`[e2e binary-real] unavailable: ${w.target} ${w.from} -> ${w.to ?? '(end)'} ${w.seconds.toFixed(1)} s (${w.failures} failed requests)`);
    const lbFailed = readFileSync(join(paths.trafficDir, 'failures.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"target":"lb"')).slice(0, 30).join('\n');
    console.log(`[e2e binary-real] component log TLS/auth errors: ${tv.componentLogErrors} ${JSON.stringify(tv.componentLogErrorsByComponent)}`);
    for (const e of tv.componentLogSamples) console.log(`[e2e binary-real]   ${e.node} ${e.component} ${e.ts} ${e.line}`);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(seconds / 2);
    // What the cluster's clients saw: 0 of 1,112-5,668 requests failed in each of the 4 runs measured
    // (sessions 17-18, load 9-25): haproxy sees a restarting apiserver's closed listener at once.
    expect(tv.lbFailures, lbFailed).toBe(0);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
    expect(tv.allCertsOnNewCA, tv.leavesOnOldCa.join(', ')).toBe(true);
    expect(tv.filesTrustingOldCa).toEqual([]);
  }, 3_600_000);

  it('every certificate verifies against the new CAs with openssl, the old CAs are trusted nowhere; kubectl with the rotated admin kubeconfig works', async () => {
    const originals = readdirSync(paths.originalCaDir).map((f) => new X509Certificate(readFileSync(join(paths.originalCaDir, f))));
    for (const n of state.nodes) {
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

  it('lab down stops everything; the lab\'s addresses then fail at once; the machine is as before', async () => {
    const now = readState(paths)!;
    const nsInodes = [...now.nodes.flatMap((n) => [n.mntNs, n.netNs ?? '']), now.real!.lb.netNs].filter(Boolean);
    await realDown({ dir, log: () => undefined });
    const stillIn = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return nsInodes.includes(readlinkSync(`/proc/${p}/ns/net`)) || nsInodes.includes(readlinkSync(`/proc/${p}/ns/mnt`));
      } catch {
        return false;
      }
    });
    expect(stillIn).toEqual([]);
    for (const [host, port] of [[state.nodes[0]!.ip, 22], [state.real!.endpoint.split(':')[0]!, 6443], [state.real!.kubernetesServiceIp, 443]] as const) {
      const c = await tryConnect(host, port);
      expect(c.ok, `${host}:${port}`).toBe(false);
      expect(['EHOSTUNREACH', 'ENETUNREACH'], `${host}:${port} -> ${c.code}`).toContain(c.code);
    }
    const after = await machineView(SUBNET);
    expect([...before.sysctls].filter(([k, v]) => after.sysctls.get(k) !== v)).toEqual([]);
    expect(after.routes).toEqual(before.routes);
    expect(after.links).toEqual(before.links);
    expect(after.mounts).toEqual(before.mounts);
    expect(after.netns).toEqual(before.netns);
    expect(after.cgroups).toEqual(before.cgroups);
  }, 120_000);
});
