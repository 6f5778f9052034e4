/**
 * preflight refuseFlags, with the per-signer controller-manager flags of playbooks/defaults.yaml as
 * the example (the stock rotation now switches them, stages/signers.yaml; a playbook of one's own can
 * still refuse them): refused while any is set, naming them; checked over a real sshd on a static
 * pod manifest and on a systemd unit.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KcarunErrorList } from '../../../src/core/errors.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { useRemoteEnv } from './remote-env.js';

type Params = Parameters<typeof preflightTask.run>[0]['params'];
const root = join(import.meta.dirname, '..', '..', '..');
const defaults = parse(readFileSync(join(root, 'playbooks', 'defaults.yaml'), 'utf8')) as { per_signer_cert_flags: string[]; per_signer_key_flags: string[] };
const perSignerFlags = [...defaults.per_signer_cert_flags, ...defaults.per_signer_key_flags];

const manifest = (extra: string[]) => `apiVersion: v1
kind: Pod
metadata: { name: kube-controller-manager, namespace: kube-system }
spec:
  containers:
  - name: kube-controller-manager
    image: registry.k8s.io/kube-controller-manager:v1.30.0
    command:
    - kube-controller-manager
    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    - --cluster-signing-key-file=/etc/kubernetes/pki/ca.key
    - --root-ca-file=/etc/kubernetes/pki/ca.crt
${extra.map((f) => `    - ${f}`).join('\n')}
`;

describe('preflight refuses per-signer controller-manager flags', () => {
  const env = useRemoteEnv();
  const check = async (path: string, where: 'manifest' | 'unit') =>
    preflightTask.run(await env.ctx<Params>({ hosts: [env.host.name], lock: false, refuseFlags: [{ path, in: where, flags: perSignerFlags, why: 'not switched by the stock rotation' }] }));

  it('lists all eight signer flags (kubelet-client, kubelet-serving, kube-apiserver-client, legacy-unknown; cert and key)', () => {
    const signers = ['kubelet-client', 'kubelet-serving', 'kube-apiserver-client', 'legacy-unknown'];
    expect([...perSignerFlags].sort()).toEqual(signers.flatMap((s) => [`cluster-signing-${s}-cert-file`, `cluster-signing-${s}-key-file`]).sort());
  });

  it('a manifest with only the shared signing flags passes; one with per-signer flags is refused, each named with its value', async () => {
    const path = join(env.remoteDir, 'kube-controller-manager.yaml');
    await writeFile(path, manifest([]));
    await expect(check(path, 'manifest')).resolves.toMatchObject({ changed: false });
    await writeFile(path, manifest(['--cluster-signing-kubelet-serving-cert-file=/etc/kubernetes/pki/kubelet-ca.crt', '--cluster-signing-kubelet-serving-key-file=/etc/kubernetes/pki/kubelet-ca.key']));
    const err = await check(path, 'manifest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    expect((err as Error).message).toContain(
      `${env.host.name}: ${path} sets --cluster-signing-kubelet-serving-cert-file=/etc/kubernetes/pki/kubelet-ca.crt, --cluster-signing-kubelet-serving-key-file=/etc/kubernetes/pki/kubelet-ca.key: not switched by the stock rotation`,
    );
    // An absent file (a host without a controller-manager) is nothing to check.
    await expect(check(join(env.remoteDir, 'absent.yaml'), 'manifest')).resolves.toMatchObject({ changed: false });
  });

  it('a systemd unit (binary layout) with --cluster-signing-legacy-unknown-cert-file is refused too', async () => {
    const path = join(env.remoteDir, 'kube-controller-manager.service');
    await writeFile(
      path,
      '[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --cluster-signing-cert-file=/etc/kubernetes/ssl/ca-kubernetes.pem \\\n  --cluster-signing-legacy-unknown-cert-file /etc/kubernetes/ssl/legacy.pem\n',
    );
    await expect(check(path, 'unit')).rejects.toThrow(`${path} sets --cluster-signing-legacy-unknown-cert-file=/etc/kubernetes/ssl/legacy.pem`);
  });
});
