import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsExpiry } from '../../src/commands/certs-expiry.js';
import { certsInspect } from '../../src/commands/certs-inspect.js';
import { KcarunError } from '../../src/core/errors.js';
import { createCa } from '../../src/pki/ca.js';
import { issueFromProfile } from '../../src/pki/profiles.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';
import { makeTempDir } from '../helpers/task-context.js';
import { openssl, opensslCa, opensslLeaf } from './openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
let good: string;
let expiredDir: string;
let clientKeyB64: string;

/** Collects what a command prints. */
function capture(): { io: { stdout: (s: string) => void }; text: () => string } {
  const chunks: string[] = [];
  return { io: { stdout: (s) => chunks.push(s) }, text: () => chunks.join('') };
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-cmd-'));
  good = join(dir, 'good/etc/kubernetes');
  await mkdir(join(good, 'pki/etcd'), { recursive: true });
  const ca = await opensslCa(join(good, 'pki'), 'ca', '/CN=kubernetes');
  const etcdCa = await opensslCa(join(good, 'pki/etcd'), 'ca', '/CN=etcd-ca', 'ec');
  await opensslLeaf(join(good, 'pki'), 'apiserver', ca, { subj: '/CN=kube-apiserver', sans: ['DNS:kubernetes', 'IP:10.96.0.1'], days: 200 });
  await opensslLeaf(join(good, 'pki/etcd'), 'server', etcdCa, { subj: '/CN=cp1', alg: 'ec', sans: ['DNS:cp1', 'IP:127.0.0.1'], days: 100 });
  const admin = await opensslLeaf(join(good, 'pki'), 'admin-client', ca, { subj: '/O=system:masters/CN=kubernetes-admin', extKeyUsage: 'clientAuth', days: 50 });
  const b64 = async (p: string) => Buffer.from(await readFile(p)).toString('base64');
  clientKeyB64 = await b64(admin.key);
  await writeFile(
    join(good, 'admin.conf'),
    [
      'apiVersion: v1',
      'clusters:',
      '- cluster:',
      `    certificate-authority-data: ${await b64(ca.cert)}`,
      '    server: https://127.0.0.1:6443',
      '  name: kubernetes',
      'users:',
      '- name: kubernetes-admin',
      '  user:',
      `    client-certificate-data: ${await b64(admin.cert)}`,
      `    client-key-data: ${clientKeyB64}`,
      '',
    ].join('\n'),
  );
  expiredDir = join(dir, 'expired');
  await mkdir(expiredDir);
  const longAgo = new Date(Date.now() - 400 * 86_400_000);
  const oldCa = await createCa({ commonName: 'old', now: longAgo, keySpec: { type: 'ecdsa', curve: 'P-256' } });
  const { certificate } = await issueFromProfile('scheduler', {}, oldCa, { now: longAgo, validityDays: 365 });
  await writeFile(join(expiredDir, 'scheduler.crt'), certificate.pem);
});
afterAll(async () => cleanup());

