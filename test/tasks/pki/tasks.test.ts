import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError, KcarunErrorList } from '../../../src/core/errors.js';
import { caBundleTask } from '../../../src/tasks/ca-bundle/index.js';
import { caGenerateTask } from '../../../src/tasks/ca-generate/index.js';
import { certCheckTask } from '../../../src/tasks/cert-check/index.js';
import { certReissueTask } from '../../../src/tasks/cert-reissue/index.js';
import { taskTypes } from '../../../src/tasks/index.js';
import { LocalTransport } from '../../../src/transport/local.js';
import type { ExecOptions, ExecResult } from '../../../src/transport/types.js';
import { makeHost, makeTaskContext, makeTempDir } from '../../helpers/task-context.js';
import { certPublicKey, keyPublicKey, opensslCa, opensslLeaf, opensslResult, preservedExtensions } from '../../pki/openssl.js';

// A kubeadm-like pki dir made by OpenSSL in a temp folder stands in for the host's /etc/kubernetes/pki;
// the tasks reach it through LocalTransport exactly as they reach a remote host through SSH.
let dir: string;
let cleanup: () => Promise<void>;
let pki: string;
let stateDir: string;
const cp1 = makeHost('cp1');

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-tasks-'));
  pki = join(dir, 'host/etc/kubernetes/pki');
  stateDir = join(dir, 'state');
  await mkdir(join(pki, 'etcd'), { recursive: true });
  const etcdCa = await opensslCa(join(pki, 'etcd'), 'ca', '/CN=etcd-ca');
  await opensslLeaf(join(pki, 'etcd'), 'server', etcdCa, { subj: '/CN=cp1', sans: ['DNS:cp1', 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1'] });
  await opensslLeaf(join(pki, 'etcd'), 'peer', etcdCa, { subj: '/CN=cp1', alg: 'ec', sans: ['DNS:cp1', 'IP:127.0.0.1'], keyUsage: 'digitalSignature' });
  await opensslLeaf(pki, 'apiserver-etcd-client', etcdCa, { subj: '/CN=kube-apiserver-etcd-client', extKeyUsage: 'clientAuth' });
  // healthcheck-client deliberately absent: a `set` skips what a host does not have.
});
afterAll(async () => cleanup());

const ctxFor = <P>(params: P, extra: { transport?: LocalTransport | ClockTransport } = {}) =>
  makeTaskContext({ params, stateDir, host: cp1, ...extra });

describe('registry', () => {
  it('registers the PKI task types, and no task folder\'s definition imports node-forge, ssh2, src/pki or its run.ts at the top (profile names aside)', async () => {
    expect([...taskTypes.keys()]).toEqual(expect.arrayContaining(['ca-generate', 'ca-status', 'ca-bundle', 'cert-reissue', 'cert-install', 'cert-check']));
    const tasksDir = join(import.meta.dirname, '../../../src/tasks');
    const folders = (await readdir(tasksDir, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'shared');
    expect(folders.length).toBeGreaterThanOrEqual(taskTypes.size);
    for (const folder of folders) {
      for (const f of ['index.ts', 'schema.ts']) {
        const text = await readFile(join(tasksDir, folder.name, f), 'utf8').catch(() => '');
        const imports = text.match(/^import .* from '([^']+)';$/gm) ?? [];
        for (const line of imports) expect(line, `${folder.name}/${f}: ${line}`).not.toMatch(/node-forge|ssh2|\/pki\/(?!profile-names\.js')|\/run\.js/);
      }
    }
  });
});

describe('ca-generate', () => {
  it('stores the CA in the state dir (key 0600, dir 0700) and reuses it on the next run', async () => {
    const params = { name: 'etcd-ca', oldCa: { path: join(pki, 'etcd/ca.crt') } };
    const plan = await caGenerateTask.dryRun!(await ctxFor(params));
    expect(plan.summary).toMatch(/would create CA etcd-ca/);
    await expect(stat(join(stateDir, 'artifacts/ca/etcd-ca.crt'))).rejects.toThrow();

    const first = await caGenerateTask.run(await ctxFor(params));
    expect(first.changed).toBe(true);
    expect(first.output?.subject).toMatch(/^CN=etcd-ca \(rotated \d{4}-\d\d-\d\d\)$/);
    expect((await stat(join(stateDir, 'artifacts/ca/etcd-ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(stateDir, 'artifacts/ca'))).mode & 0o777).toBe(0o700);
    const certBefore = await readFile(join(stateDir, 'artifacts/ca/etcd-ca.crt'), 'utf8');
    // The CA it replaces, as read from the host: kubeconfig-ca's oldCa in the offline playbook.
    expect(await certPublicKey(join(stateDir, 'artifacts/ca/etcd-ca-old.crt'))).toBe(await certPublicKey(join(pki, 'etcd/ca.crt')));

    const second = await caGenerateTask.run(await ctxFor(params));
    expect(second.changed).toBe(false);
    expect(second.output?.fingerprintSha256).toBe(first.output?.fingerprintSha256);
    expect(await readFile(join(stateDir, 'artifacts/ca/etcd-ca.crt'), 'utf8')).toBe(certBefore);
    expect(await keyPublicKey(join(stateDir, 'artifacts/ca/etcd-ca.key'))).toBe(await certPublicKey(join(stateDir, 'artifacts/ca/etcd-ca.crt')));
  });

  it('makes one CA when several hosts run it at the same time', async () => {
    const params = { name: 'parallel-ca', commonName: 'parallel', keyType: 'ecdsa' as const };
    const outs = await Promise.all(['a', 'b', 'c'].map(async (h) => caGenerateTask.run(await makeTaskContext({ params, stateDir, host: makeHost(h) }))));
    expect(outs.filter((o) => o.changed)).toHaveLength(1);
    expect(new Set(outs.map((o) => o.output?.fingerprintSha256)).size).toBe(1);
  });
});

describe('ca-bundle', () => {
  it('writes new + old, new first; rewriting the same bundle is not a change', async () => {
    const params = { ca: 'etcd-ca', old: { path: join(pki, 'etcd/ca.crt') } };
    const out = await caBundleTask.run(await ctxFor(params));
    expect(out.changed).toBe(true);
    expect(out.output?.artifact).toBe('ca/etcd-ca-bundle.crt');
    expect((out.output?.subjects as string[])[1]).toBe('CN=etcd-ca');
    expect((out.output?.subjects as string[])[0]).toMatch(/rotated/);
    const again = await caBundleTask.run(await ctxFor(params));
    expect(again.changed).toBe(false);
    const onlyNew = await caBundleTask.run(await ctxFor({ ...params, mode: 'new' as const }));
    expect(onlyNew.output?.count).toBe(1);
    // The old certificates still verify against the new+old bundle, and not against the new-only one.
    const bundle = join(stateDir, 'artifacts/ca/etcd-ca-bundle.crt');
    expect((await opensslResult(['verify', '-CAfile', bundle, join(pki, 'etcd/server.crt')])).rc).toBe(0);
    expect((await opensslResult(['verify', '-CAfile', join(stateDir, 'artifacts/ca/etcd-ca-new.crt'), join(pki, 'etcd/server.crt')])).rc).not.toBe(0);
  });
});

describe('cert-reissue', () => {
  it('reuse: re-issues the kubeadm etcd set into hosts/<host>/..., preserving what openssl shows, and reuses it on a repeat', async () => {
    const params = { ca: 'etcd-ca', set: 'kubeadm-etcd' as const, pkiDir: pki };
    const out = await certReissueTask.run(await ctxFor(params));
    expect(out.changed).toBe(true);
    const certs = out.output?.certificates as Array<{ path: string; artifact: string; keyArtifact?: string; how: string }>;
    expect(certs.map((c) => c.path).sort()).toEqual([join(pki, 'apiserver-etcd-client.crt'), join(pki, 'etcd/peer.crt'), join(pki, 'etcd/server.crt')]);
    expect(out.output?.skipped).toEqual([join(pki, 'etcd/healthcheck-client.crt')]);
    const newCa = join(stateDir, 'artifacts/ca/etcd-ca.crt');
    for (const c of certs) {
      expect(c.artifact).toBe(`hosts/cp1/${c.path.replace(/^\//, '')}`);
      expect(c.keyArtifact).toBeUndefined();
      const issued = join(stateDir, 'artifacts', c.artifact);
      expect((await opensslResult(['verify', '-CAfile', newCa, issued])).out).toContain(': OK');
      expect(await preservedExtensions(issued)).toBe(await preservedExtensions(c.path));
      expect(await keyPublicKey(c.path.replace(/\.crt$/, '.key'))).toBe(await certPublicKey(issued));
    }
    const again = await certReissueTask.run(await ctxFor(params));
    expect(again.changed).toBe(false);
    expect((again.output?.certificates as Array<{ how: string }>).every((c) => c.how === 'reused')).toBe(true);
  });

  it('rotate: writes a new key (0600) that matches the new certificate, of the same algorithm', async () => {
    const server = join(pki, 'etcd/peer.crt');
    const host2 = makeHost('cp2');
    const ctx = await makeTaskContext({ params: { ca: 'etcd-ca', paths: [server], keyPolicy: 'rotate' as const }, stateDir, host: host2 });
    const out = await certReissueTask.run(ctx);
    const [c] = out.output?.certificates as Array<{ artifact: string; keyArtifact: string; keyPath: string }>;
    expect(c?.keyPath).toBe(join(pki, 'etcd/peer.key'));
    const keyFile = join(stateDir, 'artifacts', c!.keyArtifact);
    const certFile = join(stateDir, 'artifacts', c!.artifact);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await keyPublicKey(keyFile)).toBe(await certPublicKey(certFile));
    expect(await certPublicKey(certFile)).not.toBe(await certPublicKey(server));
    expect(await keyPublicKey(keyFile)).toContain('BEGIN PUBLIC KEY');
    expect((await opensslResult(['pkey', '-in', keyFile, '-noout', '-text'])).out).toContain('NIST CURVE: P-256');
    const again = await certReissueTask.run(await makeTaskContext({ params: ctx.params, stateDir, host: host2 }));
    expect(again.changed).toBe(false);
  });

  it('fails naming host and path when a listed certificate is missing, and generates from a profile when asked', async () => {
    const missing = join(pki, 'etcd/nope.crt');
    const err = await certReissueTask.run(await ctxFor({ ca: 'etcd-ca', paths: [missing] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).message).toBe(`cp1: ${missing} does not exist (set missing: skip, or add it to generate)`);

    const gen = join(dir, 'host/etc/kubernetes/pki/etcd/healthcheck-client.crt');
    const out = await certReissueTask.run(await ctxFor({ ca: 'etcd-ca', generate: [{ cert: gen, profile: 'etcd-healthcheck-client' as const }] }));
    const [c] = out.output?.certificates as Array<{ how: string; subject: string; artifact: string; keyArtifact: string }>;
    expect(c?.how).toBe('generated');
    expect(c?.subject).toBe('CN=kube-etcd-healthcheck-client');
    expect(await keyPublicKey(join(stateDir, 'artifacts', c!.keyArtifact))).toBe(await certPublicKey(join(stateDir, 'artifacts', c!.artifact)));
  });

  it('fails clearly when the CA was never generated', async () => {
    await expect(certReissueTask.run(await ctxFor({ ca: 'front-proxy-ca', set: 'kubeadm-front-proxy' as const, pkiDir: pki }))).rejects.toThrow(
      /CA front-proxy-ca does not exist in the state dir: run a ca-generate task with name: front-proxy-ca first/,
    );
  });
});

/** The host's clock is the one thing mocked: `date +%s` answers with a shifted time. */
class ClockTransport extends LocalTransport {
  constructor(private readonly skewSeconds: number) {
    super();
  }
  override async exec(command: string, options?: ExecOptions): Promise<ExecResult> {
    if (command === 'date +%s') return { stdout: `${Math.floor(Date.now() / 1000) + this.skewSeconds}\n`, stderr: '', rc: 0 };
    return super.exec(command, options);
  }
}

describe('cert-check', () => {
  const serverPath = () => join(pki, 'etcd/server.crt');
  const checkError = async (params: object, transport?: LocalTransport) => {
    const err = await certCheckTask.run(await ctxFor(params, transport ? { transport } : {})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    return (err as KcarunErrorList).errors.map((e) => e.message);
  };

  it('passes for the host certificates against the old CA, with SANs, key match and clock', async () => {
    const server = serverPath();
    const out = await certCheckTask.run(
      await ctxFor({ paths: [{ cert: server, sans: ['DNS:cp1', 'IP:::1'] }], bundle: { path: join(pki, 'etcd/ca.crt') }, keyMatch: true, minDaysLeft: 30, maxClockSkewSeconds: 60 }),
    );
    expect(out.summary).toBe('1 certificate OK');
    expect((out.output?.checked as Array<{ chainsTo: string }>)[0]?.chainsTo).toBe('CN=etcd-ca');
  });

  it('fails naming host and path: untrusted chain, missing SAN, expiring, key mismatch', async () => {
    const server = serverPath();
    const messages = await checkError({
      paths: [{ cert: server, key: join(pki, 'etcd/peer.key'), sans: ['DNS:cp9'] }],
      bundle: { artifact: 'ca/etcd-ca-new.crt' },
      keyMatch: true,
      minDaysLeft: 400,
    });
    expect(messages[0]).toMatch(new RegExp(`^cp1: ${server}: expires in 36[45] days .* under the 400 days threshold$`));
    expect(messages[1]).toBe(`cp1: ${server}: issued by "CN=etcd-ca", which chains to no CA of the bundle ("${(await readCaSubject())}")`);
    expect(messages[2]).toBe(`cp1: ${server}: lacks SAN DNS:cp9`);
    expect(messages[3]).toBe(`cp1: ${server}: does not match its key ${join(pki, 'etcd/peer.key')}`);
  });

  it('passes for the re-issued certificates against the new CA alone (post-check)', async () => {
    const server = serverPath();
    const reissued = join(stateDir, 'artifacts/hosts/cp1', server.replace(/^\//, ''));
    const out = await certCheckTask.run(await ctxFor({ paths: [reissued], bundle: { artifact: 'ca/etcd-ca-new.crt' } }));
    expect(out.summary).toBe('1 certificate OK');
  });

  it('fails on a host clock beyond the tolerance', async () => {
    const messages = await checkError({ maxClockSkewSeconds: 120 }, new ClockTransport(-900));
    // `date +%s` has whole seconds, so the measured skew is 900 or 901 s.
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^cp1: \(clock\): clock is behind by 90[01] s \(tolerance 120 s\)$/);
  });
});

async function readCaSubject(): Promise<string> {
  const pem = await readFile(join(stateDir, 'artifacts/ca/etcd-ca.crt'), 'utf8');
  const { parseSingleCertificate } = await import('../../../src/pki/certificate.js');
  return parseSingleCertificate(pem, 'ca').subjectText;
}

describe('params schemas', () => {
  it('accept what the docs show and reject typos and wrong values', async () => {
    const { schemaProblems } = await import('../../../src/formats/schema-check.js');
    expect(schemaProblems(caGenerateTask.schema, { name: 'etcd-ca', oldCa: { host: 'cp1', path: '/etc/kubernetes/pki/etcd/ca.crt' }, keyType: 'ecdsa' })).toEqual([]);
    expect(schemaProblems(caBundleTask.schema, { ca: 'etcd-ca', old: { artifact: 'ca/old.crt' }, mode: 'new' })).toEqual([]);
    expect(
      schemaProblems(certReissueTask.schema, {
        ca: 'etcd-ca',
        set: 'kubeadm-etcd',
        paths: ['/etc/etcd/ssl/cert-etcd.pem', { cert: '/x.crt', key: '/x.key' }],
        keyPolicy: 'rotate',
        generate: [{ cert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt', profile: 'etcd-healthcheck-client' }],
      }),
    ).toEqual([]);
    expect(schemaProblems(certCheckTask.schema, { set: 'kubeadm-kubernetes', bundle: { artifact: 'ca/k.crt' }, minDaysLeft: 30, keyMatch: true, maxClockSkewSeconds: 60 })).toEqual([]);
    expect(schemaProblems(caGenerateTask.schema, { name: 'etcd-ca', keySize: 1024 }).length).toBeGreaterThan(0);
    expect(schemaProblems(caGenerateTask.schema, { name: '../etc' }).length).toBeGreaterThan(0);
    expect(schemaProblems(certReissueTask.schema, { ca: 'x', keyPolicy: 'renew' }).length).toBeGreaterThan(0);
    expect(schemaProblems(certCheckTask.schema, { pathz: ['/x'] }).length).toBeGreaterThan(0);
  });
});
