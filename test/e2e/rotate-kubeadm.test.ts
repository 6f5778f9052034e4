/**
 * The stock rotation, end to end, on a 3-node kubeadm lab with 2 worker nodes (stacked etcd; kubelets
 * in batches of 40 %: two, two, one, across control plane and workers) with traffic running throughout.
 * One lab and one rotation carry several scenarios, to keep CI inside its budget:
 * - preflight refuses a planted cert/key mismatch without touching a host;
 * - issue 15's per-signer controller-manager flags: two signers name distinct copies of the cluster
 *   CA (signers/kubelet-client.*, signers/legacy-unknown.*), one names the cluster CA files themselves
 *   (kube-apiserver-client), one is left to the shared pair (kubelet-serving). The stock rotate-ca
 *   (stages/signers.yaml) must write the new CA and key into every file a per-signer flag names; the
 *   emulated controller-manager refuses to start on a pair that is not one certificate with its
 *   matching key, so a half-switched pair shows up as component errors;
 * - `kcarun discover` writes the vars from an inventory of hosts and groups alone (issue 15), the dry
 *   run of rotate-ca with them changes nothing (plan-check.ts), and the real run that follows runs
 *   exactly the stages and changes exactly the (host, file) pairs the dry run planned;
 * - workers (kubelet only, as `kubeadm join` leaves them: /etc/kubernetes/pki/ca.crt and no other CA
 *   file) get no etcd or front-proxy bundle, and their ca.crt (the kubelet's clientCAFile) becomes the
 *   new CA (it stayed the old one until session 10: nothing but the lab's verify noticed);
 * - it ends with zero failed requests, zero component errors, every certificate on the new CAs (the
 *   kubelet's client pair behind kubelet-client-current.pem included: a new timestamped file, same
 *   key, link swapped), etcd data intact; run again, it is a no-op that says so.
 * (kill -9 and --resume: rotate-kubespray.test.ts; a lost node and a rollback: rotate-binary.test.ts.
 * A 5-node control plane was its own e2e file until session 9; it now runs as `npm run demo -- --layout kubeadm --nodes
 * 5`, outside CI: a 5-node lab under rotation keeps 2 cores busy for ~15 min here.)
 */
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { jsonEvents } from '../helpers/cli.js';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';
import { discoverVars, dryRunRotation, plannedFiles, reportedFiles, stageStatuses } from './plan-check.js';

const lab = labSession({ name: 'kubeadm', ipPrefix: '127.0.51', layout: 'kubeadm', nodes: 3, workers: 2 });
const NODES = ['cp1', 'cp2', 'cp3'];
const WORKERS = ['w1', 'w2'];
const PKI = '/etc/kubernetes/pki';
const SIGNER_FLAGS: Record<string, { cert: string; key: string }> = {
  'kubelet-client': { cert: `${PKI}/signers/kubelet-client.crt`, key: `${PKI}/signers/kubelet-client.key` },
  'legacy-unknown': { cert: `${PKI}/signers/legacy-unknown.crt`, key: `${PKI}/signers/legacy-unknown.key` },
  'kube-apiserver-client': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
};
const fsOf = (node: string, p: string) => join(lab.dir, 'nodes', node, 'fs', p);
const pubkey = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
const rotate = (...extra: string[]) => [join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, ...extra];

/** sha256 of every file under the nodes' /etc/kubernetes and /var/lib/kubelet: "did anything change?" */
function clusterFiles(): Map<string, string> {
  const sums = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) sums.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  for (const node of readdirSync(join(lab.dir, 'nodes'))) {
    for (const sub of ['etc/kubernetes', 'var/lib/kubelet']) walk(join(lab.dir, 'nodes', node, 'fs', sub));
  }
  return sums;
}

const kubeletPki = (node: string): string => join(lab.dir, 'nodes', node, 'fs/var/lib/kubelet/pki');

/** Per node: the file kubelet-client-current.pem names, its bytes, certificate and mode. */
function kubeletClientPairs(): Map<string, { link: string; bytes: Buffer; cert: X509Certificate; mode: number }> {
  const out = new Map<string, { link: string; bytes: Buffer; cert: X509Certificate; mode: number }>();
  for (const node of readdirSync(join(lab.dir, 'nodes'))) {
    const link = readlinkSync(join(kubeletPki(node), 'kubelet-client-current.pem'));
    const bytes = readFileSync(join(kubeletPki(node), link));
    out.set(node, { link, bytes, cert: new X509Certificate(bytes), mode: statSync(join(kubeletPki(node), link)).mode & 0o777 });
  }
  return out;
}

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

