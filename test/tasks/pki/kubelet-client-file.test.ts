import { lstat, mkdir, readFile, readlink, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caGenerateTask } from '../../../src/tasks/ca-generate/index.js';
import { certCheckTask } from '../../../src/tasks/cert-check/index.js';
import { certInstallTask } from '../../../src/tasks/cert-install/index.js';
import { certReissueTask } from '../../../src/tasks/cert-reissue/index.js';
import { LocalTransport } from '../../../src/transport/local.js';
import { certPublicKey, keyPublicKey, openssl, opensslCa, opensslLeaf, opensslResult } from '../../pki/openssl.js';
import { type RemoteEnv, startRemoteEnv } from '../remote/remote-env.js';

// Modern kubeadm: kubelet.conf names /var/lib/kubelet/pki/kubelet-client-current.pem for both its
// certificate and key; that is a symlink to kubelet-client-<ts>.pem holding the certificate and an
// "EC PRIVATE KEY". Everything below goes through a real sshd on a loopback address.
let env: RemoteEnv;
let ca: { cert: string; key: string };
let pki: string;
let kubeletPki: string;
let kubeletConf: string;
const OLD_NAME = 'kubelet-client-2025-01-02-03-04-05.pem';
const KEY_RE = /-----BEGIN EC PRIVATE KEY-----[\s\S]*?-----END EC PRIVATE KEY-----\n/;

type FileEntry = { path: string; artifact: string; kubeconfig: string; combined: boolean; keyPath: string; subject: string; how: string };

/** A kubelet node's files in env.remoteDir: old CA, combined pair, and kubelet.conf in the given style. */
async function makeNode(style: 'symlink' | 'plain' | 'embedded'): Promise<{ pair: string; current: string }> {
  pki = join(env.remoteDir, 'etc/kubernetes/pki');
  kubeletPki = join(env.remoteDir, 'var/lib/kubelet/pki');
  kubeletConf = join(env.remoteDir, 'etc/kubernetes/kubelet.conf');
  await mkdir(pki, { recursive: true });
  await mkdir(kubeletPki, { recursive: true });
  ca = await opensslCa(pki, 'ca', '/CN=kubernetes');
  const leaf = await opensslLeaf(join(env.remoteDir, 'etc/kubernetes'), 'node', ca, { subj: '/O=system:nodes/CN=system:node:node1', alg: 'ec', extKeyUsage: 'clientAuth', keyUsage: 'digitalSignature' });
  const sec1 = await openssl(['ec', '-in', leaf.key]); // the kubelet writes SEC1, not PKCS#8
  const certPem = await readFile(leaf.cert, 'utf8');
  const pair = join(kubeletPki, OLD_NAME);
  const current = join(kubeletPki, 'kubelet-client-current.pem');
  const user =
    style === 'embedded'
      ? { 'client-certificate-data': Buffer.from(certPem).toString('base64'), 'client-key-data': Buffer.from(sec1).toString('base64') }
      : { 'client-certificate': current, 'client-key': current };
  if (style === 'symlink') {
    await writeFile(pair, `${certPem}${sec1}`, { mode: 0o600 });
    await symlink(pair, current); // absolute, as the kubelet makes it
  } else if (style === 'plain') {
    await writeFile(current, `${certPem}${sec1}`, { mode: 0o600 });
  }
  const conf = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{ name: kubernetes, cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: QQ== } }]',
    'contexts: [{ name: system:node:node1@kubernetes, context: { cluster: kubernetes, user: system:node:node1 } }]',
    'current-context: system:node:node1@kubernetes',
    `users: [{ name: system:node:node1, user: ${JSON.stringify(user)} }]`,
    '',
  ].join('\n');
  await writeFile(kubeletConf, conf, { mode: 0o600 });
  await caGenerateTask.run(await env.ctx({ name: 'kubernetes-ca', oldCa: { path: ca.cert } }, { transport: new LocalTransport() }));
  return { pair, current };
}

