import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { setKubeconfigClusterCA, setKubeconfigUserCredentials } from '../../src/edit/kubeconfig.js';
import { getManifestFlag, removeManifestFlag, setManifestFlag } from '../../src/edit/manifest-flag.js';
import { regexReplace, replaceLine } from '../../src/edit/text-replace.js';
import { getUnitFlag, removeUnitFlag, setUnitFlag } from '../../src/edit/unit-file.js';
import { unifiedDiff } from '../../src/edit/unified-diff.js';
import { deletePath, getPath, setPath } from '../../src/edit/yaml-path.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** Lines that differ between two texts (as `-old` / `+new`), order-insensitive. */
function changedLines(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  return [...a.filter((l) => !b.includes(l)).map((l) => `-${l}`), ...b.filter((l) => !a.includes(l)).map((l) => `+${l}`)];
}

describe('static pod manifest flags', () => {
  it('replaces --flag=value in place, touching only that line, and is idempotent', () => {
    const text = fixture('etcd.yaml');
    const r = setManifestFlag(text, { flag: 'trusted-ca-file', value: '/etc/kubernetes/pki/etcd/ca-bundle.crt' });
    expect(r.changed).toBe(true);
    expect(changedLines(text, r.text)).toEqual([
      '-    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
      '+    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt',
    ]);
    expect(r.text.split('\n')).toHaveLength(text.split('\n').length);
    expect(getManifestFlag(r.text, { flag: '--trusted-ca-file' })).toBe('/etc/kubernetes/pki/etcd/ca-bundle.crt');
    // --peer-trusted-ca-file is another flag and stays.
    expect(getManifestFlag(r.text, { flag: 'peer-trusted-ca-file' })).toBe('/etc/kubernetes/pki/etcd/ca.crt');
    expect(setManifestFlag(r.text, { flag: 'trusted-ca-file', value: '/etc/kubernetes/pki/etcd/ca-bundle.crt' })).toEqual({ text: r.text, changed: false });
  });

  it('appends a missing flag and removes it again to the original text', () => {
    const text = fixture('kube-apiserver.yaml');
    const added = setManifestFlag(text, { container: 'kube-apiserver', flag: '--kubelet-certificate-authority', value: '/etc/kubernetes/pki/ca-bundle.crt' });
    expect(changedLines(text, added.text)).toEqual(['+    - --kubelet-certificate-authority=/etc/kubernetes/pki/ca-bundle.crt']);
    const cmd = (parse(added.text) as { spec: { containers: Array<{ command: string[] }> } }).spec.containers[0]!.command;
    expect(cmd[cmd.length - 1]).toBe('--kubelet-certificate-authority=/etc/kubernetes/pki/ca-bundle.crt');
    const removed = removeManifestFlag(added.text, { flag: 'kubelet-certificate-authority' });
    expect(removed).toEqual({ text, changed: true });
    expect(removeManifestFlag(text, { flag: 'kubelet-certificate-authority' })).toEqual({ text, changed: false });
  });

  it('handles the two-item --flag value form and keeps comments', () => {
    const text = `# managed by hand\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd # the member\n    command:\n    - etcd\n    - --trusted-ca-file\n    - /old/ca.pem\n    - --name=cp1\n`;
    const r = setManifestFlag(text, { flag: 'trusted-ca-file', value: '/new/bundle.pem' });
    expect(r.text).toBe(text.replace('/old/ca.pem', '/new/bundle.pem'));
    const removed = removeManifestFlag(r.text, { flag: 'trusted-ca-file' });
    expect(removed.text).toBe(`# managed by hand\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd # the member\n    command:\n    - etcd\n    - --name=cp1\n`);
  });

  it('refuses a file that is not a pod manifest and names a missing container', () => {
    expect(() => setManifestFlag('a: 1\n', { flag: 'x', value: 'y' })).toThrow(/spec.containers/);
    expect(() => setManifestFlag(fixture('etcd.yaml'), { container: 'nope', flag: 'x', value: 'y' })).toThrow(/no container named nope/);
  });
});