describe('rotate-ca on a 3-node kubeadm lab with 2 workers and per-signer controller-manager flags', () => {
  useLab(lab, { beforeAll, afterAll });

  it('preflight refuses a cert/key mismatch and changes no file on any host', async () => {
    const pki = join(lab.dir, 'nodes', 'cp2', 'fs', 'etc', 'kubernetes', 'pki');
    const original = readFileSync(join(pki, 'apiserver.key'));
    copyFileSync(join(pki, 'apiserver-kubelet-client.key'), join(pki, 'apiserver.key'));
    try {
      const before = clusterFiles();
      const res = await lab.kcarun(rotate('--state-dir', join(lab.work, 'refused-state')));
      expect(res.code, res.stdout + res.stderr).toBe(1);
      expect(res.stdout).toMatch(/cp2.*apiserver\.crt.*(does not match|mismatch)/i);
      expect(clusterFiles()).toEqual(before);
    } finally {
      writeFileSync(join(pki, 'apiserver.key'), original);
    }
  }, 300_000);

  it('rotates every CA with discovered vars alone, as its dry run planned (stages and files); zero failed requests; every per-signer file holds the new CA with its matching key', async () => {
    const oldCa = readFileSync(fsOf('cp1', `${PKI}/ca.crt`), 'utf8');
    setPerSignerFlags();
    // The planted mismatch of the previous test made cp2's apiserver log reload errors (as a real
    // one with dynamic certificate reload would), and the controller-managers restart on their new
    // flags: count from a fresh traffic window.
    await new Promise((r) => setTimeout(r, 6000));
    await lab.trafficStop();
    await lab.trafficStart();
    const pairsBefore = kubeletClientPairs();
    // Issue 15's acceptance for `kcarun discover`: an inventory of hosts and groups alone.
    const { bare, varsFile } = await discoverVars(lab, 'kubeadm');
    const batch = ['-e', 'kubelet_batch=40%'];
    const dry = await dryRunRotation(lab, bare, varsFile, batch);

    const real = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', bare, '--yes', '--output', 'json', ...FAST_GATES, '-e', `@${varsFile}`, ...batch]);
    expect(real.code, real.stdout.slice(-3000) + real.stderr).toBe(0);
    const events = jsonEvents(real.stdout);
    expect(stageStatuses(dry)).toEqual(stageStatuses(events));
    expect([...plannedFiles(dry)].sort()).toEqual([...reportedFiles(join(lab.work, '.kcarun'))].sort());
    const starts = events.filter((e) => e.event === 'stage-start');
    expect(starts.filter((s) => s.stage === 'trust-kubelets').map((s) => s.batches)).toEqual([[['cp1', 'cp2'], ['cp3', 'w1'], ['w2']]]);
    expect(starts.map((s) => s.stage)).toContain('switch-signers');
    await expectCleanRotation(lab, 'kubeadm rotation with per-signer flags and discovered vars, after its dry run', events);

    for (const node of NODES) {
      const newCa = readFileSync(fsOf(node, `${PKI}/ca.crt`), 'utf8');
      expect(newCa).not.toBe(oldCa);
      for (const [s, f] of Object.entries(SIGNER_FLAGS)) {
        expect(readFileSync(fsOf(node, f.cert), 'utf8'), `${node} ${s}`).toBe(newCa);
        // openssl: the key file holds the new CA's private key.
        expect(pubkey(['pkey', '-in', fsOf(node, f.key), '-pubout']), `${node} ${s} key`).toBe(pubkey(['x509', '-in', fsOf(node, f.cert), '-noout', '-pubkey']));
      }
    }
    // Workers: the new CA in ca.crt (the kubelet's clientCAFile since finalize-kubelets), no bundle
    // left, no etcd or front-proxy file ever written there.
    const newCa = readFileSync(fsOf('cp1', `${PKI}/ca.crt`), 'utf8');
    for (const w of WORKERS) {
      expect(readFileSync(fsOf(w, `${PKI}/ca.crt`), 'utf8'), w).toBe(newCa);
      expect(readdirSync(fsOf(w, PKI)).sort(), w).toEqual(['ca.crt']);
      expect(readFileSync(fsOf(w, '/var/lib/kubelet/config.yaml'), 'utf8'), w).toContain(`clientCAFile: ${PKI}/ca.crt`);
    }
    // The kubelet's client pair (kubelet.conf -> kubelet-client-current.pem): a new timestamped file
    // from the new CA with the same key, the link swapped, the old pair untouched for a rollback.
    const pairsAfter = kubeletClientPairs();
    for (const [node, before] of pairsBefore) {
      const after = pairsAfter.get(node)!;
      expect(after.link, node).not.toBe(before.link);
      expect(after.link, node).toMatch(/^kubelet-client-\d{4}(-\d\d){5}\.pem$/);
      expect(readFileSync(join(kubeletPki(node), before.link)), node).toEqual(before.bytes);
      expect(after.cert.verify(new X509Certificate(readFileSync(join(lab.dir, 'nodes', node, 'fs/etc/kubernetes/pki/ca.crt'))).publicKey), node).toBe(true);
      expect(after.cert.subject, node).toBe(before.cert.subject);
      expect(after.cert.publicKey.export({ type: 'spki', format: 'der' }), node).toEqual(before.cert.publicKey.export({ type: 'spki', format: 'der' }));
      expect(after.mode, node).toBe(0o600);
    }
  }, 1_500_000);

  it('run again, is a no-op that says so (read from the hosts, not the journal)', async () => {
    const res = await lab.kcarun(rotate('--fresh'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/etcd-ca: already rotated/);
    expect(res.stdout).toMatch(/kubernetes-ca: already rotated/);
    expect(res.stdout).toMatch(/nothing to do/);
    expect(res.stdout).toMatch(/0 changed/);
  }, 120_000);
});