describe('certs inspect', () => {
  it('lists every certificate of a directory, kubeconfigs included, in a table', async () => {
    const out = capture();
    expect(await certsInspect({ target: good, output: 'table' }, out.io)).toBe(0);
    const all = out.text().trim().split('\n');
    // After the table: the kubeadm join hash of each CA (two ca.crt + the kubeconfig's CA data).
    const lines = all.filter((l) => !l.startsWith('kubeadm join hash of '));
    expect(all.filter((l) => /^kubeadm join hash of .* --discovery-token-ca-cert-hash sha256:[0-9a-f]{64}$/.test(l))).toHaveLength(3);
    expect(lines[0]).toMatch(/^PATH\s+SUBJECT\s+ISSUER\s+SANS\s+NOT AFTER\s+DAYS LEFT\s+TYPE\s+KEY$/);
    expect(lines).toHaveLength(1 + 7);
    const apiserver = lines.find((l) => l.startsWith(join(good, 'pki/apiserver.crt')));
    expect(apiserver).toMatch(/CN=kube-apiserver\s+CN=kubernetes\s+DNS:kubernetes,IP:10\.96\.0\.1\s+\S+\s+(199|200)\s+leaf\s+match$/);
    expect(lines.some((l) => l.startsWith(`${join(good, 'admin.conf')} (client-certificate-data)`) && l.includes('O=system:masters, CN=kubernetes-admin'))).toBe(true);
    expect(lines.filter((l) => / CA\s+(match|-)$/.test(l))).toHaveLength(3); // two ca.crt + the kubeconfig's CA data
    expect(out.text()).not.toContain('.key');
  });

  it('--output json gives the same certificates with the CA each chains to', async () => {
    const out = capture();
    await certsInspect({ target: good, output: 'json' }, out.io);
    const doc = JSON.parse(out.text()) as { certificates: Array<{ path: string; source: string; chainsTo: string | null; daysLeft: number; notAfter: string }> };
    expect(doc.certificates).toHaveLength(7);
    const server = doc.certificates.find((c) => c.path.endsWith('etcd/server.crt'));
    expect(server?.chainsTo).toBe('CN=etcd-ca');
    const enddate = (await openssl(['x509', '-in', join(good, 'pki/etcd/server.crt'), '-noout', '-enddate'])).trim().replace('notAfter=', '');
    expect(Date.parse(server!.notAfter)).toBe(Date.parse(enddate));
  });

  it('exits 1 when a certificate has expired, and rejects a missing target', async () => {
    const out = capture();
    expect(await certsInspect({ target: join(expiredDir, 'scheduler.crt'), output: 'table' }, out.io)).toBe(1);
    expect(out.text()).toMatch(/CN=system:kube-scheduler\s+CN=old\s+-\s+\S+\s+-3[456]\s+leaf\s+-\n/);
    const err = await certsInspect({ target: join(dir, 'nope'), output: 'table' }, capture().io).catch((e: unknown) => e);
    expect((err as KcarunError).code).toBe('E_USAGE');
  });
});

describe('certs inspect key check', () => {
  it('reports and exits 1 for a certificate whose key beside it does not match', async () => {
    const mixed = join(dir, 'mixed');
    await mkdir(mixed);
    const ca = await opensslCa(mixed, 'ca', '/CN=mixed-ca');
    await opensslLeaf(mixed, 'one', ca, { subj: '/CN=one' });
    await opensslLeaf(mixed, 'two', ca, { subj: '/CN=two' });
    await writeFile(join(mixed, 'one.key'), await readFile(join(mixed, 'two.key')));
    const out = capture();
    expect(await certsInspect({ target: mixed, output: 'json' }, out.io)).toBe(1);
    const doc = JSON.parse(out.text()) as { certificates: Array<{ subject: string; keyMatch: boolean | null }> };
    expect(doc.certificates.map((c) => [c.subject, c.keyMatch])).toEqual([
      ['CN=mixed-ca', true],
      ['CN=one', false],
      ['CN=two', true],
    ]);
    expect(out.text()).not.toContain('PRIVATE KEY');
  });
});

/** A host that cannot be reached: what an SSH transport does when the connection fails. */
const unreachable: Transport = {
  host: 'cp9',
  exec: () => Promise.reject(new KcarunError('E_UNREACHABLE', 'connect ECONNREFUSED 127.0.0.9:22', { host: 'cp9' })),
  readFile: () => Promise.reject(new Error('unreachable')),
  writeFile: () => Promise.reject(new Error('unreachable')),
  stat: () => Promise.reject(new Error('unreachable')),
  directFileAccess: () => true,
  close: async () => {},
};