describe('systemd unit ExecStart flags', () => {
  const unit = fixture('etcd.service');

  it('replaces --flag=value and the two-word --flag value form on continuation lines', () => {
    const r = setUnitFlag(unit, { flag: 'trusted-ca-file', value: '/etc/etcd/ssl/ca-etcd-bundle.pem' });
    expect(changedLines(unit, r.text)).toEqual([
      '-  --trusted-ca-file=/etc/etcd/ssl/ca-etcd.pem \\',
      '+  --trusted-ca-file=/etc/etcd/ssl/ca-etcd-bundle.pem \\',
    ]);
    const r2 = setUnitFlag(r.text, { flag: '--peer-trusted-ca-file', value: '/etc/etcd/ssl/ca-etcd-bundle.pem' });
    expect(changedLines(r.text, r2.text)).toEqual([
      '-  --peer-trusted-ca-file /etc/etcd/ssl/ca-etcd.pem \\',
      '+  --peer-trusted-ca-file /etc/etcd/ssl/ca-etcd-bundle.pem \\',
    ]);
    expect(getUnitFlag(r2.text, { flag: 'peer-trusted-ca-file' })).toBe('/etc/etcd/ssl/ca-etcd-bundle.pem');
    expect(setUnitFlag(r2.text, { flag: 'trusted-ca-file', value: '/etc/etcd/ssl/ca-etcd-bundle.pem' }).changed).toBe(false);
  });

  it('appends a flag as a new continuation line and removes flags without leaving empty lines', () => {
    const added = setUnitFlag(unit, { flag: 'client-cert-auth', value: 'true' });
    expect(added.text).toContain('  --data-dir=/var/lib/etcd \\\n  --client-cert-auth=true\nRestart=on-failure');
    expect(removeUnitFlag(added.text, { flag: 'client-cert-auth' })).toEqual({ text: unit, changed: true });
    // Removing a middle flag, the two-word form, and the last flag.
    const noName = removeUnitFlag(unit, { flag: 'name' }).text;
    expect(noName).toContain('ExecStart=/usr/local/bin/etcd \\\n  --cert-file=');
    const noPeer = removeUnitFlag(unit, { flag: 'peer-trusted-ca-file' }).text;
    expect(changedLines(unit, noPeer)).toEqual(['-  --peer-trusted-ca-file /etc/etcd/ssl/ca-etcd.pem \\']);
    const noLast = removeUnitFlag(unit, { flag: 'data-dir' }).text;
    expect(noLast).toContain('  --initial-cluster-state=new\nRestart=on-failure');
    expect(removeUnitFlag(unit, { flag: 'absent' })).toEqual({ text: unit, changed: false });
  });

  it('edits a one-line ExecStart and the last one after a drop-in reset', () => {
    const oneLine = '[Service]\nExecStart=\nExecStart=/usr/bin/kube-apiserver --client-ca-file=/a.pem --v=2\n';
    const r = setUnitFlag(oneLine, { flag: 'client-ca-file', value: '/b.pem' });
    expect(r.text).toBe('[Service]\nExecStart=\nExecStart=/usr/bin/kube-apiserver --client-ca-file=/b.pem --v=2\n');
    expect(setUnitFlag(oneLine, { flag: 'etcd-cafile', value: '/e.pem' }).text).toBe(
      '[Service]\nExecStart=\nExecStart=/usr/bin/kube-apiserver --client-ca-file=/a.pem --v=2 --etcd-cafile=/e.pem\n',
    );
    expect(() => setUnitFlag('[Service]\nType=simple\n', { flag: 'x', value: 'y' })).toThrow(/no ExecStart/);
  });
});

