/**
 * Issue 15 on the kubespray lab layout (lab/layouts/kubespray.ts): etcd as a systemd unit configured
 * by /etc/etcd.env, its certificates in /etc/ssl/etcd/ssl named per host (member-, admin-, node-<host>),
 * a kubeadm-made control plane in /etc/kubernetes/ssl with external etcd, the kubelet started from
 * kubelet.env. `kcarun discover` on an inventory of hosts and groups only recognises the layout and
 * writes the vars (per-host file names templated); the stock rotate-ca with those vars alone, killed
 * (-9) at 5 seeded random points and resumed each time, rotates every CA under traffic: 0 failed
 * requests, every certificate on the new CAs, data intact, and every setting still names the file it
 * named (the etcd environment file edited in place). (The kill -9 loop lives here rather than on a
 * lab of its own, to keep CI inside its budget; its resume logic is the same on every layout.)
 *
 * Issue 15's per-signer controller-manager flags ride on the same lab (they were on the emulated
 * kubeadm e2e until session 15, when the kubeadm rotation moved to the genuine cluster): two signers
 * name distinct copies of the cluster CA (signers/kubelet-client.*, signers/legacy-unknown.*), one
 * names the cluster CA files themselves (kube-apiserver-client), one is left to the shared pair
 * (kubelet-serving). discover must find them without a warning, and the stock rotate-ca
 * (stages/signers.yaml) must write the new CA and key into every file a per-signer flag names; the
 * emulated controller-manager refuses to start on a pair that is not one certificate with its
 * matching key, so a half-switched pair shows up as component errors.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, runStatus, useLab } from './lab-session.js';
import { discoverVars } from './plan-check.js';

const lab = labSession({ name: 'kubespray-layout', ipPrefix: '127.0.73', layout: 'kubespray', nodes: 3 });
const NODES = ['cp1', 'cp2', 'cp3'];
const fsOf = (node: string, p: string) => join(lab.dir, 'nodes', node, 'fs', p);
const SSL = '/etc/ssl/etcd/ssl';
/** kubespray's certificatesDir for the kubeadm-made control plane. */
const PKI = '/etc/kubernetes/ssl';
const SIGNER_FLAGS: Record<string, { cert: string; key: string }> = {
  'kubelet-client': { cert: `${PKI}/signers/kubelet-client.crt`, key: `${PKI}/signers/kubelet-client.key` },
  'legacy-unknown': { cert: `${PKI}/signers/legacy-unknown.crt`, key: `${PKI}/signers/legacy-unknown.key` },
  'kube-apiserver-client': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
};
const pubkey = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

/** Gives every node's controller-manager per-signer flags, as an operator who split the signers would. */
function setPerSignerFlags(): void {
  for (const node of NODES) {
    mkdirSync(fsOf(node, `${PKI}/signers`), { recursive: true });
    for (const s of ['kubelet-client', 'legacy-unknown']) {
      copyFileSync(fsOf(node, `${PKI}/ca.crt`), fsOf(node, SIGNER_FLAGS[s]!.cert));
      copyFileSync(fsOf(node, `${PKI}/ca.key`), fsOf(node, SIGNER_FLAGS[s]!.key));
    }
    // The kubelet (emulated) restarts the static pod when its manifest changes.
    const manifest = fsOf(node, '/etc/kubernetes/manifests/kube-controller-manager.yaml');
    const doc = parse(readFileSync(manifest, 'utf8')) as { spec: { containers: Array<{ command: string[] }> } };
    for (const [s, f] of Object.entries(SIGNER_FLAGS)) doc.spec.containers[0]!.command.push(`--cluster-signing-${s}-cert-file=${f.cert}`, `--cluster-signing-${s}-key-file=${f.key}`);
    writeFileSync(manifest, stringify(doc));
  }
}

