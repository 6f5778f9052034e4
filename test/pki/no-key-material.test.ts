import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { certsExpiry } from '../../src/commands/certs-expiry.js';
import { certsInspect } from '../../src/commands/certs-inspect.js';
import { caBundleTask } from '../../src/tasks/ca-bundle/index.js';
import { caGenerateTask } from '../../src/tasks/ca-generate/index.js';
import { certCheckTask } from '../../src/tasks/cert-check/index.js';
import { certReissueTask } from '../../src/tasks/cert-reissue/index.js';
import type { TaskContext } from '../../src/tasks/define.js';
import { LocalTransport } from '../../src/transport/local.js';
import { makeHost, makeTaskContext, makeTempDir } from '../helpers/task-context.js';
import { openssl, opensslCa, opensslLeaf, opensslResult } from './openssl.js';

// Runs every PKI task and command once and greps everything they produced for key material.
let dir: string;
let cleanup: () => Promise<void>;
let pki: string;
const outputs: string[] = [];

async function ctx<P>(params: P, stateDir: string, host = 'cp1'): Promise<TaskContext<P>> {
  const c = await makeTaskContext({ params, stateDir, host: makeHost(host) });
  const log = (level: string) => (m: string) => outputs.push(`${level}: ${m}`);
  return { ...c, log: { info: log('info'), warn: log('warn'), debug: log('debug') } };
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-nokey-'));
  pki = join(dir, 'host/etc/kubernetes/pki');
  await mkdir(pki, { recursive: true });
  const ca = await opensslCa(pki, 'ca', '/CN=kubernetes');
  await opensslLeaf(pki, 'apiserver', ca, { subj: '/CN=kube-apiserver', sans: ['DNS:kubernetes', 'IP:10.96.0.1'], extKeyUsage: 'serverAuth' });
  await opensslLeaf(pki, 'apiserver-kubelet-client', ca, { subj: '/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client', extKeyUsage: 'clientAuth' });
});
afterAll(async () => cleanup());
afterEach(() => {
  delete process.env.KCARUN_CA_PASSPHRASE;
});

