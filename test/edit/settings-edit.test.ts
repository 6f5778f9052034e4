import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envVariableName, getEnvFileSetting, removeEnvFileSetting, setEnvFileSetting } from '../../src/edit/env-file.js';
import { etcdConfigKey, getEtcdConfigSetting, removeEtcdConfigSetting, setEtcdConfigSetting } from '../../src/edit/etcd-config.js';
import { getKubeletConfigSetting, kubeletConfigField, removeKubeletConfigSetting, setKubeletConfigSetting } from '../../src/edit/kubelet-config.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** Lines that differ, in order: the editors promise a one-line change for a value replacement. */
function diffLines(before: string, after: string): Array<[string | undefined, string | undefined]> {
  const a = before.split('\n');
  const b = after.split('\n');
  const out: Array<[string | undefined, string | undefined]> = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push([a[i], b[i]]);
  return out;
}

describe('etcd YAML config file settings', () => {
  it('maps flag spellings to the keys etcd reads (server/embed/config.go), and passes paths through', () => {
    expect(etcdConfigKey('trusted-ca-file')).toBe('client-transport-security.trusted-ca-file');
    expect(etcdConfigKey('--peer-trusted-ca-file')).toBe('peer-transport-security.trusted-ca-file');
    expect(etcdConfigKey('cert-file')).toBe('client-transport-security.cert-file');
    expect(etcdConfigKey('peer-key-file')).toBe('peer-transport-security.key-file');
    expect(etcdConfigKey('peer-client-cert-auth')).toBe('peer-transport-security.client-cert-auth');
    expect(etcdConfigKey('client-cert-file')).toBe('client-transport-security.client-cert-file');
    expect(etcdConfigKey('peer-transport-security.trusted-ca-file')).toBe('peer-transport-security.trusted-ca-file');
    expect(etcdConfigKey('data-dir')).toBe('data-dir');
  });

  it('replaces only the value, keeping its quoting, comments and every other byte; idempotent', () => {
    const text = fixture('etcd-config.yml');
    const client = setEtcdConfigSetting(text, { flag: 'trusted-ca-file', value: '/etc/etcd/pki/ca-bundle.crt' });
    expect(diffLines(text, client.text)).toEqual([['  trusted-ca-file: "/etc/etcd/pki/ca.crt"', '  trusted-ca-file: "/etc/etcd/pki/ca-bundle.crt"']]);
    const peer = setEtcdConfigSetting(client.text, { flag: 'peer-transport-security.trusted-ca-file', value: '/etc/etcd/pki/ca-bundle.crt' });
    expect(diffLines(client.text, peer.text)).toEqual([["  trusted-ca-file: '/etc/etcd/pki/ca.crt'", "  trusted-ca-file: '/etc/etcd/pki/ca-bundle.crt'"]]);
    const cert = setEtcdConfigSetting(peer.text, { flag: '--cert-file', value: '/etc/etcd/pki/server-new.crt' });
    expect(diffLines(peer.text, cert.text)).toEqual([['  cert-file: /etc/etcd/pki/server.crt   # serving certificate', '  cert-file: /etc/etcd/pki/server-new.crt   # serving certificate']]);
    expect(setEtcdConfigSetting(cert.text, { flag: 'trusted-ca-file', value: '/etc/etcd/pki/ca-bundle.crt' })).toEqual({ text: cert.text, changed: false });
    expect(getEtcdConfigSetting(cert.text, 'peer-trusted-ca-file')).toBe('/etc/etcd/pki/ca-bundle.crt');
    // Nothing was written at the top level, where etcd would ignore it.
    expect(Object.keys(parse(cert.text) as object)).not.toContain('trusted-ca-file');
  });

  it('keeps booleans boolean, adds a missing key under its section, removes it again', () => {
    const text = fixture('etcd-config.yml');
    const off = setEtcdConfigSetting(text, { flag: 'peer-client-cert-auth', value: 'false' });
    expect((parse(off.text) as Record<string, Record<string, unknown>>)['peer-transport-security']!['client-cert-auth']).toBe(false);
    const added = setEtcdConfigSetting(text, { flag: 'client-cert-file', value: '/etc/etcd/pki/client.crt' });
    expect((parse(added.text) as Record<string, Record<string, unknown>>)['client-transport-security']!['client-cert-file']).toBe('/etc/etcd/pki/client.crt');
    const removed = removeEtcdConfigSetting(added.text, { flag: 'client-cert-file' });
    expect(removed.changed).toBe(true);
    expect(getEtcdConfigSetting(removed.text, 'client-cert-file')).toBeUndefined();
    expect(removeEtcdConfigSetting(text, { flag: 'client-cert-file' })).toEqual({ text, changed: false });
  });
});

