import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KcarunError } from '../../../src/core/errors.js';
import { filePatchTask } from '../../../src/tasks/file-patch/index.js';
import { createSshPool } from '../../../src/transport/ssh.js';
import { startRemoteEnv, type RemoteEnv } from './remote-env.js';

const fixture = (name: string) => readFileSync(new URL(`../../edit/fixtures/${name}`, import.meta.url), 'utf8');
type Params = Parameters<typeof filePatchTask.run>[0]['params'];

describe('file-patch over SSH on real kubeadm and hand-installed files', () => {
  let env: RemoteEnv;
  beforeAll(async () => {
    env = await startRemoteEnv({ sudoUsers: true });
  });
  afterAll(async () => {
    await env?.stop();
  });
  beforeEach(async () => {
    await env.fresh();
  });

  const run = async (params: Params) => filePatchTask.run(await env.ctx(params));

  it('sets a manifest flag: diff, backup, idempotent second run, undo (twice)', async () => {
    const path = join(env.remoteDir, 'etcd.yaml');
    const original = fixture('etcd.yaml');
    await writeFile(path, original, { mode: 0o600 });
    const params: Params = {
      path,
      edits: [
        { op: 'set-flag', in: 'manifest', flag: 'trusted-ca-file', value: '/etc/kubernetes/pki/etcd/ca-bundle.crt' },
        { op: 'set-flag', in: 'manifest', flag: '--peer-trusted-ca-file', value: '/etc/kubernetes/pki/etcd/ca-bundle.crt' },
      ],
    };
    const first = await run(params);
    expect(first.changed).toBe(true);
    expect(first.diff).toContain('-    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n+    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt');
    expect(first.diff).toContain('+    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt');
    const patched = await readFile(path, 'utf8');
    const cmd = (parse(patched) as { spec: { containers: Array<{ command: string[] }> } }).spec.containers[0]!.command;
    expect(cmd).toContain('--trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt');
    expect(cmd).toContain('--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt');
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const undo = first.undo as { path: string; backupFile: string; mode: number; existed: boolean };
    expect(undo).toMatchObject({ path, existed: true, mode: 0o600 });
    expect(await readFile(undo.backupFile, 'utf8')).toBe(original);
    expect((await stat(undo.backupFile)).mode & 0o777).toBe(0o600);
    expect(undo.backupFile.startsWith(join(env.stateDir, 'backups'))).toBe(true);

    // Second run: nothing to do, nothing written (same inode: no rename happened).
    const inode = (await stat(path)).ino;
    const second = await run(params);
    expect(second).toMatchObject({ changed: false });
    expect(second.undo).toBeUndefined();
    expect((await stat(path)).ino).toBe(inode);

    const ctx = await env.ctx(params);
    await filePatchTask.rollback!(ctx, JSON.parse(JSON.stringify(undo)));
    expect(await readFile(path, 'utf8')).toBe(original);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const restoredInode = (await stat(path)).ino;
    await filePatchTask.rollback!(ctx, undo);
    expect((await stat(path)).ino).toBe(restoredInode);
  });

  it('applies only the edits whose `when` is not false, in one write (a kubelet sees one change)', async () => {
    const path = join(env.remoteDir, 'etcd.yaml');
    await writeFile(path, fixture('etcd.yaml'), { mode: 0o600 });
    const r = await run({
      path,
      edits: [
        { op: 'set-flag', when: true, in: 'manifest', flag: 'trusted-ca-file', value: '/b.crt' },
        { op: 'set-flag', when: false, in: 'manifest', flag: 'peer-trusted-ca-file', value: '/b.crt' },
        { op: 'set-flag', in: 'manifest', flag: 'log-level', value: 'info' },
      ],
    });
    expect(r.summary).toBe(`${path}: --trusted-ca-file=/b.crt, --log-level=info`);
    const cmd = (parse(await readFile(path, 'utf8')) as { spec: { containers: Array<{ command: string[] }> } }).spec.containers[0]!.command;
    expect(cmd).toContain('--trusted-ca-file=/b.crt');
    expect(cmd).toContain('--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt');
    expect(r.files).toEqual([path]);
    // Every edit off: nothing to do, nothing written.
    const none = await run({ path, edits: [{ op: 'set-flag', when: false, in: 'manifest', flag: 'trusted-ca-file', value: '/c.crt' }] });
    expect(none.changed).toBe(false);
  });

  it('dry-run shows a unified diff that patch(1) applies, and changes nothing', async () => {
    const path = join(env.remoteDir, 'kube-apiserver.yaml');
    await writeFile(path, fixture('kube-apiserver.yaml'));
    const before = await stat(path);
    const plan = await filePatchTask.dryRun!(
      await env.ctx<Params>({
        path,
        edits: [
          { op: 'set-flag', in: 'manifest', flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' },
          { op: 'set-flag', in: 'manifest', flag: 'kubelet-certificate-authority', value: '/etc/kubernetes/pki/ca-bundle.crt' },
        ],
      }),
    );
    expect(plan.changed).toBe(true);
    expect(plan.summary).toContain('--client-ca-file=/etc/kubernetes/pki/ca-bundle.crt');
    const after = await stat(path);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(await readdir(join(env.stateDir))).not.toContain('backups');
    // The diff applies to a copy and gives the same result the real run writes.
    const copy = join(env.remoteDir, 'copy.yaml');
    await writeFile(copy, fixture('kube-apiserver.yaml'));
    await writeFile(join(env.remoteDir, 'p.diff'), plan.diff!);
    execFileSync('patch', ['-s', copy, join(env.remoteDir, 'p.diff')]);
    await run({
      path,
      edits: [
        { op: 'set-flag', in: 'manifest', flag: 'client-ca-file', value: '/etc/kubernetes/pki/ca-bundle.crt' },
        { op: 'set-flag', in: 'manifest', flag: 'kubelet-certificate-authority', value: '/etc/kubernetes/pki/ca-bundle.crt' },
      ],
    });
    expect(await readFile(copy, 'utf8')).toBe(await readFile(path, 'utf8'));
  });

  it('edits a systemd unit with continuations and keeps everything else byte for byte', async () => {
    const path = join(env.remoteDir, 'etcd.service');
    const original = fixture('etcd.service');
    await writeFile(path, original);
    const r = await run({
      path,
      edits: [
        { op: 'set-flag', in: 'unit', flag: 'trusted-ca-file', value: '/etc/etcd/ssl/ca-etcd-bundle.pem' },
        { op: 'set-flag', in: 'unit', flag: 'peer-trusted-ca-file', value: '/etc/etcd/ssl/ca-etcd-bundle.pem' },
      ],
    });
    expect(r.changed).toBe(true);
    const now = await readFile(path, 'utf8');
    expect(now).toBe(
      original
        .replace('--trusted-ca-file=/etc/etcd/ssl/ca-etcd.pem', '--trusted-ca-file=/etc/etcd/ssl/ca-etcd-bundle.pem')
        .replace('--peer-trusted-ca-file /etc/etcd/ssl/ca-etcd.pem', '--peer-trusted-ca-file /etc/etcd/ssl/ca-etcd-bundle.pem'),
    );
    // systemd itself would parse it: every continuation still ends in a backslash.
    expect(now.match(/ExecStart=[\s\S]*?--data-dir=\/var\/lib\/etcd\n/)![0].split('\n').slice(0, -2).every((l) => l.endsWith(' \\'))).toBe(true);
  });

  it('embeds a CA bundle artifact in a kubeconfig and redacts client keys in the diff', async () => {
    const path = join(env.remoteDir, 'admin.conf');
    await writeFile(path, fixture('admin.conf'), { mode: 0o600 });
    const ctx = await env.ctx<Params>({
      path,
      edits: [
        { op: 'kubeconfig-ca', ca: { artifact: 'bundles/k8s-ca-bundle.crt' } },
        { op: 'kubeconfig-user', user: 'kubernetes-admin', certificate: { artifact: 'hosts/node1/admin.crt' }, key: { artifact: 'hosts/node1/admin.key' } },
      ],
    });
    const bundle = '-----BEGIN CERTIFICATE-----\nNEW\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n';
    const key = '-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n';
    await ctx.state.writeArtifact('bundles/k8s-ca-bundle.crt', bundle);
    await ctx.state.writeArtifact('hosts/node1/admin.crt', 'CERT\n');
    await ctx.state.writeArtifact('hosts/node1/admin.key', key, { mode: 0o600 });
    const r = await filePatchTask.run(ctx);
    const doc = parse(await readFile(path, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
    expect(Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString()).toBe(bundle);
    expect(Buffer.from(doc.users[0]!.user['client-key-data']!, 'base64').toString()).toBe(key);
    const keyB64 = Buffer.from(key).toString('base64');
    expect(r.diff).toContain('client-key-data: [REDACTED]');
    expect(JSON.stringify(r)).not.toContain(keyB64);
    expect(JSON.stringify(r)).not.toContain('SECRETKEYMATERIAL');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // A missing artifact is an error that says which.
    const bad = await env.ctx<Params>({ path, edits: [{ op: 'kubeconfig-ca', ca: { artifact: 'nope.crt' } }] });
    await expect(filePatchTask.run(bad)).rejects.toThrow(/artifact nope.crt does not exist/);
  });

  it('sets a kubelet config path, deletes a path, and keeps comments', async () => {
    const path = join(env.remoteDir, 'config.yaml');
    await writeFile(path, fixture('kubelet-config.yaml'));
    await run({
      path,
      edits: [
        { op: 'set-path', path: 'authentication.x509.clientCAFile', value: '/etc/kubernetes/pki/ca-bundle.crt' },
        { op: 'delete-path', path: 'rotateCertificates' },
      ],
    });
    const now = await readFile(path, 'utf8');
    expect(now).toContain('clientCAFile: /etc/kubernetes/pki/ca-bundle.crt # rotated to the bundle in phase A');
    expect(now).not.toContain('rotateCertificates');
  });

  it('patches a root-only file as a sudo user, keeping mode and owner; hostile path names stay literal', async () => {
    const users = env.sshd.sudoUsers!;
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    try {
      const host = env.sshd.hostAs(users.nopasswd, { name: 'np', become: true });
      const transport = await pool.get(host);
      const path = join(env.remoteDir, `it's $(touch pwned); "x".conf`);
      await writeFile(path, 'KUBELET_EXTRA_ARGS=--v=2\n', { mode: 0o600 });
      const ctx = await env.ctx<Params>({ path, become: true, edits: [{ op: 'line', match: '^KUBELET_EXTRA_ARGS=', line: 'KUBELET_EXTRA_ARGS=--v=4' }] }, { host, transport });
      const r = await filePatchTask.run(ctx);
      expect(r.changed).toBe(true);
      expect(await readFile(path, 'utf8')).toBe('KUBELET_EXTRA_ARGS=--v=4\n');
      expect(execFileSync('stat', ['-c', '%a %U', path], { encoding: 'utf8' }).trim()).toBe('600 root');
      expect(await readdir(env.remoteDir)).toEqual([`it's $(touch pwned); "x".conf`]);
      await filePatchTask.rollback!(ctx, r.undo);
      expect(await readFile(path, 'utf8')).toBe('KUBELET_EXTRA_ARGS=--v=2\n');
    } finally {
      await pool.closeAll();
    }
  });

  it('refuses a missing file unless createIfMissing, and undo removes a created file', async () => {
    const path = join(env.remoteDir, 'extra.env');
    const err = (await run({ path, edits: [{ op: 'line', match: '^A=', line: 'A=1' }] }).catch((e: unknown) => e)) as KcarunError;
    expect(err.code).toBe('E_TASK');
    expect(err.message).toContain('does not exist');
    const r = await run({ path, createIfMissing: true, edits: [{ op: 'line', match: '^A=', line: 'A=1' }] });
    expect(await readFile(path, 'utf8')).toBe('A=1\n');
    expect(r.undo).toMatchObject({ existed: false });
    await filePatchTask.rollback!(await env.ctx<Params>({ path, edits: [] as unknown as Params['edits'] }), r.undo);
    await expect(stat(path)).rejects.toThrow();
  });
});
