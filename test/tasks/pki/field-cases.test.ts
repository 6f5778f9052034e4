import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError, KcarunErrorList } from '../../../src/core/errors.js';
import { createCa } from '../../../src/pki/ca.js';
import { privateKeyToPem } from '../../../src/pki/keys.js';
import { issueFromProfile } from '../../../src/pki/profiles.js';
import { caGenerateTask } from '../../../src/tasks/ca-generate/index.js';
import { certCheckTask } from '../../../src/tasks/cert-check/index.js';
import { certReissueTask } from '../../../src/tasks/cert-reissue/index.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { makeHost, makeTaskContext, makeTempDir } from '../../helpers/task-context.js';
import { opensslCa, opensslIntermediate, opensslJoinHash, opensslLeaf, opensslResult } from '../../pki/openssl.js';

// The task side of issue 16's field cases: a host's files in a temp folder, reached through
// LocalTransport exactly as a remote host is through SSH.
let dir: string;
let cleanup: () => Promise<void>;
const DAY = 86_400_000;
const cp1 = makeHost('cp1');

async function ctxWithLog<P>(params: P, stateDir: string): Promise<{ ctx: Awaited<ReturnType<typeof makeTaskContext<P>>>; warnings: string[] }> {
  const warnings: string[] = [];
  const ctx = await makeTaskContext({ params, stateDir, host: cp1 });
  return { ctx: { ...ctx, log: { info: () => {}, debug: () => {}, warn: (m: string) => void warnings.push(m) } }, warnings };
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-field-tasks-'));
});
afterAll(async () => cleanup());

describe('ca-generate: kubeadm join hashes', () => {
  it('outputs the new and old CA hashes (as openssl computes them), puts them in the summary and warns about joins pinning the old one', async () => {
    const d = join(dir, 'hashes');
    await mkdir(d);
    const old = await opensslCa(d, 'ca', '/CN=kubernetes');
    const stateDir = join(d, 'state');
    const { ctx, warnings } = await ctxWithLog({ name: 'kubernetes-ca', oldCa: { path: old.cert } }, stateDir);
    const out = await caGenerateTask.run(ctx);
    const newHash = await opensslJoinHash(join(stateDir, 'artifacts/ca/kubernetes-ca.crt'));
    const oldHash = await opensslJoinHash(old.cert);
    expect(out.output).toMatchObject({ caCertHash: newHash, oldCaCertHash: oldHash, reused: false });
    expect(out.summary).toContain(`kubeadm discovery-token-ca-cert-hash ${newHash} (old CA: ${oldHash})`);
    expect(warnings).toContain(
      `kubeadm join commands that pin this CA (--discovery-token-ca-cert-hash ${oldHash}, the old CA) stop working after finalize; use ${newHash} (the new CA kubernetes-ca)`,
    );
    // A resumed run says the same.
    const again = await ctxWithLog({ name: 'kubernetes-ca', oldCa: { path: old.cert } }, stateDir);
    expect((await caGenerateTask.run(again.ctx)).output).toMatchObject({ caCertHash: newHash, oldCaCertHash: oldHash, reused: true });
  });

  it('refuses an intermediate old CA without fromIntermediate, and makes a self-signed root with it', async () => {
    const d = join(dir, 'inter-ca');
    await mkdir(d);
    const root = await opensslCa(d, 'root', '/CN=example-root');
    const inter = await opensslIntermediate(d, 'ca', root, '/CN=kubernetes');
    const stateDir = join(d, 'state');
    const refused = await caGenerateTask.run((await ctxWithLog({ name: 'k', oldCa: { path: inter.cert } }, stateDir)).ctx).catch((e: unknown) => e);
    expect((refused as KcarunError).code).toBe('E_PKI');
    expect((refused as KcarunError).message).toContain('"CN=kubernetes" is an intermediate, issued by "CN=example-root"');
    await expect(stat(join(stateDir, 'artifacts/ca/k.crt'))).rejects.toThrow();
    const { ctx, warnings } = await ctxWithLog({ name: 'k', oldCa: { path: inter.cert }, fromIntermediate: 'self-signed-root' as const }, stateDir);
    expect((await caGenerateTask.run(ctx)).changed).toBe(true);
    expect(warnings.join('\n')).toContain('is an intermediate (issued by "CN=example-root"); as fromIntermediate asks, the new CA is a self-signed root');
    const made = join(stateDir, 'artifacts/ca/k.crt');
    expect((await opensslResult(['verify', '-CAfile', made, made])).out).toBe(`${made}: OK\n`);
  });
});

