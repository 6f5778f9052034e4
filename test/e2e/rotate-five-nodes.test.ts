/**
 * The stock rotation on a 5-node kubeadm lab (5 etcd members, 5 control-plane nodes, kubelets in
 * batches of 40%): zero failed requests with traffic running, every certificate on the new CAs,
 * etcd data intact.
 *
 * The same lab carries issue 15's per-signer controller-manager flags (one lab and one rotation
 * for both, to keep CI inside its budget): two signers name distinct copies of the cluster CA
 * (signers/kubelet-client.*, signers/legacy-unknown.*), one names the cluster CA files themselves
 * (kube-apiserver-client), one is left to the shared pair (kubelet-serving). The stock rotate-ca
 * (stages/signers.yaml) must write the new CA and key into every file a per-signer flag names; the
 * emulated controller-manager refuses to start on a pair that is not one certificate with its
 * matching key, so a half-switched pair shows up as component errors.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';

const lab = labSession({ name: 'five', ipPrefix: '127.0.53', layout: 'kubeadm', nodes: 5 });
const NODES = ['cp1', 'cp2', 'cp3', 'cp4', 'cp5'];
const PKI = '/etc/kubernetes/pki';
const SIGNER_FLAGS: Record<string, { cert: string; key: string }> = {
  'kubelet-client': { cert: `${PKI}/signers/kubelet-client.crt`, key: `${PKI}/signers/kubelet-client.key` },
  'legacy-unknown': { cert: `${PKI}/signers/legacy-unknown.crt`, key: `${PKI}/signers/legacy-unknown.key` },
  'kube-apiserver-client': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
};
const fsOf = (node: string, p: string) => join(lab.dir, 'nodes', node, 'fs', p);
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

describe('rotate-ca on a 5-node kubeadm lab with per-signer controller-manager flags', () => {
  useLab(lab, { beforeAll, afterAll });

  it('rotates every CA with zero failed requests; every per-signer file holds the new CA with its matching key', async () => {
    const oldCa = readFileSync(fsOf('cp1', `${PKI}/ca.crt`), 'utf8');
    setPerSignerFlags();
    await new Promise((r) => setTimeout(r, 5000));

    const res = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, '-e', 'kubelet_batch=40%', '--output', 'json']);
    expect(res.code, res.stdout.slice(-3000) + res.stderr).toBe(0);
    const starts = res.stdout.split('\n').filter((l) => l.includes('"event":"stage-start"')).map((l) => JSON.parse(l) as { stage: string; batches: string[][] });
    expect(starts.filter((s) => s.stage === 'trust-kubelets').map((s) => s.batches)).toEqual([[['cp1', 'cp2'], ['cp3', 'cp4'], ['cp5']]]);
    expect(starts.map((s) => s.stage)).toContain('switch-signers');
    await expectCleanRotation(lab, '5-node kubeadm rotation with per-signer flags');

    for (const node of NODES) {
      const newCa = readFileSync(fsOf(node, `${PKI}/ca.crt`), 'utf8');
      expect(newCa).not.toBe(oldCa);
      for (const [s, f] of Object.entries(SIGNER_FLAGS)) {
        expect(readFileSync(fsOf(node, f.cert), 'utf8'), `${node} ${s}`).toBe(newCa);
        // openssl: the key file holds the new CA's private key.
        expect(pubkey(['pkey', '-in', fsOf(node, f.key), '-pubout']), `${node} ${s} key`).toBe(pubkey(['x509', '-in', fsOf(node, f.cert), '-noout', '-pubkey']));
      }
    }
  }, 1_500_000);
});
