/**
 * lab/real/kubeconfig.ts: the operator's copy of a node's kubeconfig. kubeadm's embed their PEM; the
 * binary layout's name node-absolute files, which must be read from the node's folder, never from the
 * machine's own /etc; the copy holds a private key, so it is 0600.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeFsAt, readNodeKubeconfig, writeEmbeddedKubeconfig } from '../../lab/real/kubeconfig.js';

describe('a real lab node\'s kubeconfig, read from the machine', () => {
  const root = mkdtempSync(join(tmpdir(), 'kcarun-kubeconfig-'));
  const nodeFs = nodeFsAt(join(root, 'fs'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const put = (nodePath: string, text: string): void => {
    mkdirSync(join(root, 'fs', nodePath, '..'), { recursive: true });
    writeFileSync(nodeFs(nodePath), text);
  };
  const kubeconfig = (cluster: Record<string, string>, user: Record<string, string>): string =>
    `apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: ${JSON.stringify({ server: 'https://10.233.0.11:6443', ...cluster })}\n` +
    `users:\n- name: admin\n  user: ${JSON.stringify(user)}\ncontexts:\n- name: c\n  context: { cluster: k, user: admin }\ncurrent-context: c\n`;

  it('resolves node-absolute and relative file references inside the node\'s folder', () => {
    put('/etc/kubernetes/ssl/ca.pem', 'CA PEM');
    put('/etc/kubernetes/ssl/admin.pem', 'CERT PEM');
    put('/etc/kubernetes/ssl/admin-key.pem', 'KEY PEM');
    put('/etc/kubernetes/admin.kubeconfig', kubeconfig({ 'certificate-authority': '/etc/kubernetes/ssl/ca.pem' }, { 'client-certificate': 'ssl/admin.pem', 'client-key': '/etc/kubernetes/ssl/admin-key.pem' }));
    const c = readNodeKubeconfig(nodeFs, '/etc/kubernetes/admin.kubeconfig');
    expect([c.ca.toString(), c.cert.toString(), c.key.toString()]).toEqual(['CA PEM', 'CERT PEM', 'KEY PEM']);
  });

  it('reads embedded data as kubeadm writes it, and names the file and field that is missing', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    put('/etc/kubernetes/admin.conf', kubeconfig({ 'certificate-authority-data': b64('CA') }, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') }));
    expect(readNodeKubeconfig(nodeFs, '/etc/kubernetes/admin.conf').key.toString()).toBe('KEY');
    put('/etc/kubernetes/broken.conf', kubeconfig({ 'certificate-authority-data': b64('CA') }, { 'client-certificate-data': b64('CERT') }));
    expect(() => readNodeKubeconfig(nodeFs, '/etc/kubernetes/broken.conf')).toThrow(/broken\.conf: neither client-key-data nor client-key/);
  });

  it('writes a self-contained copy, mode 0600, with the server kept', () => {
    const out = writeEmbeddedKubeconfig(nodeFs, '/etc/kubernetes/admin.kubeconfig', join(root, 'copy', 'admin.kubeconfig'));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const doc = parse(readFileSync(out, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
    expect(doc.clusters[0]!.cluster).toEqual({ server: 'https://10.233.0.11:6443', 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') });
    expect(Object.keys(doc.users[0]!.user).sort()).toEqual(['client-certificate-data', 'client-key-data']);
  });
});