describe('YAML/JSON paths', () => {
  it('sets a nested value keeping the comment on the line and other lines byte for byte', () => {
    const text = fixture('kubelet-config.yaml');
    const r = setPath(text, 'authentication.x509.clientCAFile', '/etc/kubernetes/pki/ca-bundle.crt');
    expect(changedLines(text, r.text)).toEqual([
      '-    clientCAFile: /etc/kubernetes/pki/ca.crt # rotated to the bundle in phase A',
      '+    clientCAFile: /etc/kubernetes/pki/ca-bundle.crt # rotated to the bundle in phase A',
    ]);
    expect(setPath(r.text, 'authentication.x509.clientCAFile', '/etc/kubernetes/pki/ca-bundle.crt')).toEqual({ text: r.text, changed: false });
    expect(getPath(r.text, 'clusterDNS[0]')).toBe('10.96.0.10');
  });

  it('selects list items by name, creates missing maps, deletes', () => {
    const text = fixture('admin.conf');
    const r = setPath(text, 'clusters[name=kubernetes].cluster.server', 'https://10.0.0.100:6443');
    expect(changedLines(text, r.text)).toEqual(['-    server: https://10.0.0.11:6443', '+    server: https://10.0.0.100:6443']);
    const created = setPath(text, 'preferences.colors', true);
    expect(getPath(created.text, 'preferences.colors')).toBe(true);
    const del = deletePath(text, 'users[name=kubernetes-admin].user.client-key-data');
    expect(del.changed).toBe(true);
    expect(del.text).not.toContain('client-key-data');
    expect(deletePath(del.text, 'users[name=kubernetes-admin].user.client-key-data')).toEqual({ text: del.text, changed: false });
    expect(() => setPath(text, 'clusters[name=nope].cluster.server', 'x')).toThrow(/no list item/);
  });

  it('edits JSON with its own indentation', () => {
    const json = '{\n    "cniVersion": "0.4.0",\n    "etcd": {\n        "ca": "/etc/etcd/ssl/ca-etcd.pem"\n    }\n}\n';
    const r = setPath(json, 'etcd.ca', '/etc/etcd/ssl/ca-etcd-bundle.pem');
    expect(r.text).toBe(json.replace('ca-etcd.pem', 'ca-etcd-bundle.pem'));
    expect(setPath(r.text, 'etcd.ca', '/etc/etcd/ssl/ca-etcd-bundle.pem').changed).toBe(false);
    expect(deletePath(r.text, 'etcd.ca').text).toBe('{\n    "cniVersion": "0.4.0",\n    "etcd": {}\n}\n');
  });
});

describe('kubeconfig CA and client credentials', () => {
  const newCa = '-----BEGIN CERTIFICATE-----\nNEWCA\n-----END CERTIFICATE-----\n';

  it('embeds a CA bundle as base64 and is idempotent', () => {
    const text = fixture('admin.conf');
    const r = setKubeconfigClusterCA(text, { ca: { data: newCa } });
    expect(r.changed).toBe(true);
    const doc = parse(r.text) as { clusters: Array<{ cluster: Record<string, string> }> };
    expect(Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString()).toBe(newCa);
    expect(changedLines(text, r.text)).toHaveLength(2);
    expect(setKubeconfigClusterCA(r.text, { ca: { data: newCa } })).toEqual({ text: r.text, changed: false });
  });

  it('switches between path and embedded forms, removing the other one', () => {
    const text = fixture('kubelet.conf');
    const embedded = setKubeconfigClusterCA(text, { cluster: 'default-cluster', ca: { data: newCa } });
    expect(embedded.text).not.toContain('certificate-authority:');
    expect(embedded.text).toContain('# kubelet.conf of a hand-installed node');
    expect(embedded.text).toContain('- name: default-cluster   # the only cluster');
    expect(changedLines(text, embedded.text)).toEqual([
      '-      certificate-authority: /etc/kubernetes/ssl/ca-kubernetes.pem',
      `+      certificate-authority-data: ${Buffer.from(newCa).toString('base64')}`,
    ]);
    const creds = setKubeconfigUserCredentials(text, {
      user: 'default-auth',
      certificate: { path: '/var/lib/kubelet/pki/kubelet-client-new.pem' },
      key: { path: '/var/lib/kubelet/pki/kubelet-client-new.pem' },
    });
    expect(changedLines(text, creds.text)).toEqual([
      '-      client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem',
      '-      client-key: /var/lib/kubelet/pki/kubelet-client-current.pem',
      '+      client-certificate: /var/lib/kubelet/pki/kubelet-client-new.pem',
      '+      client-key: /var/lib/kubelet/pki/kubelet-client-new.pem',
    ]);
    const admin = setKubeconfigUserCredentials(fixture('admin.conf'), { certificate: { data: 'CERT' }, key: { data: 'KEY' } });
    const u = (parse(admin.text) as { users: Array<{ user: Record<string, string> }> }).users[0]!.user;
    expect(Buffer.from(u['client-key-data']!, 'base64').toString()).toBe('KEY');
    expect(() => setKubeconfigClusterCA(text, { cluster: 'other', ca: { data: newCa } })).toThrow(/no cluster named other/);
  });
});

