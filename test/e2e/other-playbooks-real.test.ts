/**
 * The stock playbooks other than rotate-ca, dry-run and then run end to end on a genuine kubeadm HA cluster (`lab up
 * --layout kubeadm-real`: real kubeadm init/join, kubelet, containerd, control plane and etcd 3.6 as
 * static pods, haproxy in front), through the real CLI (`node dist/cli.js`, so `npm run build` first)
 * over real SSH, with the inventory the lab prints (`layout: kubeadm` and nothing else):
 * - --dry-run of check-expiry, renew-leaf-certs, offline-replace, rotate-etcd-ca and rotate-k8s-ca:
 *   exit 0, every stage of the playbook planned, no file changed, no container or kubelet restarted.
 * - check-expiry: exit 0 with warn_days 1, exit 1 naming the CA files with warn_days 40 (the lab's
 *   CAs expire in 30 days); nothing changed either way.
 * - renew-leaf-certs: with force_renewal every leaf kubeadm made (files and kubeconfig-embedded, and
 *   the kubelet's client pair) gets a new serial from the same CA (checked against the node's CA file),
 *   under traffic: no failed request through the load balancer, no TLS or authentication error in
 *   the real components' logs, data intact; a second run without force changes nothing and says so.
 * - `kcarun rollback --to renew-etcd` of that renewal under traffic: every leaf back as before it, no
 *   failed request through the load balancer, never two apiservers out at once (each stacked member's
 *   apiserver held while that member restarts, and only it).
 * - rotate-etcd-ca under traffic: the etcd CA alone, the apiservers done with the old etcd CA before
 *   etcd drops it; no failed request through the load balancer, no component error, data intact, the
 *   Kubernetes and front-proxy CAs and their leaves untouched.
 * - offline-replace: refuses without accept_downtime; with it, every leaf chains to a new CA, nothing
 *   trusts the old CAs, the data written before is intact, and the operator's kubectl with the
 *   rotated admin.conf sees every node Ready again.
 * - the operator's field notes' Kubernetes-CA steps (test/fixtures/field-notes-order/, etcd CA left
 *   alone): exit 0, yet the real controller-manager and the admin clients reject the apiservers' new
 *   certificate from the control-plane switch until the kubeconfigs, updated last, trust the new CA.
 * - lab down leaves the machine as it was.
 * (These ran on the emulated kubeadm lab until session 22: other-playbooks.test.ts, dry-run.test.ts;
 * rotate-etcd-ca until session 23: rotate-etcd-only.test.ts; the notes' Kubernetes-CA half until
 * session 24: field-notes-order.test.ts.)
 *
 * Subnet: $KCARUN_REAL_OTHER_SUBNET or 10.238.0.0/16.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { kubectl } from '../../lab/real/up.js';
import { realVerify } from '../../lab/real/traffic.js';
import { plannedFiles, stageStatuses, type Events } from './plan-check.js';
import { jsonEvents } from '../helpers/cli.js';
import type { ComponentLogError } from '../../lab/real/component-logs.js';
import { collectComponentErrors, downAndExpectMachineRestored, dryRun as realDryRun, expectLbFailuresWithinHoldGap, printTraffic, realLabSession } from './real-lab-session.js';

const SUBNET = process.env['KCARUN_REAL_OTHER_SUBNET'] ?? '10.238.0.0/16';
const CLI = join(import.meta.dirname, '../../dist/cli.js');
/** The operator's field notes' order (wrong on purpose), relative to playbooks/ as kcarun() takes it. */
const NOTES_FIXTURE = '../test/fixtures/field-notes-order/field-notes-order.yaml';
/**
 * How Node says "the server's certificate is from a CA I do not trust" (Go: "x509: certificate
 * signed by unknown authority"), whether the server sends its leaf alone or with its chain.
 */
