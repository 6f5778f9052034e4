/**
 * Issue 18 (and 15) for the kubespray layout, on the real components: `lab up --layout kubespray-real`
 * (lab/real/kubespray.ts) lays a cluster out the way kubespray leaves it, with the pinned real binaries:
 * etcd 3.6 on the host as the unit `etcd` configured by /etc/etcd.env, its certificates in
 * /etc/ssl/etcd/ssl made once and the same on every node (member-, admin-, node-<host>.pem for every
 * host), the control plane made by real `kubeadm init` + `kubeadm join --control-plane` with
 * certificatesDir /etc/kubernetes/ssl and external etcd (every apiserver uses the first node's
 * node-cp1.pem: kubespray#8840), /etc/kubernetes/pki a symlink to it, the kubelet from kubelet.env,
 * serving a certificate it signed itself.
 *
 * The user's path: hosts and groups only; `kcarun discover` recognises the layout and writes the vars
 * (every etcd file on every host, the per-signer flags an operator split the signers with, no alias of
 * a symlinked folder taken for an extra client); the stock rotate-ca with those vars alone, killed (-9)
 * at 5 seeded random points and resumed each time, rotates every CA under traffic: no failed request
 * through the load balancer, no TLS or authentication error in the real components' logs, every
 * certificate on the new CAs (openssl), the old CAs trusted nowhere, data intact, /etc/etcd.env names
 * the files it named. (The kill -9 loop ran on the emulated kubespray lab until session 22.)
 *
 * Subnet: $KCARUN_REAL_KUBESPRAY_SUBNET or 10.237.0.0/16 (the kubeadm file uses 10.232, binary 10.233).
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { readVersions } from '../../lab/real/artifacts.js';
import { kubectl } from '../../lab/real/up.js';
import { realVerify } from '../../lab/real/traffic.js';
import { runCli, startCli } from '../helpers/cli.js';
import { openssl, ssh } from '../lab/lab-fixture.js';
import type { StatusJson } from './lab-session.js';
import { downAndExpectMachineRestored, dryRun, realLabSession } from './real-lab-session.js';
import { describeEtcdRestore, unitRestoreLayout } from './health-restore-real.js';

const SUBNET = process.env['KCARUN_REAL_KUBESPRAY_SUBNET'] ?? '10.237.0.0/16';
const NODES = ['cp1', 'cp2', 'cp3'];
const PLAYBOOKS_DIR = join(import.meta.dirname, '..', '..', 'playbooks');
const PLAYBOOK = join(PLAYBOOKS_DIR, 'rotate-ca.yaml');
const SSL = '/etc/ssl/etcd/ssl';
/** kubespray's certificatesDir for the kubeadm-made control plane. */
const PKI = '/etc/kubernetes/ssl';
/** Every etcd leaf kubespray leaves on every node: member-, admin- and node-<host>.pem for each host. */
const ETCD_LEAVES = ['admin', 'member', 'node'].flatMap((k) => NODES.map((n) => `${SSL}/${k}-${n}.pem`)).sort();
/**
 * The controller-manager's per-signer flags as an operator who split the signers sets them. A real
 * controller-manager refuses them beside --cluster-signing-{cert,key}-file (csrsigningcontroller.go
 * Validate), so the main pair's flags go: two signers name copies of the cluster CA, two the cluster
 * CA files themselves.
 */
const SIGNER_FLAGS: Record<string, { cert: string; key: string }> = {
  'kubelet-client': { cert: `${PKI}/signers/kubelet-client.crt`, key: `${PKI}/signers/kubelet-client.key` },
  'legacy-unknown': { cert: `${PKI}/signers/legacy-unknown.crt`, key: `${PKI}/signers/legacy-unknown.key` },
  'kube-apiserver-client': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
  'kubelet-serving': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
};
const pubkey = async (args: string[]): Promise<string> => (await openssl(args)).stdout;

