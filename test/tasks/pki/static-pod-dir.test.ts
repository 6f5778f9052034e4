import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCa } from '../../../src/pki/ca.js';
import { privateKeyToPem } from '../../../src/pki/keys.js';
import { issueFromProfile } from '../../../src/pki/profiles.js';
import { reissueLeafCertificate } from '../../../src/pki/reissue.js';
import { certInstallTask } from '../../../src/tasks/cert-install/index.js';
import { filePatchTask } from '../../../src/tasks/file-patch/index.js';
import { fileUploadTask } from '../../../src/tasks/file-upload/index.js';
import { type RemoteEnv, startRemoteEnv } from '../remote/remote-env.js';

// The kubelet runs every file of its staticPodPath (/etc/kubernetes/manifests) whose name does not
// start with a dot: a `kube-apiserver.yaml.bak` or `kube-apiserver.yaml.tmp` there is a second
// apiserver pod. Every write into that folder, through a real sshd, is watched with inotify
// (fs.watch): any name that appears besides the manifest itself must start with a dot, and
// nothing may be left behind. Backups go to the operator's state dir.
let env: RemoteEnv;
let manifests: string;
let watcher: FSWatcher;
let seen: Set<string>;

const MANIFEST = [
  'apiVersion: v1',
  'kind: Pod',
  'metadata: { name: kube-apiserver, namespace: kube-system }',
  'spec:',
  '  containers:',
  '  - name: kube-apiserver',
  '    command:',
  '    - kube-apiserver',
  '    - --client-ca-file=/etc/kubernetes/pki/ca.crt',
  '',
].join('\n');

beforeAll(async () => {
  env = await startRemoteEnv();
});
afterAll(async () => env.stop());
beforeEach(async () => {
  await env.fresh();
  manifests = join(env.remoteDir, 'etc/kubernetes/manifests');
  await mkdir(manifests, { recursive: true });
  await writeFile(join(manifests, 'kube-apiserver.yaml'), MANIFEST, { mode: 0o600 });
  seen = new Set();
  watcher = watch(manifests, (_event, name) => {
    if (name) seen.add(name.toString());
  });
});

/** Every name inotify reported in the folder, once the events of what just ran are in. */
async function namesSeen(): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 300));
  watcher.close();
  return [...seen].sort();
}

describe('writes into the static pod manifests folder', () => {
  it('file-patch (a flag edit), its rollback, file-upload and cert-install only ever create dot-files beside the target, and leave none', async () => {
    const target = join(manifests, 'kube-apiserver.yaml');
    const patchCtx = await env.ctx({ path: target, edits: [{ op: 'set-flag' as const, in: 'manifest' as const, flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' }] });
    const patched = await filePatchTask.run(patchCtx);
    expect(patched.changed).toBe(true);
    expect(await readFile(target, 'utf8')).toContain('--client-ca-file=/etc/kubernetes/pki/ca-bundle.crt');
    // The backup for the rollback is in the state dir, not beside the manifest.
    expect((patched.output as { backupFile: string }).backupFile.startsWith(env.stateDir)).toBe(true);
    await filePatchTask.rollback!(patchCtx, patched.undo);
    expect(await readFile(target, 'utf8')).toBe(MANIFEST);

    const uploadCtx = await env.ctx({ dest: join(manifests, 'etcd.yaml'), content: MANIFEST.replace(/kube-apiserver/g, 'etcd'), mode: '0600' });
    const uploaded = await fileUploadTask.run(uploadCtx);
    await fileUploadTask.rollback!(uploadCtx, uploaded.undo);

    // cert-install into the folder too (nobody should put a client pair there, but if a layout
    // did, its temp file and backup must not become a pod): a combined certificate + key file.
    const oldCa = await createCa({ commonName: 'kubernetes', keySpec: { type: 'ecdsa', curve: 'P-256' } });
    const newCa = await createCa({ commonName: 'kubernetes (rotated)', keySpec: { type: 'ecdsa', curve: 'P-256' } });
    const pair = await issueFromProfile('kubelet-client', { nodeName: 'node1' }, oldCa, { keySpec: { type: 'ecdsa', curve: 'P-256' } });
    const pairPath = join(manifests, 'client.pem');
    await writeFile(pairPath, pair.certificate.pem + privateKeyToPem(pair.privateKey), { mode: 0o600 });
    const reissued = await reissueLeafCertificate(pair.certificate, newCa);
    const installCtx = await env.ctx({ path: pairPath, artifact: 'hosts/node1/client.pem' });
    await installCtx.state.writeArtifact('hosts/node1/client.pem', reissued.certificate.pem, { mode: 0o644 });
    const installed = await certInstallTask.run(installCtx);
    expect(installed.output).toMatchObject({ how: 'in-place', combined: true });
    expect(await readFile(pairPath, 'utf8')).toContain(reissued.certificate.pem);

    const names = await namesSeen();
    const allowed = new Set(['kube-apiserver.yaml', 'etcd.yaml', 'client.pem']);
    const strays = names.filter((n) => !allowed.has(n) && !n.startsWith('.'));
    expect(strays).toEqual([]);
    expect(names.some((n) => n.startsWith('.kube-apiserver.yaml.kcarun-') && n.endsWith('.tmp'))).toBe(true); // the atomic write was seen
    expect((await readdir(manifests)).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await readdir(manifests)).sort()).toEqual(['client.pem', 'kube-apiserver.yaml']);
  });
});