const UNKNOWN_AUTHORITY = /unable to verify the first certificate|unable to get local issuer certificate|self-signed certificate in certificate chain/;
const NODES = ['cp1', 'cp2', 'cp3'];
/** Every leaf certificate file kubeadm writes on a control-plane node (the kubelet's serving one is its own). */
const LEAF_FILES = [
  '/etc/kubernetes/pki/etcd/server.crt',
  '/etc/kubernetes/pki/etcd/peer.crt',
  '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
  '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  '/etc/kubernetes/pki/apiserver.crt',
  '/etc/kubernetes/pki/apiserver-kubelet-client.crt',
  '/etc/kubernetes/pki/front-proxy-client.crt',
];
const KUBECONFIGS = ['/etc/kubernetes/admin.conf', '/etc/kubernetes/controller-manager.conf', '/etc/kubernetes/scheduler.conf', '/etc/kubernetes/kubelet.conf'];
const CA_FILES = ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/etcd/ca.crt', '/etc/kubernetes/pki/front-proxy-ca.crt'];
const CA_OF: Record<string, string> = {
  'etcd/': '/etc/kubernetes/pki/etcd/ca.crt',
  'apiserver-etcd-client': '/etc/kubernetes/pki/etcd/ca.crt',
  'front-proxy-client': '/etc/kubernetes/pki/front-proxy-ca.crt',
};
const caFor = (path: string): string => Object.entries(CA_OF).find(([k]) => path.includes(k))?.[1] ?? '/etc/kubernetes/pki/ca.crt';

interface CliRun {
  rc: number;
  output: string;
  end: { status: string; changed: number; failed: number; message?: string } | undefined;
}