describe('stock rotate-ca on a kubespray-made cluster of real components (kubespray-real), with discovered vars and 5 kill -9', () => {
  const pinned = readVersions();
  const lab = realLabSession({ name: 'ksreal', layout: 'kubespray', nodes: NODES.length, subnet: SUBNET }, { beforeAll, afterAll });
  const { work, dir, paths, inventory } = lab;
  const bare = join(work, 'hosts-only.yaml');
  const varsFile = join(work, 'discovered.yaml');
  const stateDir = join(work, '.kcarun');
  const fs = lab.fs;
  const envBefore = new Map<string, string>();

  it('the cluster is laid out as kubespray leaves it, and runs: 3 Ready nodes, 3 etcd 3.6 members on the host', async () => {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'json']);
    expect(r.rc, r.stderr).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }>; nodeInfo: { kubeletVersion: string } } }> }).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(NODES);
    for (const n of nodes) {
      expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status.nodeInfo.kubeletVersion).toBe(pinned.KUBERNETES_VERSION);
    }
    for (const n of NODES) {
      const active = await ssh(paths, lab.state, n, 'systemctl is-active etcd kubelet; etcd --version');
      expect(active.stdout, `${n}: ${active.stderr}`).toMatch(/^active\nactive\n/);
      expect(active.stdout).toMatch(/etcd Version: 3\.6\./);
      // kubespray#8840: a joining node takes the ClusterConfiguration, so every apiserver uses cp1's file
      expect(readFileSync(fs(n, '/etc/kubernetes/manifests/kube-apiserver.yaml'), 'utf8')).toContain(`--etcd-certfile=${SSL}/node-cp1.pem`);
      expect(readFileSync(fs(n, '/etc/etcd.env'), 'utf8')).toContain(`ETCD_CERT_FILE=${SSL}/member-${n}.pem`);
      expect(readdirSync(fs(n, SSL)).filter((f) => !f.includes('key')).sort()).toEqual(['ca.pem', ...ETCD_LEAVES.map((p) => p.slice(SSL.length + 1))].sort());
      expect(lstatSync(fs(n, '/etc/kubernetes/pki')).isSymbolicLink()).toBe(true);
      // the kubelet's serving certificate is its own (kubespray's default): not the cluster CA's
      const serving = new X509Certificate(readFileSync(fs(n, '/var/lib/kubelet/pki/kubelet.crt')));
      expect(serving.issuer).toMatch(new RegExp(`CN=${n}-ca@`));
    }
    const members = await ssh(paths, lab.state, 'cp1', `etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${SSL}/ca.pem --cert=${SSL}/admin-cp1.pem --key=${SSL}/admin-cp1-key.pem member list -w json`);
    expect(members.rc, members.stderr).toBe(0);
    expect((JSON.parse(members.stdout) as { members: Array<{ name: string }> }).members.map((m) => m.name).sort()).toEqual(NODES);
  }, 300_000);

  it('discover recognises the layout and the per-signer flags from hosts and groups alone; every etcd file of every host; no symlinked alias taken for an extra client', async () => {
    await setPerSignerFlags();
    await trafficStart({ dir });
    const full = readFileSync(inventory, 'utf8');
    expect(full).toMatch(/vars:\n {2}layout: kubespray\n$/);
    writeFileSync(bare, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
    const found = await runCli(['discover', '-i', bare, '--output', 'json', '--write-vars', varsFile], { cwd: work });
    expect(found.code, `${found.stderr}${found.stdout.slice(-4000)}`).toBe(0);
    expect((JSON.parse(found.stdout) as { warnings: string[] }).warnings).toEqual([]);
    const text = readFileSync(varsFile, 'utf8');
    const vars = parse(text) as Record<string, unknown>;
    expect(vars).toMatchObject({
      layout: 'kubespray',
      etcd_ca_cert: `${SSL}/ca.pem`,
      etcd_ca_key: `${SSL}/ca-key.pem`,
      etcd_config: '/etc/etcd.env',
      etcd_trust_in: 'env-file',
      etcd_restart: { method: 'systemd', unit: 'etcd' },
      k8s_ca_cert: `${PKI}/ca.crt`,
      apiserver_restart: { method: 'static-pod', container: 'kube-apiserver' },
      // every apiserver lists every member: no hold while a member restarts
      etcd_restart_holds_apiserver: false,
      kubelet_config: '/etc/kubernetes/kubelet-config.yaml',
      // the kubelets' self-signed serving certificates are outside the rotation
      kubelet_leaf_certs: [],
      extra_clients: [],
    });
    expect(vars['etcd_leaf_certs']).toEqual(ETCD_LEAVES);
    // /etc/kubernetes/pki is /etc/kubernetes/ssl under another name: never a second copy to rotate
    expect(text).not.toContain('/etc/kubernetes/pki');
    const preflight = vars['preflight_certificates'] as Array<{ path: string }>;
    for (const n of NODES) expect(preflight.map((p) => p.path)).toContain(`${SSL}/member-${n}.pem`);
    for (const n of NODES) envBefore.set(n, readFileSync(fs(n, '/etc/etcd.env'), 'utf8'));
  }, 600_000);

  // The stock profile alone must cover what kubespray really leaves: cp2's apiserver uses node-cp1.pem.
  it('the stock profile alone (`layout: kubespray`, no discover): rotate-ca and renew-leaf-certs plan every host\'s etcd files on every host, check-expiry reads them; nothing changes', async () => {
    const sumsBefore = lab.clusterFiles();
    const events = await dryRun(lab, 'rotate-ca.yaml');
    const planned = new Set(events.filter((e) => e.event === 'planned-change').map((e) => `${String(e['host'])}:${String(e['path'])}`));
    for (const n of NODES) for (const leaf of ETCD_LEAVES) expect(planned.has(`${n}:${leaf}`), `${n}:${leaf} planned`).toBe(true);
    // The same list in the other stock playbooks: check-expiry reads every host's etcd files (the
    // lab's leaves end a few hours before their CA), renew-leaf-certs plans to renew them.
    const expiry = await runCli([join(PLAYBOOKS_DIR, 'check-expiry.yaml'), '-i', inventory, '--yes', '--fresh', '--output', 'json', '-e', 'warn_days=40', '--state-dir', join(work, 'expiry-state')], { cwd: work });
    expect(expiry.code, `${expiry.stdout.slice(-3000)}${expiry.stderr}`).toBe(1);
    for (const n of NODES) for (const leaf of ETCD_LEAVES) expect(expiry.stdout, `${n}:${leaf} checked`).toMatch(new RegExp(`${n}: ${leaf.replaceAll('.', '\\.')}: expires in (28|29) days`));
    const renew = await dryRun(lab, 'renew-leaf-certs.yaml', ['-e', 'force_renewal=true']);
    const renewPlanned = new Set(renew.filter((e) => e.event === 'planned-change').map((e) => `${String(e['host'])}:${String(e['path'])}`));
    for (const n of NODES) for (const leaf of ETCD_LEAVES) expect(renewPlanned.has(`${n}:${leaf}`), `renew ${n}:${leaf} planned`).toBe(true);
    expect(lab.clusterFiles(), 'check-expiry changed a file').toEqual(sumsBefore);
  }, 900_000);

  it('rotates every CA through 5 kill -9 and resumes: exit 0, no failed request through the load balancer, no component error, every certificate on the new CAs, data intact', async () => {
    const t0 = Date.now();
    const rotate = (...extra: string[]): string[] => [PLAYBOOK, '-i', bare, '--yes', '--output', 'json', '-e', `@${varsFile}`, '--state-dir', stateDir, ...extra];
    let seed = 7;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const completedSteps = async (): Promise<number> => {
      const r = await runCli(['status', '--state-dir', stateDir, '--output', 'json'], { cwd: work });
      return r.code === 0 ? (JSON.parse(r.stdout) as StatusJson).steps.ok : 0;
    };
    for (let kill = 0; kill < 5; kill++) {
      const done = await completedSteps();
      const run = startCli(rotate(...(kill > 0 ? ['--resume'] : [])), { cwd: work });
      // Once this run has made progress of its own, somewhere in the next stretch: restarts, gates
      // and uploads all get hit. One look a second (each is a process start).
      const deadline = Date.now() + 180_000;
      while (Date.now() < deadline && (await completedSteps()) <= done && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 1000));
      await new Promise((r) => setTimeout(r, 5_000 + random() * 40_000));
      run.child.kill('SIGKILL');
      const res = await run.done;
      expect(res.signal === 'SIGKILL' || res.code === 0, `run ${kill + 1} exited ${res.code}:\n${res.stdout.slice(-6000)}\n${res.stderr.slice(-2000)}`).toBe(true);
      console.log(`[e2e kubespray-real] kill -9 #${kill + 1} at ${((Date.now() - t0) / 1000).toFixed(0)} s: ${await completedSteps()} steps done`);
      if (res.code === 0) break;
    }
    const final = await runCli(rotate('--resume'), { cwd: work });
    expect(final.code, final.stdout.slice(-3000) + final.stderr).toBe(0);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[e2e kubespray-real] rotate-ca with discovered vars and 5 kill -9: ${seconds.toFixed(0)} s`);

    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const tv = await realVerify(paths, lab.state);
    console.log(`[e2e kubespray-real] traffic: ${tv.requests} requests, ${tv.failures} failed (through the load balancer: ${tv.lbFailures}), retried after a Retry-After ${JSON.stringify(tv.retriesByTarget)}; by target ${JSON.stringify(tv.requestsByTarget)} failed ${JSON.stringify(tv.failuresByTarget)}`);
    for (const w of tv.unavailability) console.log(`[e2e kubespray-real] unavailable: ${w.target} ${w.from} -> ${w.to ?? '(end)'} ${w.seconds.toFixed(1)} s (${w.failures} failed requests)`);
    console.log(`[e2e kubespray-real] component log TLS/auth errors: ${tv.componentLogErrors} ${JSON.stringify(tv.componentLogErrorsByComponent)}`);
    for (const e of tv.componentLogSamples) console.log(`[e2e kubespray-real]   ${e.node} ${e.component} ${e.ts} ${e.line}`);
    const lbFailed = readFileSync(join(paths.trafficDir, 'failures.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"target":"lb"')).slice(0, 30).join('\n');
    expect(tv.requestsByTarget['lb'] ?? 0).toBeGreaterThan(seconds / 2);
    expect(tv.lbFailures, lbFailed).toBe(0);
    // Retried answers are only an apiserver's graceful shutdown (real-lab traffic: client-go's Retry-After rule).
    expect(tv.lbRetriesOtherThanShutdown).toEqual([]);
    expect(tv.componentLogErrors, JSON.stringify(tv.componentLogSamples)).toBe(0);
    expect(tv.dataIntact, tv.dataProblems.join('; ')).toBe(true);
    expect(tv.allCertsOnNewCA, tv.leavesOnOldCa.join(', ')).toBe(true);
    expect(tv.filesTrustingOldCa).toEqual([]);
  }, 3_600_000);

  it('openssl: every etcd file of every host and every signer file on the new CAs; /etc/etcd.env names the same files; kubectl with the rotated admin.conf works', async () => {
    const originals = readdirSync(paths.originalCaDir).map((f) => new X509Certificate(readFileSync(join(paths.originalCaDir, f))).fingerprint256);
    const etcdCa = readFileSync(fs('cp1', `${SSL}/ca.pem`), 'utf8');
    const k8sCa = readFileSync(fs('cp1', `${PKI}/ca.crt`), 'utf8');
    expect(originals).not.toContain(new X509Certificate(etcdCa).fingerprint256);
    expect(originals).not.toContain(new X509Certificate(k8sCa).fingerprint256);
    for (const n of NODES) {
      // The environment file keeps its settings: trust ends on ca.pem again, now the new CA.
      expect(readFileSync(fs(n, '/etc/etcd.env'), 'utf8'), n).toBe(envBefore.get(n));
      expect(readFileSync(fs(n, `${SSL}/ca.pem`), 'utf8'), n).toBe(etcdCa);
      for (const leaf of ETCD_LEAVES) {
        const r = await openssl(['verify', '-CAfile', fs(n, `${SSL}/ca.pem`), fs(n, leaf)]);
        expect(r.rc, `${n}: openssl verify ${leaf}: ${r.stdout}${r.stderr}`).toBe(0);
        expect(await pubkey(['pkey', '-in', fs(n, leaf.replace(/\.pem$/, '-key.pem')), '-pubout']), `${n} ${leaf} key`).toBe(await pubkey(['x509', '-in', fs(n, leaf), '-noout', '-pubkey']));
      }
      expect(readFileSync(fs(n, `${PKI}/ca.crt`), 'utf8'), n).toBe(k8sCa);
      for (const [s, f] of Object.entries(SIGNER_FLAGS)) {
        expect(readFileSync(fs(n, f.cert), 'utf8'), `${n} ${s}`).toBe(k8sCa);
        expect(await pubkey(['pkey', '-in', fs(n, f.key), '-pubout']), `${n} ${s} key`).toBe(await pubkey(['x509', '-in', fs(n, f.cert), '-noout', '-pubkey']));
      }
    }
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}']);
    expect(r.rc, r.stderr).toBe(0);
    expect(r.stdout.trim().split(' ').sort()).toEqual(NODES.map((n) => `${n}=True`));
  }, 300_000);

  // Last before lab down: stops the whole control plane (etcd a unit reading /etc/etcd.env,
  // kube-apiserver a static pod). kubespray leaves every node's admin-<host> client on every node.
  describeEtcdRestore(lab, (l) =>
    unitRestoreLayout(l, "kubespray's layout", {
      tls: { cacert: `${SSL}/ca.pem`, cert: `${SSL}/admin-cp1.pem`, key: `${SSL}/admin-cp1-key.pem` },
      apiserverCa: `${PKI}/ca.crt`,
      kubeconfig: '/etc/kubernetes/admin.conf',
    }),
  );

  it('lab down stops everything; the lab\'s addresses then fail at once; the machine is as before, its /etc untouched', async () => {
    await downAndExpectMachineRestored(lab);
    expect(existsSync('/etc/etcd.env'), 'the node\'s /etc overlay wrote through to the machine').toBe(false);
  }, 120_000);

  /**
   * Every node's controller-manager gets the per-signer flags instead of the main pair's; the kubelet
   * replaces the static pod, and each node's new controller-manager must be running before discover.
   */
  async function setPerSignerFlags(): Promise<void> {
    for (const n of NODES) {
      mkdirSync(fs(n, `${PKI}/signers`), { recursive: true });
      for (const s of ['kubelet-client', 'legacy-unknown']) {
        copyFileSync(fs(n, `${PKI}/ca.crt`), fs(n, SIGNER_FLAGS[s]!.cert));
        copyFileSync(fs(n, `${PKI}/ca.key`), fs(n, SIGNER_FLAGS[s]!.key));
      }
      const manifest = fs(n, '/etc/kubernetes/manifests/kube-controller-manager.yaml');
      const doc = parse(readFileSync(manifest, 'utf8')) as { spec: { containers: Array<{ command: string[] }> } };
      const c = doc.spec.containers[0]!;
      c.command = c.command.filter((a) => !/^--cluster-signing-(cert|key)-file=/.test(a));
      for (const [s, f] of Object.entries(SIGNER_FLAGS)) c.command.push(`--cluster-signing-${s}-cert-file=${f.cert}`, `--cluster-signing-${s}-key-file=${f.key}`);
      // written outside the manifests folder (the kubelet reads every file there), then renamed in
      writeFileSync(fs(n, '/root/kube-controller-manager.yaml'), stringify(doc));
      renameSync(fs(n, '/root/kube-controller-manager.yaml'), manifest);
    }
    const edited = Date.now();
    for (const n of NODES) {
      const deadline = Date.now() + 300_000;
      for (;;) {
        // the node's own controller-manager: a container made after the edit, healthy on the node's :10257
        const r = await ssh(paths, lab.state, n, 'crictl --runtime-endpoint unix:///run/containerd/containerd.sock ps --name kube-controller-manager --state running -o json 2>/dev/null | tr -d \'\\n\'; echo; curl -ksf https://127.0.0.1:10257/healthz');
        const created = Number((JSON.parse(r.stdout.split('\n')[0] || '{}') as { containers?: Array<{ createdAt: string }> }).containers?.[0]?.createdAt ?? 0) / 1e6;
        if (created > edited - 1000 && r.stdout.trim().endsWith('ok')) break;
        if (Date.now() > deadline) throw new Error(`${n}: the controller-manager did not come back on its per-signer flags: ${r.stdout.slice(-500)} ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 2000));
      }
    }
    expect(readlinkSync(fs('cp1', '/etc/kubernetes/pki'))).toBe('ssl');
  }
});