const newCa = () => join(env.stateDir, 'artifacts/ca/kubernetes-ca.crt');
const subject = (file: string) => openssl(['x509', '-in', file, '-noout', '-subject']);

async function reissue(): Promise<{ files: FileEntry[]; certificates: Array<Record<string, unknown>>; changed: boolean; raw: string }> {
  const out = await certReissueTask.run(await env.ctx({ ca: 'kubernetes-ca', kubeconfigs: [kubeletConf], keyPolicy: 'reuse' as const }));
  return {
    files: out.output?.certificateFiles as FileEntry[],
    certificates: out.output?.certificates as Array<Record<string, unknown>>,
    changed: out.changed,
    raw: JSON.stringify(out),
  };
}

beforeAll(async () => {
  env = await startRemoteEnv();
});
afterAll(async () => env.stop());
beforeEach(async () => env.fresh());

describe('kubelet-client-current.pem (certificate + key in one file)', () => {
  it('symlink: a new timestamped pair from the new CA with the same key and subject, the link swapped; idempotent; undo points the link back', async () => {
    const { pair, current } = await makeNode('symlink');
    const oldPairBytes = await readFile(pair);
    const oldKeyBlock = KEY_RE.exec(oldPairBytes.toString())![0];

    const r = await reissue();
    expect(r.files).toHaveLength(1);
    expect(r.certificates).toHaveLength(0);
    const entry = r.files[0]!;
    expect(entry).toMatchObject({ path: current, kubeconfig: kubeletConf, combined: true, keyPath: current, how: 'reissued' });
    expect(r.raw).not.toMatch(/PRIVATE KEY/);
    const artifact = await readFile(join(env.stateDir, 'artifacts', entry.artifact), 'utf8');
    expect(artifact).not.toMatch(/PRIVATE KEY/); // reuse: the key stays on the host

    const installCtx = await env.ctx({ path: entry.path, artifact: entry.artifact });
    const out = await certInstallTask.run(installCtx);
    expect(out.changed).toBe(true);
    expect(JSON.stringify(out)).not.toMatch(/PRIVATE KEY|MHcCAQEE/);
    expect(env.logs.join('\n')).not.toMatch(/PRIVATE KEY/);

    // The link now names a new kubelet-client-<UTC ts>.pem in the same folder, absolute like before.
    const linkText = await readlink(current);
    expect(linkText).toMatch(new RegExp(`^${kubeletPki}/kubelet-client-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d-\\d\\d\\.pem$`));
    expect(linkText).not.toBe(pair);
    expect((await lstat(current)).isSymbolicLink()).toBe(true);
    expect((await stat(linkText)).mode & 0o777).toBe(0o600);
    const newText = await readFile(linkText, 'utf8');
    expect(KEY_RE.exec(newText)?.[0]).toBe(oldKeyBlock); // the very same key bytes
    expect((await opensslResult(['verify', '-CAfile', newCa(), current])).rc).toBe(0);
    expect((await opensslResult(['verify', '-CAfile', ca.cert, current])).rc).not.toBe(0);
    expect(await subject(current)).toBe(await subject(pair));
    expect(await certPublicKey(current)).toBe(await keyPublicKey(pair));
    expect(await keyPublicKey(current)).toBe(await keyPublicKey(pair));
    expect(await readFile(pair)).toEqual(oldPairBytes); // the old pair is the rollback: untouched
    expect((await readdir(kubeletPki)).filter((n) => n.includes('kcarun'))).toEqual([]); // no temp files left

    // Re-running either task changes nothing.
    const again = await reissue();
    expect(again.files[0]!.how).toBe('reused');
    expect((await certInstallTask.run(await env.ctx({ path: entry.path, artifact: entry.artifact }))).changed).toBe(false);
    expect(await readlink(current)).toBe(linkText);

    // The checks find the certificate through kubelet.conf, compare the key in the same file.
    const check = await certCheckTask.run(await env.ctx({ kubeconfigs: [kubeletConf], bundle: { artifact: 'ca/kubernetes-ca.crt' }, keyMatch: true }));
    expect(check.output?.checked).toEqual([expect.objectContaining({ path: current, ok: true })]);

    await certInstallTask.rollback!(installCtx, out.undo);
    expect(await readlink(current)).toBe(pair);
    expect(await readFile(current)).toEqual(oldPairBytes);
    expect(await readdir(kubeletPki)).toEqual(['kubelet-client-current.pem', OLD_NAME].sort());
    await certInstallTask.rollback!(installCtx, out.undo); // safe to repeat
    expect(await readlink(current)).toBe(pair);
  });

  it('symlink: a failure after the link swap (the read-back does not see the new certificate) puts the link back and removes the new pair', async () => {
    const { pair, current } = await makeNode('symlink');
    const oldPairBytes = await readFile(pair);
    const entry = (await reissue()).files[0]!;
    const ctx = await env.ctx({ path: entry.path, artifact: entry.artifact });
    // The host answers every read of the link with the old pair, as a cache or a racing writer would.
    let swapped = false;
    const real = ctx.transport;
    ctx.transport = {
      ...real,
      host: real.host,
      exec: async (c, o) => {
        const r = await real.exec(c, o);
        if (c.includes('mv -Tf')) swapped = true;
        return r;
      },
      readFile: async (path, o) => (swapped && path === current ? oldPairBytes : real.readFile(path, o)),
      writeFile: (path, d, o) => real.writeFile(path, d, o),
      stat: (path, o) => real.stat(path, o),
      directFileAccess: (o) => real.directFileAccess(o),
      close: () => real.close(),
    };
    const err = (await certInstallTask.run(ctx).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/does not hold the new certificate after the install/);
    expect(swapped).toBe(true);
    expect(await readlink(current)).toBe(pair);
    expect(await readdir(kubeletPki)).toEqual(['kubelet-client-current.pem', OLD_NAME].sort());
  });

  it('cert-check refuses the old-CA file once only the new CA counts (what finalize relies on)', async () => {
    const { current } = await makeNode('symlink');
    await reissue();
    const err = (await certCheckTask.run(await env.ctx({ kubeconfigs: [kubeletConf], bundle: { artifact: 'ca/kubernetes-ca.crt' } })).catch((e: Error) => e)) as Error & { errors?: Error[] };
    expect(err).toBeInstanceOf(Error);
    expect(err.errors?.map((e) => e.message).join('\n') ?? err.message).toContain(`${env.host.name}: ${current}:`);
    expect(JSON.stringify(err.errors?.map((e) => e.message))).not.toMatch(/PRIVATE KEY/);
  });

  it('a combined file that is not a symlink is rewritten in place (same key, 0600), and undo restores it', async () => {
    const { current } = await makeNode('plain');
    const before = await readFile(current);
    const entry = (await reissue()).files[0]!;
    expect(entry.combined).toBe(true);
    const ctx = await env.ctx({ path: entry.path, artifact: entry.artifact });
    const out = await certInstallTask.run(ctx);
    expect(out.changed).toBe(true);
    expect((await lstat(current)).isSymbolicLink()).toBe(false);
    expect((await stat(current)).mode & 0o777).toBe(0o600);
    expect((await opensslResult(['verify', '-CAfile', newCa(), current])).rc).toBe(0);
    expect(KEY_RE.exec(await readFile(current, 'utf8'))?.[0]).toBe(KEY_RE.exec(before.toString())![0]);
    expect(JSON.stringify(out.undo)).not.toMatch(/PRIVATE KEY/);
    expect((await certInstallTask.run(await env.ctx({ path: entry.path, artifact: entry.artifact }))).changed).toBe(false);
    await certInstallTask.rollback!(ctx, out.undo);
    expect(await readFile(current)).toEqual(before);
  });

  it('key policy rotate: the new pair holds the new key, which matches the new certificate', async () => {
    const { pair, current } = await makeNode('symlink');
    const out = await certReissueTask.run(await env.ctx({ ca: 'kubernetes-ca', kubeconfigs: [kubeletConf], keyPolicy: 'rotate' as const }));
    const entry = (out.output?.certificateFiles as Array<FileEntry & { keyArtifact: string }>)[0]!;
    expect(entry.keyArtifact).toBeDefined();
    expect(entry.keyArtifact).not.toBe(entry.artifact);
    await certInstallTask.run(await env.ctx({ path: entry.path, artifact: entry.artifact, keyArtifact: entry.keyArtifact }));
    expect(await keyPublicKey(current)).toBe(await certPublicKey(current));
    expect(await keyPublicKey(current)).not.toBe(await keyPublicKey(pair));
    expect((await opensslResult(['verify', '-CAfile', newCa(), current])).rc).toBe(0);
  });

  it('separate certificate and key files named by relative paths, key policy rotate: both written, undo restores both', async () => {
    await makeNode('embedded'); // for the CA and the leaf; kubelet.conf is rewritten below
    const certFile = join(env.remoteDir, 'etc/kubernetes/node.crt');
    const keyFile = join(env.remoteDir, 'etc/kubernetes/node.key');
    const [certBefore, keyBefore] = [await readFile(certFile), await readFile(keyFile)];
    const conf = (await readFile(kubeletConf, 'utf8')).replace(/users: .*/, 'users: [{ name: system:node:node1, user: { client-certificate: node.crt, client-key: ./node.key } }]');
    await writeFile(kubeletConf, conf);
    const out = await certReissueTask.run(await env.ctx({ ca: 'kubernetes-ca', kubeconfigs: [kubeletConf], keyPolicy: 'rotate' as const }));
    const entry = (out.output?.certificateFiles as Array<FileEntry & { keyArtifact: string }>)[0]!;
    expect(entry).toMatchObject({ path: certFile, keyPath: keyFile, combined: false });
    const ctx = await env.ctx({ path: entry.path, artifact: entry.artifact, keyArtifact: entry.keyArtifact, keyPath: entry.keyPath });
    const res = await certInstallTask.run(ctx);
    expect(res.output?.how).toBe('in-place');
    expect(await keyPublicKey(keyFile)).toBe(await certPublicKey(certFile));
    expect(await readFile(keyFile)).not.toEqual(keyBefore); // a new key, not the old one
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await opensslResult(['verify', '-CAfile', newCa(), certFile])).rc).toBe(0);
    await certInstallTask.rollback!(ctx, res.undo);
    expect(await readFile(certFile)).toEqual(certBefore);
    expect(await readFile(keyFile)).toEqual(keyBefore);
  });

  it('embedded kubelet.conf (older kubeadm) still goes to `certificates`, for the kubeconfig edit', async () => {
    await makeNode('embedded');
    const r = await reissue();
    expect(r.files).toEqual([]);
    expect(r.certificates).toEqual([expect.objectContaining({ path: kubeletConf, kubeconfig: kubeletConf, how: 'reissued' })]);
    const issued = join(env.stateDir, 'artifacts', String(r.certificates[0]!.artifact));
    expect((await opensslResult(['verify', '-CAfile', newCa(), issued])).rc).toBe(0);
  });

  it('listing the combined file under `paths` is refused: an upload of the certificate alone would drop the key', async () => {
    const { current } = await makeNode('symlink');
    const err = (await certReissueTask.run(await env.ctx({ ca: 'kubernetes-ca', paths: [current] })).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/holds a private key next to the certificate.*kubeconfigs.*cert-install/);
    expect(err.message).not.toMatch(/BEGIN/);
  });
});
