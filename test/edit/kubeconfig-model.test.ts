import { describe, expect, it } from 'vitest';
import { currentClusterAndUser, kubeconfigClientCert, parseKubeconfig, setKubeconfigUserCredentials } from '../../src/edit/kubeconfig.js';

const text = [
  'apiVersion: v1',
  'clusters:',
  '- name: a',
  '  cluster:',
  '    server: https://a:6443',
  '    certificate-authority: pki/ca.crt',
  '    certificate-authority-data: QUFB',
  '- name: b',
  '  cluster: {server: "https://b:6443", insecure-skip-tls-verify: true}',
  'contexts:',
  '- {name: on-b, context: {cluster: b, user: kubelet}}',
  'current-context: on-b',
  'users:',
  '- name: kubelet',
  '  user:',
  '    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem',
  '    client-key: kubelet.key   # relative',
  '',
].join('\n');

describe('the kubeconfig model (one parse for every reader)', () => {
  it('reads clusters, users and contexts: data wins over a file, relative paths resolve against the kubeconfig folder', () => {
    const kc = parseKubeconfig(text, '/etc/kubernetes/kubelet.conf');
    expect(kc.clusters).toEqual([
      { name: 'a', server: 'https://a:6443', ca: { data: Buffer.from('AAA') }, caInBothForms: true, insecure: false },
      { name: 'b', server: 'https://b:6443', ca: undefined, caInBothForms: false, insecure: true },
    ]);
    expect(kc.users).toEqual([
      { name: 'kubelet', certificate: { path: '/var/lib/kubelet/pki/kubelet-client-current.pem' }, key: { path: '/etc/kubernetes/kubelet.key' }, token: undefined },
    ]);
    const current = currentClusterAndUser(kc);
    expect([current.context, current.cluster?.name, current.user?.name]).toEqual(['on-b', 'b', 'kubelet']);
    expect(kubeconfigClientCert(text, '/etc/kubernetes/kubelet.conf')).toEqual({
      kind: 'file',
      user: 'kubelet',
      certPath: '/var/lib/kubelet/pki/kubelet-client-current.pem',
      keyPath: '/etc/kubernetes/kubelet.key',
    });
  });

  it('refuses a file that is not YAML, naming it', () => {
    expect(() => kubeconfigClientCert('users: [\n', '/etc/kubernetes/bad.conf', 'cp1')).toThrow(/^\/etc\/kubernetes\/bad\.conf is not a valid kubeconfig/);
  });

  it('adds and removes credential lines in place: comments, flow maps and other entries keep their bytes', () => {
    const r = setKubeconfigUserCredentials(text, { certificate: { data: 'CERT' }, key: { data: 'KEY' } });
    expect(r.text).toBe(
      text
        .replace('    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem', `    client-certificate-data: ${Buffer.from('CERT').toString('base64')}`)
        .replace('    client-key: kubelet.key   # relative', `    client-key-data: ${Buffer.from('KEY').toString('base64')}   # relative`),
    );
  });

  it('appends new credential lines after the last one, in the order given, and drops a second form by its line', () => {
    const tokenOnly = 'users:\n- name: u   # keep\n  user:\n    token: abc\n    username: x\n- name: v\n  user: {token: def}\n';
    const added = setKubeconfigUserCredentials(tokenOnly, { user: 'u', certificate: { path: '/c.crt' }, key: { path: '/c.key' } });
    expect(added.text).toBe('users:\n- name: u   # keep\n  user:\n    token: abc\n    username: x\n    client-certificate: /c.crt\n    client-key: /c.key\n- name: v\n  user: {token: def}\n');
    const twoForms = 'users:\n- name: u\n  user:\n    client-key: /old.key\n    client-key-data: S0VZ   # stale\n    token: abc\n';
    expect(setKubeconfigUserCredentials(twoForms, { key: { path: '/new.key' } }).text).toBe('users:\n- name: u\n  user:\n    client-key: /new.key\n    token: abc\n');
  });

  it('without a user name, changes the users with a client certificate only: a merged token user keeps every byte', () => {
    const merged = 'users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: T0xE\n    client-key-data: S0VZ\n- name: prod\n  user:\n    token:   "t0k3n"   # prod\n';
    const r = setKubeconfigUserCredentials(merged, { certificate: { data: 'NEW' } });
    expect(r.text).toBe(merged.replace('client-certificate-data: T0xE', `client-certificate-data: ${Buffer.from('NEW').toString('base64')}`));
  });
});
