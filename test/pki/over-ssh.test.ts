import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsExpiry } from '../../src/commands/certs-expiry.js';
import { caGenerateTask } from '../../src/tasks/ca-generate/index.js';
import { certCheckTask } from '../../src/tasks/cert-check/index.js';
import { certReissueTask } from '../../src/tasks/cert-reissue/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { type RemoteEnv, startRemoteEnv } from '../tasks/remote/remote-env.js';
import { certPublicKey, opensslCa, opensslLeaf, opensslResult, preservedExtensions } from './openssl.js';

// The same tasks and the expiry scan through a real OpenSSH server on a loopback address.
let env: RemoteEnv;
let pki: string;

beforeAll(async () => {
  env = await startRemoteEnv();
  pki = join(env.remoteDir, 'etc/kubernetes/pki');
  await mkdir(join(pki, 'etcd'), { recursive: true });
  const ca = await opensslCa(join(pki, 'etcd'), 'ca', '/CN=etcd-ca', 'ec');
  await opensslLeaf(join(pki, 'etcd'), 'server', ca, { subj: '/CN=node1', alg: 'ec', sans: ['DNS:node1', 'IP:127.0.0.1', 'IP:::1'] });
  await opensslLeaf(pki, 'apiserver-etcd-client', ca, { subj: '/CN=kube-apiserver-etcd-client', extKeyUsage: 'clientAuth' });
});
afterAll(async () => env.stop());

describe('over SSH', () => {
  it('ca-generate reads the old CA from the host; cert-reissue re-signs its certificates; cert-check compares keys on the host', async () => {
    const gen = await caGenerateTask.run(await env.ctx({ name: 'etcd-ca', oldCa: { path: join(pki, 'etcd/ca.crt') } }, { transport: new LocalTransport() }));
    expect(gen.output?.subject).toMatch(/^CN=etcd-ca \(rotated /);
    const out = await certReissueTask.run(await env.ctx({ ca: 'etcd-ca', set: 'kubeadm-etcd' as const, pkiDir: pki }));
    const certs = out.output?.certificates as Array<{ path: string; artifact: string }>;
    expect(certs).toHaveLength(2);
    for (const c of certs) {
      const issued = join(env.stateDir, 'artifacts', c.artifact);
      expect(c.artifact.startsWith(`hosts/${env.host.name}/`)).toBe(true);
      expect((await opensslResult(['verify', '-CAfile', join(env.stateDir, 'artifacts/ca/etcd-ca.crt'), issued])).rc).toBe(0);
      expect(await preservedExtensions(issued)).toBe(await preservedExtensions(c.path));
      expect(await certPublicKey(issued)).toBe(await certPublicKey(c.path));
    }
    const ok = await certCheckTask.run(await env.ctx({ set: 'kubeadm-etcd' as const, pkiDir: pki, bundle: { path: join(pki, 'etcd/ca.crt') }, keyMatch: true, maxClockSkewSeconds: 30 }));
    expect(ok.summary).toBe('2 certificates OK');
    const bad = await certCheckTask.run(await env.ctx({ paths: [{ cert: join(pki, 'etcd/server.crt'), key: join(pki, 'apiserver-etcd-client.key') }], keyMatch: true })).catch((e: Error) => e);
    expect((bad as Error).message).toContain(`${env.host.name}: ${join(pki, 'etcd/server.crt')}: does not match its key ${join(pki, 'apiserver-etcd-client.key')}`);
  });

  it('certs expiry scans the host over SSH', async () => {
    const chunks: string[] = [];
    const code = await certsExpiry({ hosts: [{ host: env.host.name, transport: env.transport }], paths: [env.remoteDir], warnDays: 30, output: 'json' }, { stdout: (s) => chunks.push(s) });
    expect(code).toBe(0);
    const doc = JSON.parse(chunks.join('')) as { certificates: Array<{ host: string; path: string; subject: string }> };
    expect(doc.certificates.map((c) => c.path.slice(env.remoteDir.length)).sort()).toEqual([
      '/etc/kubernetes/pki/apiserver-etcd-client.crt',
      '/etc/kubernetes/pki/etcd/ca.crt',
      '/etc/kubernetes/pki/etcd/server.crt',
    ]);
    expect(new Set(doc.certificates.map((c) => c.host))).toEqual(new Set([env.host.name]));
    expect(await readFile(join(pki, 'etcd/server.crt'), 'utf8')).toContain('BEGIN CERTIFICATE'); // untouched on the host
  });
});