describe('certs expiry', () => {
  it('reports every host, exits 0 above the threshold and writes Prometheus textfile metrics', async () => {
    const prom = join(dir, 'kcarun.prom');
    const out = capture();
    const hosts = [
      { host: 'cp1', transport: new LocalTransport() },
      { host: 'cp2', transport: new LocalTransport() },
    ];
    expect(await certsExpiry({ hosts, paths: [good], warnDays: 30, output: 'table', prometheusFile: prom }, out.io)).toBe(0);
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1 + 14);
    expect(lines[1]).toMatch(/^cp1\s+.*admin\.conf \(client-certificate-data\)\s+O=system:masters, CN=kubernetes-admin\s+\S+\s+(49|50)\s+leaf$/);
    const metrics = await readFile(prom, 'utf8');
    const enddate = (await openssl(['x509', '-in', join(good, 'pki/apiserver.crt'), '-noout', '-enddate'])).trim().replace('notAfter=', '');
    expect(metrics).toContain(
      `kcarun_cert_expiry_timestamp_seconds{host="cp2",path="${join(good, 'pki/apiserver.crt')}",subject="CN=kube-apiserver"} ${Date.parse(enddate) / 1000}\n`,
    );
    expect(metrics).toContain('# TYPE kcarun_cert_expiry_timestamp_seconds gauge\n');
    expect(metrics).toContain('kcarun_cert_expiry_scan_success{host="cp1"} 1\n');
    expect(metrics.match(/^kcarun_cert_expiry_timestamp_seconds/gm)).toHaveLength(14);
  });

  it('escapes Prometheus label values: the format\'s three escapes, and other control and bidi characters made visible', async () => {
    // A host controls its file names and certificate subjects: nothing in them may reorder what a
    // dashboard shows (U+202E, U+2066-2069) or hide text (C0/C1 controls). (A newline in a file name
    // is not tried: the scan lists files one a line.)
    const hostile = join(dir, 'hostile', 'a\u202eb\x07cd"e\\f\u2067g\x9bh\ti');
    await mkdir(hostile, { recursive: true });
    const ca = await createCa({ commonName: 'ca \u202e"\\\x1b[31m\u2066x\u2069\nok', keySpec: { type: 'ecdsa', curve: 'P-256' } });
    await writeFile(join(hostile, 'ca.crt'), ca.certificate.pem);
    const prom = join(dir, 'hostile.prom');
    await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [hostile], output: 'json', prometheusFile: prom }, capture().io);
    const metrics = await readFile(prom, 'utf8');
    const line = metrics.split('\n').find((l) => l.startsWith('kcarun_cert_expiry_timestamp_seconds{'))!;
    const escapedDir = join(dir, 'hostile').replace(/\\/g, '\\\\') + '/a<U+202E>b<U+0007>cd\\"e\\\\f<U+2067>g<U+009B>h<U+0009>i';
    expect(line).toContain(`path="${escapedDir}/ca.crt"`);
    expect(line).toMatch(/subject="CN=ca <U\+202E>\\"\\\\<U\+001B>\[31m<U\+2066>x<U\+2069>\\nok"/);
    // Every sample line parses by the exposition format's grammar (only \\, \" and \n escapes).
    for (const l of metrics.trimEnd().split('\n').filter((x) => !x.startsWith('#'))) {
      expect(l).toMatch(/^[a-z_]+\{(?:[a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)+\} \d+$/);
    }
    expect(metrics).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
  });

  it('exits 1 when anything is under --warn-days, and says which', async () => {
    const out = capture();
    expect(await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [good], warnDays: 60, output: 'json' }, out.io)).toBe(1);
    const doc = JSON.parse(out.text()) as { certificates: Array<{ subject: string; warn: boolean }> };
    expect(doc.certificates.filter((c) => c.warn).map((c) => c.subject)).toEqual(['O=system:masters, CN=kubernetes-admin', 'O=system:masters, CN=kubernetes-admin']);
  });

  it('exits 1 and reports an unreachable host without hiding the others', async () => {
    const prom = join(dir, 'unreachable.prom');
    const out = capture();
    const code = await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }, { host: 'cp9', transport: unreachable }], paths: [good], output: 'table', prometheusFile: prom }, out.io);
    expect(code).toBe(1);
    expect(out.text()).toContain('error: cp9: connect ECONNREFUSED 127.0.0.9:22');
    expect(out.text().split('\n').filter((l) => l.startsWith('cp1 '))).toHaveLength(7);
    expect(await readFile(prom, 'utf8')).toContain('kcarun_cert_expiry_scan_success{host="cp9"} 0\n');
  });

  it('exits 1 when it found nothing: a --path with no certificate on any host (a typo), or an empty report', async () => {
    const out = capture();
    const typo = join(dir, 'no-such.pem');
    expect(await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [good, typo], output: 'json' }, out.io)).toBe(1);
    const doc = JSON.parse(out.text()) as { certificates: unknown[]; errors: Array<{ path?: string; message: string }> };
    expect(doc.certificates.length).toBeGreaterThan(0);
    expect(doc.errors).toEqual([{ host: '(every host)', path: typo, message: 'no certificate found there on any host' }]);
    const empty = capture();
    expect(await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [typo], output: 'table' }, empty.io)).toBe(1);
    expect(empty.text()).toContain(`error: (every host):${typo}: no certificate found there on any host`);
  });

  it('never prints the kubeconfig client key', async () => {
    const out = capture();
    await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [good], output: 'json' }, out.io);
    await certsInspect({ target: good, output: 'json' }, out.io);
    expect(out.text()).not.toContain(clientKeyB64.slice(0, 40));
    expect(out.text()).not.toContain('PRIVATE KEY');
  });
});