describe('regex and line replace', () => {
  it('replaces with groups and reports no change when already done', () => {
    const text = 'ETCD_CA=/etc/etcd/ssl/ca-etcd.pem\nOTHER=1\n';
    const r = regexReplace(text, { pattern: '^ETCD_CA=.*$', replacement: 'ETCD_CA=/etc/etcd/ssl/ca-etcd-bundle.pem' });
    expect(r.text).toBe('ETCD_CA=/etc/etcd/ssl/ca-etcd-bundle.pem\nOTHER=1\n');
    expect(regexReplace(r.text, { pattern: '^ETCD_CA=.*$', replacement: 'ETCD_CA=/etc/etcd/ssl/ca-etcd-bundle.pem' }).changed).toBe(false);
    expect(() => regexReplace(text, { pattern: '(', replacement: '' })).toThrow(/invalid regular expression/);
  });

  it('replaces the last matching line or appends it', () => {
    const text = 'a=1\nb=2\n';
    expect(replaceLine(text, { match: '^b=', line: 'b=3' })).toEqual({ text: 'a=1\nb=3\n', changed: true });
    expect(replaceLine(text, { match: '^c=', line: 'c=9' })).toEqual({ text: 'a=1\nb=2\nc=9\n', changed: true });
    expect(replaceLine('a=1\nb=2\nc=9\n', { match: '^c=', line: 'c=9' }).changed).toBe(false);
    expect(replaceLine(text, { match: '^c=', line: 'c=9', appendIfMissing: false }).changed).toBe(false);
    expect(replaceLine('', { match: '^c=', line: 'c=9' })).toEqual({ text: 'c=9\n', changed: true });
  });
});

describe('unified diff', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcarun-diff-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `patch` applies our diff to the old file and yields the new one. */
  async function roundTrip(before: string, after: string): Promise<string> {
    const diff = unifiedDiff(before, after, { oldLabel: 'f', newLabel: 'f' });
    await writeFile(join(dir, 'f'), before);
    await writeFile(join(dir, 'p.diff'), diff);
    execFileSync('patch', ['-s', '-p0', join(dir, 'f'), join(dir, 'p.diff')], { cwd: dir });
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe(after);
    return diff;
  }

  it('produces diffs that patch(1) applies, for manifest, unit and kubeconfig edits', async () => {
    const etcd = fixture('etcd.yaml');
    const d1 = await roundTrip(etcd, setManifestFlag(etcd, { flag: 'trusted-ca-file', value: '/b.crt' }).text);
    expect(d1).toContain('-    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n+    - --trusted-ca-file=/b.crt\n');
    expect(d1.match(/^@@/gm)).toHaveLength(1);
    const unit = fixture('etcd.service');
    let edited = setUnitFlag(unit, { flag: 'name', value: 'x' }).text;
    edited = removeUnitFlag(edited, { flag: 'data-dir' }).text;
    const d2 = await roundTrip(unit, edited);
    expect(d2.match(/^@@/gm)).toHaveLength(2);
    await roundTrip(fixture('admin.conf'), setKubeconfigClusterCA(fixture('admin.conf'), { ca: { data: 'x' } }).text);
    await roundTrip('a\nb', 'a\nc\n');
    await roundTrip('', 'new file\n');
    await roundTrip('old\n', '');
    expect(unifiedDiff('same\n', 'same\n')).toBe('');
  });

  it('matches diff -u on a simple change', async () => {
    const before = 'l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\n';
    const after = 'l1\nl2\nl3\nl4\nX5\nl6\nl7\nl8\nl9\nl10\n';
    await writeFile(join(dir, 'a'), before);
    await writeFile(join(dir, 'b'), after);
    let expected = '';
    try {
      execFileSync('diff', ['-u', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' });
    } catch (err) {
      expected = (err as { stdout: string }).stdout;
    }
    const ours = unifiedDiff(before, after, { oldLabel: 'x', newLabel: 'y' });
    expect(ours.split('\n').slice(2).join('\n')).toBe(expected.split('\n').slice(2).join('\n'));
  });
});