describe('environment file settings', () => {
  it('names variables as etcd does: ETCD_ + flag in upper snake case, or the variable as given', () => {
    expect(envVariableName({ flag: 'trusted-ca-file' })).toBe('ETCD_TRUSTED_CA_FILE');
    expect(envVariableName({ flag: '--peer-trusted-ca-file' })).toBe('ETCD_PEER_TRUSTED_CA_FILE');
    expect(envVariableName({ flag: 'ETCD_CERT_FILE' })).toBe('ETCD_CERT_FILE');
    expect(envVariableName({ flag: 'ca-file', envPrefix: 'CALICO_' })).toBe('CALICO_CA_FILE');
    expect(() => envVariableName({ flag: 'a b' })).toThrow(/neither an environment variable name nor a flag/);
  });

  it('replaces values keeping double, single or no quotes and the export keyword; idempotent', () => {
    const text = fixture('etcd.env');
    const a = setEnvFileSetting(text, { flag: 'trusted-ca-file', value: '/etc/ssl/etcd/ssl/ca-bundle.pem' });
    expect(diffLines(text, a.text)).toEqual([['ETCD_TRUSTED_CA_FILE="/etc/ssl/etcd/ssl/ca.pem"', 'ETCD_TRUSTED_CA_FILE="/etc/ssl/etcd/ssl/ca-bundle.pem"']]);
    const b = setEnvFileSetting(a.text, { flag: 'peer-trusted-ca-file', value: '/etc/ssl/etcd/ssl/ca-bundle.pem' });
    expect(diffLines(a.text, b.text)).toEqual([["ETCD_PEER_TRUSTED_CA_FILE='/etc/ssl/etcd/ssl/ca.pem'", "ETCD_PEER_TRUSTED_CA_FILE='/etc/ssl/etcd/ssl/ca-bundle.pem'"]]);
    const c = setEnvFileSetting(b.text, { flag: 'ETCD_PEER_KEY_FILE', value: '/etc/ssl/etcd/ssl/new-key.pem' });
    expect(diffLines(b.text, c.text)).toEqual([['export ETCD_PEER_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem', 'export ETCD_PEER_KEY_FILE=/etc/ssl/etcd/ssl/new-key.pem']]);
    const d = setEnvFileSetting(c.text, { flag: 'cert-file', value: '/etc/ssl/etcd/ssl/member-node1.pem' });
    expect(d).toEqual({ text: c.text, changed: false });
    expect(getEnvFileSetting(d.text, { flag: 'trusted-ca-file' })).toBe('/etc/ssl/etcd/ssl/ca-bundle.pem');
  });

  it('appends a missing variable (quoted when it must be) and removes it to the original bytes', async () => {
    const text = fixture('etcd.env');
    const added = setEnvFileSetting(text, { flag: 'client-cert-file', value: '/opt/etcd certs/client.pem' });
    expect(added.text).toBe(`${text}ETCD_CLIENT_CERT_FILE="/opt/etcd certs/client.pem"\n`);
    expect(removeEnvFileSetting(added.text, { flag: 'client-cert-file' })).toEqual({ text, changed: true });
    expect(() => setEnvFileSetting(text, { flag: 'name', value: 'a\nb' })).toThrow(/line break/);
    // What a shell that sources the file (as /etc/default/etcd is) reads back.
    const dir = await mkdtemp(join(tmpdir(), 'kcarun-env-'));
    try {
      await writeFile(join(dir, 'etcd.env'), setEnvFileSetting(added.text, { flag: 'trusted-ca-file', value: 'a "b" $c' }).text);
      const out = execFileSync('sh', ['-c', '. ./etcd.env; printf "%s|%s|%s" "$ETCD_CLIENT_CERT_FILE" "$ETCD_TRUSTED_CA_FILE" "$ETCD_PEER_TRUSTED_CA_FILE"'], { cwd: dir, env: {} }).toString();
      expect(out).toBe('/opt/etcd certs/client.pem|a "b" $c|/etc/ssl/etcd/ssl/ca.pem');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('KubeletConfiguration settings', () => {
  it('maps kubelet flags to fields and refuses a flag it cannot map, naming the way out', () => {
    expect(kubeletConfigField('client-ca-file')).toBe('authentication.x509.clientCAFile');
    expect(kubeletConfigField('--tls-cert-file')).toBe('tlsCertFile');
    expect(kubeletConfigField('authentication.x509.clientCAFile')).toBe('authentication.x509.clientCAFile');
    expect(() => kubeletConfigField('made-up-flag')).toThrow(/give the field path instead/);
  });

  it('sets clientCAFile by flag name touching one value (comment kept), adds and removes a field', () => {
    const text = fixture('kubelet-config.yaml');
    const r = setKubeletConfigSetting(text, { flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' });
    expect(diffLines(text, r.text)).toEqual([
      ['    clientCAFile: /etc/kubernetes/pki/ca.crt # rotated to the bundle in phase A', '    clientCAFile: /etc/kubernetes/pki/ca-bundle.crt # rotated to the bundle in phase A'],
    ]);
    expect(setKubeletConfigSetting(r.text, { flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' }).changed).toBe(false);
    const off = setKubeletConfigSetting(text, { flag: 'rotate-certificates', value: 'false' });
    expect((parse(off.text) as { rotateCertificates: unknown }).rotateCertificates).toBe(false);
    const added = setKubeletConfigSetting(text, { flag: 'tls-cert-file', value: '/var/lib/kubelet/pki/kubelet.crt' });
    expect(getKubeletConfigSetting(added.text, 'tlsCertFile')).toBe('/var/lib/kubelet/pki/kubelet.crt');
    expect(getKubeletConfigSetting(removeKubeletConfigSetting(added.text, { flag: 'tls-cert-file' }).text, 'tls-cert-file')).toBeUndefined();
  });

  it('edits a JSON KubeletConfiguration too', () => {
    const json = JSON.stringify({ kind: 'KubeletConfiguration', authentication: { x509: { clientCAFile: '/a' } } }, null, 2) + '\n';
    const r = setKubeletConfigSetting(json, { flag: 'client-ca-file', value: '/b' });
    expect((JSON.parse(r.text) as { authentication: { x509: { clientCAFile: string } } }).authentication.x509.clientCAFile).toBe('/b');
  });
});