describe('stock playbooks check-expiry, renew-leaf-certs, rotate-etcd-ca, offline-replace on a genuine kubeadm HA cluster (kubeadm-real)', () => {
  const lab = realLabSession({ name: 'otherreal', layout: 'kubeadm', nodes: NODES.length, subnet: SUBNET }, { beforeAll, afterAll });
  const { work, dir, inventory, paths } = lab;
  /** The forced renewal's own state dir, which `kcarun rollback` undoes later. */
  const renewState = join(work, 'renew-state');
  let beforeRenew = new Map<string, { serial: string; issuer: string }>();

  /** Runs the CLI with JSON events; --fresh because a failed check-expiry leaves its run unfinished. */
  function kcarun(playbook: string, ...extra: string[]): Promise<CliRun> {
    return kcarunIn(join(work, '.kcarun'), playbook, ...extra);
  }
  /** As kcarun, with its own state dir (a run `kcarun rollback` undoes later). */
  function kcarunIn(stateDir: string, playbook: string, ...extra: string[]): Promise<CliRun> {
    const args = [CLI, join(import.meta.dirname, '../../playbooks', playbook), '-i', inventory, '--yes', '--fresh', '--output', 'json', '--state-dir', stateDir, ...extra.flatMap((e) => ['-e', e])];
    return new Promise((resolve) => {
      execFile('node', args, { maxBuffer: 100_000_000, cwd: work }, (err, stdout, stderr) => {
        const rc = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string });
        const end = events.find((e) => e.event === 'run-end') as CliRun['end'];
        resolve({ rc, output: stdout + stderr, end });
      });
    });
  }

  /** A node path read from the machine: a symlink the kubelet made absolute (kubelet-client-current.pem) resolved inside the node. */
  function file(node: string, path: string): string {
    const onMachine = paths.node(node).fs(path);
    try {
      const target = readlinkSync(onMachine);
      return isAbsolute(target) ? paths.node(node).fs(target) : join(onMachine, '..', target);
    } catch {
      return onMachine;
    }
  }
  const cert = (pem: string | Buffer): X509Certificate => new X509Certificate(pem);
  /** A kubeconfig's client certificate: embedded, or the file it names (kubelet.conf -> kubelet-client-current.pem). */
  function clientCert(node: string, kubeconfig: string): X509Certificate {
    const doc = parse(readFileSync(file(node, kubeconfig), 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    const user = doc.users[0]!.user;
    if (user['client-certificate-data']) return cert(Buffer.from(user['client-certificate-data'], 'base64'));
    return cert(readFileSync(file(node, user['client-certificate']!)));
  }
  /** Serial and issuer of every leaf on every node (files, kubeconfig-embedded, the kubelet's client pair). */
  function leaves(): Map<string, { serial: string; issuer: string }> {
    const out = new Map<string, { serial: string; issuer: string }>();
    for (const node of NODES) {
      for (const p of LEAF_FILES) {
        const c = cert(readFileSync(file(node, p)));
        out.set(`${node}:${p}`, { serial: c.serialNumber, issuer: c.issuer });
      }
      for (const k of KUBECONFIGS) {
        const c = clientCert(node, k);
        out.set(`${node}:${k}`, { serial: c.serialNumber, issuer: c.issuer });
      }
    }
    return out;
  }
  /** Each leaf verifies against its node's CA file (the signature, not just the issuer name). */
  function expectAllVerify(): void {
    for (const node of NODES) {
      for (const p of LEAF_FILES) expect(cert(readFileSync(file(node, p))).verify(cert(readFileSync(file(node, caFor(p)))).publicKey), `${node}:${p}`).toBe(true);
      const ca = cert(readFileSync(file(node, '/etc/kubernetes/pki/ca.crt')));
      for (const k of KUBECONFIGS) expect(clientCert(node, k).verify(ca.publicKey), `${node}:${k}`).toBe(true);
    }
  }
  async function readyNodes(): Promise<string[]> {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}']);
    return r.rc === 0 ? r.stdout.trim().split(' ').sort() : [`kubectl: ${r.stderr.trim()}`];
  }

  const dryRun = (playbook: string, ...extra: string[]): Promise<Events> => realDryRun(lab, playbook, extra.flatMap((e) => ['-e', e]));

  // The first thing a user runs (README): every stock playbook's dry run, before anything is run for real.
  it('--dry-run of check-expiry, renew-leaf-certs, offline-replace, rotate-etcd-ca and rotate-k8s-ca: every stage planned, nothing changed or restarted', async () => {
    const expiry = await dryRun('check-expiry.yaml', 'warn_days=1');
    expect(new Set(expiry.filter((e) => e.event === 'task-end' && e['stage'] === 'check-expiry' && e['status'] === 'ok').map((e) => e['host']))).toEqual(new Set(NODES));
    expect(expiry.filter((e) => e.event === 'planned-change')).toEqual([]);

    const renew = await dryRun('renew-leaf-certs.yaml', 'force_renewal=true');
    for (const [stage, status] of Object.entries(stageStatuses(renew))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
    expect(new Set([...plannedFiles(renew)].map((p) => p.split(':')[0]))).toEqual(new Set(NODES));

    const offline = await dryRun('offline-replace.yaml', 'accept_downtime=true');
    for (const [stage, status] of Object.entries(stageStatuses(offline))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);

    const etcd = stageStatuses(await dryRun('rotate-etcd-ca.yaml'));
    for (const stage of ['detect', 'preflight', 'backup', 'prepare-cas', 'prepare-certs', 'distribute', 'trust-etcd', 'trust-apiserver', 'switch-etcd', 'finalize', 'finalize-check', 'finalize-apiserver', 'finalize-etcd', 'finalize-cleanup', 'post-check']) {
      expect(`${stage}: ${etcd[stage]}`).toBe(`${stage}: ok`);
    }
    expect(etcd['trust-kubelets']).toBe('skipped');
    const k8s = stageStatuses(await dryRun('rotate-k8s-ca.yaml'));
    for (const stage of ['detect', 'preflight', 'prepare-cas', 'prepare-certs', 'trust-controller-manager', 'trust-apiserver', 'trust-kubeconfigs', 'trust-kubelets', 'switch-signing', 'switch-control-plane', 'finalize', 'finalize-apiserver', 'finalize-kubelets', 'post-check']) {
      expect(`${stage}: ${k8s[stage]}`).toBe(`${stage}: ok`);
    }
    expect(k8s['trust-etcd']).toBe('skipped');
  }, 1_200_000);

  it('check-expiry: exit 0 with warn_days 1, exit 1 naming the CA files with warn_days 40, changes nothing', async () => {
    const before = leaves();
    const ok = await kcarun('check-expiry.yaml', 'warn_days=1');
    expect(ok.rc, ok.output.slice(-2000)).toBe(0);
    expect(ok.end).toMatchObject({ status: 'nothing-to-do', changed: 0, failed: 0 });
    const warn = await kcarun('check-expiry.yaml', 'warn_days=40');
    expect(warn.rc).toBe(1);
    expect(warn.end).toMatchObject({ status: 'failed', changed: 0 });
    for (const node of NODES) {
      expect(warn.output).toContain(`${node}: /etc/kubernetes/pki/ca.crt: expires in 29 days`);
      expect(warn.output).toContain(`${node}: /etc/kubernetes/pki/etcd/ca.crt: expires in 29 days`);
    }
    expect(warn.output).toContain('under the 40 days threshold');
    expect(leaves()).toEqual(before);
  }, 300_000);

  it('renew-leaf-certs with force_renewal: every leaf gets a new serial from the same CA, under traffic: through the load balancer at most the one cut connection of a held apiserver, no component error, data intact', async () => {
    const before = leaves();
    beforeRenew = before;
    const caBefore = NODES.map((n) => readFileSync(file(n, '/etc/kubernetes/pki/ca.crt'), 'utf8'));
    await trafficStart({ dir });
    const t0 = Date.now();
    const run = await kcarunIn(renewState, 'renew-leaf-certs.yaml', 'force_renewal=true');
    console.log(`[e2e other-real] renew-leaf-certs: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    printTraffic('other-real', 'renew-leaf-certs', tv);
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    expect(run.end?.status).toBe('succeeded');
    const after = leaves();
    for (const [key, old] of before) {
      const now = after.get(key)!;
      expect(now.serial, key).not.toBe(old.serial);
      expect(now.issuer, key).toBe(old.issuer);
    }
    expectAllVerify();
    expect(NODES.map((n) => readFileSync(file(n, '/etc/kubernetes/pki/ca.crt'), 'utf8'))).toEqual(caBefore);
    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(50);
    expectLbFailuresWithinHoldGap(lab, tv, 'other-real renew');
    // Retried answers are only an apiserver's graceful shutdown (real-lab traffic: client-go's Retry-After rule).
    expect(tv.lbRetriesOtherThanShutdown).toEqual([]);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
  }, 1_800_000);

  it('renew-leaf-certs without force after that: nothing to renew, nothing changed, and it says so', async () => {
    const before = leaves();
    const run = await kcarun('renew-leaf-certs.yaml');
    expect(run.rc, run.output.slice(-2000)).toBe(0);
    expect(run.end).toMatchObject({ status: 'nothing-to-do', changed: 0 });
    expect(run.end?.message).toContain('nothing to do');
    expect(leaves()).toEqual(before);
  }, 300_000);

  // The renewal undone whole by `kcarun rollback`, every stage of it: the case where every host of a
  // stacked-etcd stage ran (renew-etcd), so a rollback that first undid every host would hold every
  // apiserver at once (session 23's review). Undone batch by batch, each member's apiserver is held
  // while that member restarts on its restored files, and only it.
  it('kcarun rollback --to renew-etcd under traffic: every leaf back as before the renewal, at most the one cut connection of a held apiserver through the load balancer, never two apiservers out at once', async () => {
    await trafficStart({ dir });
    const t0 = Date.now();
    const res = await lab.cli(['rollback', '-i', inventory, '--state-dir', renewState, '--to', 'renew-etcd', '--yes', '--output', 'json']);
    console.log(`[e2e other-real] kcarun rollback --to renew-etcd: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    printTraffic('other-real', 'rollback', tv);
    const events = jsonEvents(res.stdout);
    expect(res.code, res.stdout.slice(-3000) + res.stderr.slice(-2000)).toBe(0);
    expect(events.filter((e) => e.event === 'rollback-step' && e['status'] === 'failed')).toEqual([]);
    const undone = events.filter((e) => e.event === 'rollback-end').map((e) => `${String(e['stage'])} ${String(e['status'])}`);
    expect(undone).toContain('renew-etcd ok');
    expect(undone).toContain('renew-control-plane ok');
    // Every leaf as before the renewal (files, kubeconfig-embedded, the kubelet's client pair).
    expect(leaves()).toEqual(beforeRenew);
    expectAllVerify();
    // Never two apiservers unavailable at once (1 s: the traffic's pace).
    const direct = tv.unavailability.filter((w) => w.target.startsWith('apiserver:')).map((w) => ({ target: w.target, from: Date.parse(w.from), to: w.to ? Date.parse(w.to) : Date.now() }));
    const overlaps = direct.flatMap((a, i) => direct.slice(i + 1).filter((b) => b.target !== a.target && Math.min(a.to, b.to) - Math.max(a.from, b.from) > 1000).map((b) => `${a.target} and ${b.target}`));
    expect(overlaps).toEqual([]);
    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(50);
    expectLbFailuresWithinHoldGap(lab, tv, 'other-real');
    expect(tv.lbRetriesOtherThanShutdown).toEqual([]);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
  }, 1_800_000);

  // The etcd CA alone (issue 18's "etcd-only" scenario on the real components; it ran on the emulated
  // kubeadm lab until session 23): nothing else restarts the apiservers in an etcd-only rotation, so
  // this is where an apiserver still holding its old-CA etcd client certificate in memory would be cut
  // off when etcd drops the old CA (finalize-apiserver restarts the apiservers before finalize-etcd).
  it('rotate-etcd-ca under traffic: the etcd CA alone through finalize, the apiservers done with the old etcd CA before etcd drops it; through the load balancer at most the one cut connection of a held apiserver, no component error, data intact, the other CAs and their leaves untouched', async () => {
    const ETCD_LEAVES = LEAF_FILES.filter((p) => caFor(p).endsWith('/etcd/ca.crt'));
    const OTHER = [...LEAF_FILES.filter((p) => !ETCD_LEAVES.includes(p)), '/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/front-proxy-ca.crt'];
    const otherBefore = NODES.flatMap((n) => OTHER.map((p) => readFileSync(file(n, p), 'utf8')));
    const etcdCaBefore = cert(readFileSync(file('cp1', '/etc/kubernetes/pki/etcd/ca.crt'))).fingerprint256;
    await trafficStart({ dir });
    const t0 = Date.now();
    const run = await kcarun('rotate-etcd-ca.yaml');
    console.log(`[e2e other-real] rotate-etcd-ca: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    printTraffic('other-real', 'rotate-etcd-ca', tv);
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    expect(run.end?.status).toBe('succeeded');

    const done = run.output.split('\n').filter((l) => l.startsWith('{') && l.includes('"event":"stage-end"') && l.includes('"status":"ok"')).map((l) => (JSON.parse(l) as { stage: string }).stage);
    expect(done).toEqual(expect.arrayContaining(['trust-etcd', 'trust-apiserver', 'switch-etcd', 'finalize-apiserver', 'finalize-etcd']));
    // The other way round, the apiservers' etcd clients were cut off (docs/playbooks.md).
    expect(done.indexOf('finalize-apiserver')).toBeLessThan(done.indexOf('finalize-etcd'));
    expect(done).not.toContain('switch-control-plane');
    expect(done).not.toContain('trust-kubelets');

    // One new etcd CA on every node; every etcd leaf verifies against it; the old etcd CA is trusted
    // nowhere; the Kubernetes and front-proxy CAs and their leaves are byte for byte as before.
    const etcdCa = NODES.map((n) => cert(readFileSync(file(n, '/etc/kubernetes/pki/etcd/ca.crt'))));
    expect(new Set(etcdCa.map((c) => c.fingerprint256)).size).toBe(1);
    expect(etcdCa[0]!.fingerprint256).not.toBe(etcdCaBefore);
    for (const n of NODES) for (const p of ETCD_LEAVES) expect(cert(readFileSync(file(n, p))).verify(etcdCa[0]!.publicKey), `${n}:${p}`).toBe(true);
    const isEtcd = (where: string) => where.includes('etcd');
    expect(tv.leavesOnOldCa.filter(isEtcd)).toEqual([]);
    expect(tv.filesTrustingOldCa.filter(isEtcd)).toEqual([]);
    expect(NODES.flatMap((n) => OTHER.map((p) => readFileSync(file(n, p), 'utf8')))).toEqual(otherBefore);

    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(100);
    expectLbFailuresWithinHoldGap(lab, tv, 'other-real');
    // Retried answers are only an apiserver's graceful shutdown (real-lab traffic: client-go's Retry-After rule).
    expect(tv.lbRetriesOtherThanShutdown).toEqual([]);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
  }, 1_800_000);

  it('offline-replace refuses without accept_downtime and changes nothing', async () => {
    const before = leaves();
    const run = await kcarun('offline-replace.yaml');
    expect(run.rc).toBe(1);
    expect(run.output).toContain('accept_downtime=true');
    expect(leaves()).toEqual(before);
  }, 120_000);

  it('offline-replace: new CAs, every leaf chains to them, nothing trusts the old CAs, data intact, every node Ready again', async () => {
    const oldCas = NODES.flatMap((n) => CA_FILES.map((p) => cert(readFileSync(file(n, p))).fingerprint256));
    const t0 = Date.now();
    const run = await kcarun('offline-replace.yaml', 'accept_downtime=true');
    console.log(`[e2e other-real] offline-replace: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    expect(run.end?.status).toBe('succeeded');
    for (const n of NODES) {
      for (const p of CA_FILES) {
        const ca = cert(readFileSync(file(n, p)));
        expect(oldCas, `${n}:${p}`).not.toContain(ca.fingerprint256);
        expect(ca.subject, `${n}:${p}`).toContain('(rotated ');
      }
    }
    expectAllVerify();
    const tv = await realVerify(paths, lab.state);
    expect(tv.leavesOnOldCa).toEqual([]);
    expect(tv.filesTrustingOldCa).toEqual([]);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
    // The kubelets report to the restarted apiservers with their new client certificates.
    const deadline = Date.now() + 180_000;
    let ready: string[] = [];
    while (Date.now() < deadline && (ready = await readyNodes()).join(' ') !== NODES.map((n) => `${n}=True`).join(' ')) await new Promise((r) => setTimeout(r, 2000));
    expect(ready).toEqual(NODES.map((n) => `${n}=True`));
  }, 1_800_000);

  // The operator's field notes' Kubernetes-CA steps (三-五 of test/fixtures/field-notes-order/), the
  // etcd CA left alone: the notes' etcd half cannot get past its gate (rotate-kubeadm-real.test.ts
  // shows that), so the rest of the notes' order is shown here, on the cluster offline-replace left
  // (it ran on the emulated lab until session 24, field-notes-order.test.ts). Last before lab down:
  // it leaves the controller-manager signing from the notes' pki/new-ca/.
  it("the field notes' Kubernetes-CA order: every check the notes prescribe passes, yet from the control-plane switch until the kubeconfigs (updated last) trust the new CA, the controller-manager and admin clients reject the apiservers", async () => {
    const stateDir = join(work, 'notes-k8s-state');
    await trafficStart({ dir });
    const since = new Date();
    const collector = collectComponentErrors(lab, since);
    let logErrors: ComponentLogError[] = [];
    const t0 = Date.now();
    // force_rotation: offline-replace's CAs are new. The notes update no etcd CA here.
    const run = await kcarunIn(stateDir, NOTES_FIXTURE, 'rotate_etcd_ca=false', 'force_rotation=true').finally(() => (logErrors = collector.stop()));
    console.log(`[e2e other-real] field notes' Kubernetes-CA order: exit ${run.rc} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    printTraffic('other-real', "field notes' Kubernetes-CA order", tv);

    // kcarun: every stage the notes prescribe ran and every check passed.
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    const events = run.output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; stage?: string; status?: string; ts: string });
    const at = (event: string, stage: string) => events.find((e) => e.event === event && e.stage === stage && (event === 'stage-start' || e.status === 'ok'))?.ts;
    const switchAt = at('stage-start', 'notes-4-control-plane-certificates');
    const kubeconfigsDone = at('stage-end', 'notes-5-kubeconfigs-last');
    expect(switchAt).toBeDefined();
    expect(kubeconfigsDone).toBeDefined();
    // (a line or a request already under way when the last kubeconfig was changed)
    const inWindow = (ts: string) => ts >= switchAt! && ts <= new Date(Date.parse(kubeconfigsDone!) + 5000).toISOString();

    // The real controller-manager, whose kubeconfig CA the notes change last, rejects the apiservers'
    // new serving certificate (its leader election fails: client-go's "x509: certificate signed by
    // unknown authority"), only from the switch on and only until then.
    const cm = logErrors.filter((e) => e.component === 'kube-controller-manager' && /x509: certificate signed by unknown authority/.test(e.line));
    console.log(`[e2e other-real] controller-manager -> apiserver unknown authority: ${cm.length} lines on ${[...new Set(cm.map((e) => e.node))].join(', ')}, e.g. ${cm[0]?.line.slice(0, 300)}`);
    expect(cm.length).toBeGreaterThan(0);
    expect(cm.filter((e) => !inWindow(e.ts)).map((e) => `${e.node} ${e.ts}`)).toEqual([]);

    // The admin clients (the traffic, with cp1's admin.conf as the notes leave it) fail through the
    // load balancer for the same reason, in the same window; outside it, at most the known cut
    // connection of a held apiserver.
    const lbFailed = lab.lbFailureLines().map((l) => JSON.parse(l) as { ts: string; error: string });
    const rejected = lbFailed.filter((f) => inWindow(f.ts) && UNKNOWN_AUTHORITY.test(f.error));
    console.log(`[e2e other-real] through the load balancer: ${lbFailed.length} failed, ${rejected.length} of them rejecting the apiserver's certificate between the switch and the kubeconfigs, e.g. ${rejected[0]?.error}`);
    expect(rejected.length).toBeGreaterThan(0);
    expect(lbFailed.filter((f) => !inWindow(f.ts)).length, JSON.stringify(lbFailed.filter((f) => !inWindow(f.ts)))).toBeLessThanOrEqual(1);

    // After the notes' last step every client trusts the new CA again: the cluster serves.
    await trafficStart({ dir });
    for (const deadline = Date.now() + 90_000; lab.lbRequests() < 20 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 2000));
    await trafficStop({ dir });
    const after = await realVerify(paths, lab.state);
    expect(after.requestsByTarget['lb'] ?? 0).toBeGreaterThanOrEqual(20);
    expect(after.lbFailures, JSON.stringify(after.failuresByTarget)).toBe(0);
    expect(after.dataIntact, after.dataProblems.join('; ')).toBe(true);
  }, 1_800_000);

  it('lab down stops everything; the lab\'s addresses and the service IP then fail at once; the machine is as before', async () => {
    await downAndExpectMachineRestored(lab);
  }, 120_000);
});