describe('a kubespray cluster: discover, then rotate-ca with the discovered vars alone', () => {
  useLab(lab, { beforeAll, afterAll });
  let varsFile: string;
  let bare: string;
  const envBefore = new Map<string, string>();

  it('recognises the kubespray layout and names each host its own etcd files, and the per-signer flags', async () => {
    setPerSignerFlags();
    // The controller-managers restart on their new flags: count traffic from a fresh window.
    await new Promise((r) => setTimeout(r, 6000));
    await lab.trafficStop();
    await lab.trafficStart();
    const found = await discoverVars(lab, 'kubespray');
    ({ bare, varsFile } = found);
    const vars = found.vars;
    expect(vars).toMatchObject({
      layout: 'kubespray',
      etcd_ca_cert: `${SSL}/ca.pem`,
      etcd_ca_key: `${SSL}/ca-key.pem`,
      etcd_config: '/etc/etcd.env',
      etcd_trust_in: 'env-file',
      etcd_restart: { method: 'systemd', unit: 'etcd' },
      k8s_ca_cert: '/etc/kubernetes/ssl/ca.crt',
      apiserver_restart: { method: 'static-pod', container: 'kube-apiserver' },
      // Every apiserver lists every member: no hold while a member restarts.
      etcd_restart_holds_apiserver: false,
      kubelet_config: '/etc/kubernetes/kubelet-config.yaml',
      etcd_probe_cert: `${SSL}/admin-{% if host.name == 'local' %}{{ groups.etcd[0] }}{% else %}{{ host.name }}{% endif %}.pem`,
      etcd_probe_key: `${SSL}/admin-{% if host.name == 'local' %}{{ groups.etcd[0] }}{% else %}{{ host.name }}{% endif %}-key.pem`,
      extra_clients: [{ name: 'prometheus', host: 'cp1', restart: { method: 'systemd', unit: 'prometheus' } }],
    });
    expect(vars['etcd_leaf_certs']).toEqual([`${SSL}/admin-{{ host.name }}.pem`, `${SSL}/member-{{ host.name }}.pem`, `${SSL}/node-{{ host.name }}.pem`]);
    // Preflight checks each host's own member certificate.
    const preflight = vars['preflight_certificates'] as Array<{ path: string; hosts: unknown }>;
    for (const n of NODES) expect(preflight).toContainEqual(expect.objectContaining({ path: `${SSL}/member-${n}.pem`, hosts: [n] }));
    for (const n of NODES) envBefore.set(n, readFileSync(fsOf(n, '/etc/etcd.env'), 'utf8'));
  }, 120_000);

  it('rotates every CA with 0 failed requests, through 5 kill -9 and resumes; /etc/etcd.env names the same files, now from the new etcd CA', async () => {
    const t0 = Date.now();
    const rotate = (...extra: string[]) => [join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', bare, '--yes', ...FAST_GATES, '-e', `@${varsFile}`, ...extra];
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const stateDir = join(lab.work, '.kcarun');
    const completedSteps = async () => (await runStatus(lab, stateDir)).steps.ok;
    for (let kill = 0; kill < 5; kill++) {
      const before = await completedSteps();
      const run = lab.start(rotate(...(kill > 0 ? ['--resume'] : [])));
      // Once this run has made progress of its own, somewhere in the next stretch: restarts, gates
      // and uploads all get hit.
      const deadline = Date.now() + 120_000;
      // Each look runs `kcarun status` (a process start): once a second, not in a tight loop, so the
      // looking does not slow the run it waits for on CI's 2 cores.
      while (Date.now() < deadline && (await completedSteps()) <= before && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 1000));
      await new Promise((r) => setTimeout(r, 5_000 + random() * 40_000));
      run.child.kill('SIGKILL');
      const res = await run.done;
      // A run that ended by itself before the kill must have succeeded; its output is the failure message.
      expect(res.signal === 'SIGKILL' || res.code === 0, `run ${kill + 1} exited ${res.code}:\n${res.stdout.slice(-6000)}\n${res.stderr.slice(-2000)}`).toBe(true);
      const status = await runStatus(lab, stateDir);
      console.log(`[e2e] kill -9 #${kill + 1}: ${status.steps.ok} steps done, in flight: ${status.steps.inFlight.join(', ') || 'none'}`);
      if (res.code === 0) break;
    }
    const final = await lab.kcarun(rotate('--resume'));
    expect(final.code, final.stdout.slice(-3000) + final.stderr).toBe(0);
    console.log(`[e2e] kubespray rotate-ca with discovered vars and 5 kill -9: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await expectCleanRotation(lab, 'kubespray rotation with discovered vars and 5 kill -9');
    const ca = readFileSync(fsOf('cp1', `${SSL}/ca.pem`), 'utf8');
    for (const n of NODES) {
      // The environment file keeps its settings: trust ends on ca.pem again (now the new CA, the same
      // on every node), the member certificate is re-issued in place.
      expect(readFileSync(fsOf(n, '/etc/etcd.env'), 'utf8'), n).toBe(envBefore.get(n));
      expect(readFileSync(fsOf(n, `${SSL}/ca.pem`), 'utf8'), n).toBe(ca);
    }
    // The monitoring client (found by discover, not named in the inventory) trusts it too.
    expect(readFileSync(fsOf('cp1', '/etc/prometheus/ssl/etcd-ca.crt'), 'utf8')).toBe(ca);
    // Every file a per-signer flag names holds the new Kubernetes CA, and its key file the new CA's key.
    const k8sCa = readFileSync(fsOf('cp1', `${PKI}/ca.crt`), 'utf8');
    for (const n of NODES) {
      expect(readFileSync(fsOf(n, `${PKI}/ca.crt`), 'utf8'), n).toBe(k8sCa);
      for (const [s, f] of Object.entries(SIGNER_FLAGS)) {
        expect(readFileSync(fsOf(n, f.cert), 'utf8'), `${n} ${s}`).toBe(k8sCa);
        // openssl: the key file holds the new CA's private key.
        expect(pubkey(['pkey', '-in', fsOf(n, f.key), '-pubout']), `${n} ${s} key`).toBe(pubkey(['x509', '-in', fsOf(n, f.cert), '-noout', '-pubkey']));
      }
    }
  }, 1_500_000);
});