describe('cert-reissue', () => {
  it('keeps the intermediate after the leaf when the same intermediate signs again (renewal); openssl verify against the root passes', async () => {
    const d = join(dir, 'renew-inter');
    const pki = join(d, 'host/etc/kubernetes/pki');
    await mkdir(pki, { recursive: true });
    const root = await opensslCa(d, 'root', '/CN=example-root');
    const inter = await opensslIntermediate(pki, 'ca', root, '/CN=kubernetes-intermediate');
    const leaf = await opensslLeaf(d, 'apiserver', inter, { subj: '/CN=kube-apiserver', sans: ['DNS:kubernetes'], extKeyUsage: 'serverAuth', days: 30 });
    await writeFile(join(pki, 'apiserver.crt'), (await readFile(leaf.cert, 'utf8')) + (await readFile(inter.cert, 'utf8')));
    const stateDir = join(d, 'state');
    // What renew-rolling's file-fetch does: the host's CA into the state dir.
    await mkdir(join(stateDir, 'artifacts/ca'), { recursive: true, mode: 0o700 });
    await writeFile(join(stateDir, 'artifacts/ca/renew-kubernetes-ca.crt'), await readFile(inter.cert));
    await writeFile(join(stateDir, 'artifacts/ca/renew-kubernetes-ca.key'), await readFile(inter.key), { mode: 0o600 });
    const { ctx } = await ctxWithLog({ ca: 'renew-kubernetes-ca', paths: [join(pki, 'apiserver.crt')], renew: true }, stateDir);
    const out = await certReissueTask.run(ctx);
    const artifact = join(stateDir, 'artifacts', (out.output?.certificates as Array<{ artifact: string }>)[0]!.artifact);
    const written = await readFile(artifact, 'utf8');
    expect(written.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(written.endsWith(await readFile(inter.cert, 'utf8'))).toBe(true);
    expect((await opensslResult(['verify', '-CAfile', root.cert, '-untrusted', artifact, artifact])).out).toBe(`${artifact}: OK\n`);
  });

  it('refuses to sign with an expired CA (E_PKI) and writes nothing', async () => {
    const d = join(dir, 'expired-ca');
    const pki = join(d, 'host/pki');
    await mkdir(pki, { recursive: true });
    const longAgo = new Date(Date.now() - 400 * DAY);
    const ca = await createCa({ commonName: 'kubernetes', now: longAgo, validityDays: 100 });
    const { certificate } = await issueFromProfile('scheduler', {}, ca, { now: longAgo, validityDays: 50 });
    await writeFile(join(pki, 'scheduler.crt'), certificate.pem);
    const stateDir = join(d, 'state');
    await mkdir(join(stateDir, 'artifacts/ca'), { recursive: true, mode: 0o700 });
    await writeFile(join(stateDir, 'artifacts/ca/old.crt'), ca.certificate.pem);
    await writeFile(join(stateDir, 'artifacts/ca/old.key'), privateKeyToPem(ca.privateKey), { mode: 0o600 });
    const { ctx } = await ctxWithLog({ ca: 'old', paths: [join(pki, 'scheduler.crt')], renew: true }, stateDir);
    const err = await certReissueTask.run(ctx).catch((e: unknown) => e);
    expect((err as KcarunError).code).toBe('E_PKI');
    expect((err as KcarunError).message).toMatch(/CA "CN=kubernetes" expired on .*offline-replace\.yaml/);
    await expect(stat(join(stateDir, 'artifacts/hosts'))).rejects.toThrow();
  });
});

describe('an expired legacy kubelet client certificate', () => {
  it('cert-check (check-expiry) names the kubeconfig and the valid current pair; cert-reissue warns before re-issuing it', async () => {
    const d = join(dir, 'legacy');
    const kpki = join(d, 'var/lib/kubelet/pki');
    await mkdir(kpki, { recursive: true });
    const ca = await createCa({ commonName: 'kubernetes', now: new Date(Date.now() - 800 * DAY) });
    const old = await issueFromProfile('kubelet-client', { nodeName: 'node1' }, ca, { now: new Date(Date.now() - 400 * DAY), validityDays: 365 });
    const fresh = await issueFromProfile('kubelet-client', { nodeName: 'node1' }, ca, { keySpec: { type: 'ecdsa', curve: 'P-256' } });
    await writeFile(join(kpki, 'kubelet-client.crt'), old.certificate.pem);
    await writeFile(join(kpki, 'kubelet-client.key'), privateKeyToPem(old.privateKey), { mode: 0o600 });
    await writeFile(join(kpki, 'kubelet-client-2026-01-01-00-00-00.pem'), fresh.certificate.pem + privateKeyToPem(fresh.privateKey), { mode: 0o600 });
    await symlink(join(kpki, 'kubelet-client-2026-01-01-00-00-00.pem'), join(kpki, 'kubelet-client-current.pem'));
    const conf = join(d, 'kubelet.conf');
    await writeFile(conf, `apiVersion: v1\nkind: Config\nusers:\n- name: system:node:node1\n  user:\n    client-certificate: ${kpki}/kubelet-client.crt\n    client-key: ${kpki}/kubelet-client.key\n`);
    const stateDir = join(d, 'state');
    const check = await certCheckTask.run((await ctxWithLog({ kubeconfigs: [conf], minDaysLeft: 30 }, stateDir)).ctx).catch((e: unknown) => e);
    expect(check).toBeInstanceOf(KcarunErrorList);
    const messages = (check as KcarunErrorList).errors.map((e) => e.message);
    expect(messages).toContain(`cp1: ${kpki}/kubelet-client.crt: (client certificate of ${conf}) expired on ${old.certificate.notAfter.toISOString()}`);
    expect(messages.join('\n')).toContain(`point client-certificate and client-key of ${conf} at ${kpki}/kubelet-client-current.pem instead of renewing the expired file`);

    await mkdir(join(stateDir, 'artifacts/ca'), { recursive: true, mode: 0o700 });
    await writeFile(join(stateDir, 'artifacts/ca/k.crt'), ca.certificate.pem);
    await writeFile(join(stateDir, 'artifacts/ca/k.key'), privateKeyToPem(ca.privateKey), { mode: 0o600 });
    const { ctx, warnings } = await ctxWithLog({ ca: 'k', kubeconfigs: [conf], renew: true }, stateDir);
    await certReissueTask.run(ctx);
    expect(warnings.join('\n')).toContain(`cp1: ${conf} names ${kpki}/kubelet-client.crt, which expired on`);
    expect(warnings.join('\n')).toContain('re-issuing it anyway, as asked');
  });
});

describe('preflight with an expired CA', () => {
  it('refuses, naming offline-replace.yaml and the command that runs it', async () => {
    const d = join(dir, 'preflight');
    await mkdir(d);
    const longAgo = new Date(Date.now() - 400 * DAY);
    const ca = await createCa({ commonName: 'kubernetes', now: longAgo, validityDays: 100 });
    const { certificate } = await issueFromProfile('apiserver', { nodeName: 'cp1', advertiseAddress: '10.0.0.1' }, ca, { now: longAgo, validityDays: 50 });
    await writeFile(join(d, 'ca.crt'), ca.certificate.pem);
    await writeFile(join(d, 'apiserver.crt'), certificate.pem);
    const { ctx } = await ctxWithLog({ certificates: [{ path: join(d, 'apiserver.crt'), ca: join(d, 'ca.crt') }], lock: false }, join(d, 'state'));
    const err = await preflightTask.run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    const text = (err as KcarunErrorList).errors.map((e) => e.message).join('\n');
    expect(text).toContain(`cp1: ${join(d, 'apiserver.crt')}: its CA "CN=kubernetes" expired on ${ca.certificate.notAfter.toISOString()}`);
    expect(text).toContain('only the downtime path is left (offline-replace.yaml): kcarun playbooks/offline-replace.yaml -i <inventory> --yes -e accept_downtime=true');
  });
});
