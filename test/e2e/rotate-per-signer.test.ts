/**
 * Issue 15: kube-controller-manager with per-signer CA flags on the kubeadm lab. Two signers name
 * distinct copies of the cluster CA (signers/kubelet-client.*, signers/legacy-unknown.*), one names
 * the cluster CA files themselves (kube-apiserver-client), one is left to the shared pair
 * (kubelet-serving). The stock rotate-ca (stages/signers.yaml) writes the new CA and key into every
 * file a per-signer flag names; the emulated controller-manager refuses to start on a pair that is
 * not one certificate with its matching key, so a half-switched pair shows up as component errors.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';

const lab = labSession({ name: 'per-signer', ipPrefix: '127.0.73', layout: 'kubeadm', nodes: 3 });
const NODES = ['cp1', 'cp2', 'cp3'];
const PKI = '/etc/kubernetes/pki';
const SIGNER_FLAGS: Record<string, { cert: string; key: string }> = {
  'kubelet-client': { cert: `${PKI}/signers/kubelet-client.crt`, key: `${PKI}/signers/kubelet-client.key` },
  'legacy-unknown': { cert: `${PKI}/signers/legacy-unknown.crt`, key: `${PKI}/signers/legacy-unknown.key` },
  'kube-apiserver-client': { cert: `${PKI}/ca.crt`, key: `${PKI}/ca.key` },
};
const fsOf = (node: string, p: string) => join(lab.dir, 'nodes', node, 'fs', p);
const pubkey = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

describe('per-signer controller-manager flags switched by rotate-ca (kubeadm lab)', () => {
  useLab(lab, { beforeAll, afterAll });

  it('after rotate-ca every per-signer file holds the new CA with its matching key, with 0 failed requests', async () => {
    const oldCa = readFileSync(fsOf('cp1', `${PKI}/ca.crt`), 'utf8');
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
    await new Promise((r) => setTimeout(r, 5000));

    const run = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, '--output', 'plain']);
    expect(run.code, run.stdout.slice(-3000) + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/switch-signers/);
    await expectCleanRotation(lab, 'rotate-ca with per-signer flags');

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
