import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileFetchTask } from '../../../src/tasks/file-fetch/index.js';
import { fileUploadTask } from '../../../src/tasks/file-upload/index.js';
import { useRemoteEnv } from './remote-env.js';

type UploadParams = Parameters<typeof fileUploadTask.run>[0]['params'];
type FetchParams = Parameters<typeof fileFetchTask.run>[0]['params'];

const ownerOf = (path: string) => execFileSync('stat', ['-c', '%a %U:%G', path], { encoding: 'utf8' }).trim();

describe('file-upload and file-fetch over SSH', () => {
  const env = useRemoteEnv();

  it('uploads a key artifact as 0600, skips when the checksum matches, and undoes to the old file', async () => {
    const dest = join(env.remoteDir, 'apiserver.key');
    await writeFile(dest, 'OLD KEY\n', { mode: 0o640 });
    const params: UploadParams = { dest, artifact: 'hosts/node1/apiserver.key', owner: 'nobody', group: 'nogroup' };
    const ctx = await env.ctx(params);
    const key = '-----BEGIN EC PRIVATE KEY-----\nNEWKEY\n-----END EC PRIVATE KEY-----\n';
    await ctx.state.writeArtifact('hosts/node1/apiserver.key', key, { mode: 0o600 });

    const first = await fileUploadTask.run(ctx);
    expect(first.changed).toBe(true);
    expect(await readFile(dest, 'utf8')).toBe(key);
    expect(ownerOf(dest)).toBe('600 nobody:nogroup');
    expect(first.output).toMatchObject({ dest, sha256: execFileSync('sha256sum', [dest], { encoding: 'utf8' }).split(' ')[0] });
    expect(JSON.stringify(first)).not.toContain('NEWKEY');

    const inode = (await stat(dest)).ino;
    const second = await fileUploadTask.run(await env.ctx(params));
    expect(second.changed).toBe(false);
    expect((await stat(dest)).ino).toBe(inode);
    expect((await fileUploadTask.dryRun!(await env.ctx(params))).changed).toBe(false);

    await fileUploadTask.rollback!(ctx, first.undo);
    expect(await readFile(dest, 'utf8')).toBe('OLD KEY\n');
    expect(ownerOf(dest)).toBe('640 root:root');
  });

  it('rewrites when only the mode differs, and creates new files (undo removes them)', async () => {
    const dest = join(env.remoteDir, 'ca-bundle.crt');
    const content = '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n';
    const created = await fileUploadTask.run(await env.ctx<UploadParams>({ dest, content, mode: '0644' }));
    expect(created.changed).toBe(true);
    expect(ownerOf(dest)).toBe('644 root:root');
    const plan = await fileUploadTask.dryRun!(await env.ctx<UploadParams>({ dest, content, mode: '0444' }));
    expect(plan).toMatchObject({ changed: true, summary: expect.stringContaining('mode 644 -> 444') });
    const modeOnly = await fileUploadTask.run(await env.ctx<UploadParams>({ dest, content, mode: '0444' }));
    expect(modeOnly.changed).toBe(true);
    expect(ownerOf(dest)).toBe('444 root:root');
    await fileUploadTask.rollback!(await env.ctx<UploadParams>({ dest, content }), created.undo);
    await expect(stat(dest)).rejects.toThrow();
  });

  it('refuses a missing artifact and a task with both or neither source', async () => {
    const dest = join(env.remoteDir, 'x');
    await expect(fileUploadTask.run(await env.ctx<UploadParams>({ dest, artifact: 'missing.crt' }))).rejects.toThrow(/artifact missing.crt does not exist/);
    await expect(fileUploadTask.run(await env.ctx<UploadParams>({ dest }))).rejects.toMatchObject({ code: 'E_SCHEMA' });
  });

  it('fetches host files into the state dir (keys 0600), reporting changed only when different', async () => {
    const src = join(env.remoteDir, 'etcd', 'peer.key');
    execFileSync('mkdir', ['-p', join(env.remoteDir, 'etcd')]);
    const data = Buffer.concat([Buffer.from('-----BEGIN RSA PRIVATE KEY-----\n'), Buffer.from([0, 255, 1, 254]), Buffer.from('\n-----END RSA PRIVATE KEY-----\n')]);
    await writeFile(src, data, { mode: 0o600 });
    const params: FetchParams = { src, artifact: 'hosts/node1/etcd/peer.key' };
    const first = await fileFetchTask.run(await env.ctx(params));
    const local = join(env.stateDir, 'artifacts', 'hosts/node1/etcd/peer.key');
    expect((await readFile(local)).equals(data)).toBe(true);
    expect((await stat(local)).mode & 0o777).toBe(0o600);
    expect(first).toMatchObject({ changed: true, output: { exists: true, size: data.length } });
    expect((await fileFetchTask.run(await env.ctx(params))).changed).toBe(false);
    const missing = await fileFetchTask.run(await env.ctx<FetchParams>({ src: join(env.remoteDir, 'none'), artifact: 'a', missingOk: true }));
    expect(missing).toMatchObject({ changed: false, output: { exists: false } });
    await expect(fileFetchTask.run(await env.ctx<FetchParams>({ src: join(env.remoteDir, 'none'), artifact: 'a' }))).rejects.toMatchObject({ code: 'E_TASK' });
  });
});