describe('key material', () => {
  it('appears in no task output, log, report, metric or non-key artifact; keys are 0600', async () => {
    const state = join(dir, 'state');
    const collect = (o: unknown) => outputs.push(JSON.stringify(o));
    collect(await caGenerateTask.dryRun!(await ctx({ name: 'kubernetes-ca', oldCa: { path: join(pki, 'ca.crt') } }, state)));
    collect(await caGenerateTask.run(await ctx({ name: 'kubernetes-ca', oldCa: { path: join(pki, 'ca.crt') } }, state)));
    collect(await caBundleTask.run(await ctx({ ca: 'kubernetes-ca', old: { path: join(pki, 'ca.crt') } }, state)));
    const set = { ca: 'kubernetes-ca', set: 'kubeadm-kubernetes' as const, pkiDir: pki };
    collect(await certReissueTask.dryRun!(await ctx(set, state)));
    collect(await certReissueTask.run(await ctx(set, state)));
    collect(await certReissueTask.run(await ctx({ ...set, keyPolicy: 'rotate' as const }, state, 'cp2')));
    collect(await certCheckTask.run(await ctx({ set: 'kubeadm-kubernetes' as const, pkiDir: pki, bundle: { artifact: 'ca/kubernetes-ca-bundle.crt' }, keyMatch: true }, state)));
    collect(await certCheckTask.run(await ctx({ paths: [join(pki, 'missing.crt')], bundle: { path: join(pki, 'ca.crt') } }, state)).catch((e: Error) => e.message));
    const io = { stdout: (s: string) => outputs.push(s) };
    await certsInspect({ target: state, output: 'json' }, io);
    await certsInspect({ target: state, output: 'table' }, io);
    const prom = join(dir, 'certs.prom');
    await certsExpiry({ hosts: [{ host: 'cp1', transport: new LocalTransport() }], paths: [state, pki], output: 'json', prometheusFile: prom }, io);
    outputs.push(await readFile(prom, 'utf8'));
    // A broken CA key must not be echoed in the error either.
    const badKey = '-----BEGIN PRIVATE KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9AgEAAkEA\n-----END PRIVATE KEY-----\n';
    const state2 = join(dir, 'state2');
    await caGenerateTask.run(await ctx({ name: 'x', commonName: 'x', keyType: 'ecdsa' as const }, state2));
    await writeFile(join(state2, 'artifacts/ca/x.key'), badKey);
    const err = (await certReissueTask.run(await ctx({ ca: 'x', paths: [join(pki, 'apiserver.crt')] }, state2)).catch((e: Error) => e)) as Error;
    expect(err.message).toBe('CA key ca/x.key is not a readable private key');
    outputs.push(err.message, String(err.cause), err.stack ?? '');

    const all = outputs.join('\n');
    expect(all).toContain('CN=kube-apiserver'); // the outputs were collected at all
    expect(all).toContain('kcarun_cert_expiry_timestamp_seconds');
    expect(all).not.toMatch(/PRIVATE KEY/);
    expect(all).not.toContain('MIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9AgEAAkEA');

    const files = await filesUnder(join(state, 'artifacts'));
    const keys = files.filter((f) => f.endsWith('.key'));
    expect(keys.map((k) => k.slice(state.length + 1)).sort()).toEqual([
      'artifacts/ca/kubernetes-ca.key',
      `artifacts/hosts/cp2/${pki.slice(1)}/apiserver-kubelet-client.key`,
      `artifacts/hosts/cp2/${pki.slice(1)}/apiserver.key`,
    ]);
    for (const k of keys) {
      expect((await stat(k)).mode & 0o777, k).toBe(0o600);
      expect(await readFile(k, 'utf8')).toMatch(/PRIVATE KEY/);
    }
    for (const f of files.filter((f) => !f.endsWith('.key'))) expect(await readFile(f, 'utf8'), f).not.toMatch(/PRIVATE KEY/);
  });

  it('KCARUN_CA_PASSPHRASE encrypts the stored CA key; tasks read it back, a wrong one fails clearly', async () => {
    const state = join(dir, 'state-pass');
    process.env.KCARUN_CA_PASSPHRASE = 'correct horse';
    await caGenerateTask.run(await ctx({ name: 'kubernetes-ca', oldCa: { path: join(pki, 'ca.crt') } }, state));
    const keyFile = join(state, 'artifacts/ca/kubernetes-ca.key');
    expect(await readFile(keyFile, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect((await opensslResult(['pkey', '-in', keyFile, '-passin', 'pass:wrong', '-noout'])).rc).not.toBe(0);
    const pub = await openssl(['pkey', '-in', keyFile, '-passin', 'env:KCARUN_CA_PASSPHRASE', '-pubout']);
    expect(pub).toBe(await openssl(['x509', '-in', join(state, 'artifacts/ca/kubernetes-ca.crt'), '-noout', '-pubkey']));
    const out = await certReissueTask.run(await ctx({ ca: 'kubernetes-ca', paths: [join(pki, 'apiserver.crt')] }, state));
    expect(out.changed).toBe(true);

    process.env.KCARUN_CA_PASSPHRASE = 'wrong';
    await expect(certReissueTask.run(await ctx({ ca: 'kubernetes-ca', paths: [join(pki, 'apiserver.crt')] }, state))).rejects.toThrow(
      'CA key ca/kubernetes-ca.key is not a readable private key (wrong passphrase?)',
    );
    delete process.env.KCARUN_CA_PASSPHRASE;
    await expect(certReissueTask.run(await ctx({ ca: 'kubernetes-ca', paths: [join(pki, 'apiserver.crt')] }, state))).rejects.toThrow(
      'CA key ca/kubernetes-ca.key is encrypted: set KCARUN_CA_PASSPHRASE',
    );
  });
});
