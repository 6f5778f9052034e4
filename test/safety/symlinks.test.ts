import { lstat, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileUploadTask } from '../../src/tasks/file-upload/index.js';
import { filePatchTask } from '../../src/tasks/file-patch/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';
import { startRemoteEnv, type RemoteEnv } from '../tasks/remote/remote-env.js';

/*
 * Issue 13, item 3. The rule (docs/security.md): a write to a path that is a symlink goes through
 * to the link's final target, and the link stays; undo puts back exactly what was there: the
 * target's old content, the link untouched; a target the step created is removed, the link kept.
 * On the real sshd (SFTP) and on the local transport.
 */
type UploadParams = Parameters<typeof fileUploadTask.run>[0]['params'];
type PatchParams = Parameters<typeof filePatchTask.run>[0]['params'];

let env: RemoteEnv;
beforeAll(async () => {
  env = await startRemoteEnv();
});
afterAll(async () => {
  await env?.stop();
});
beforeEach(async () => {
  await env.fresh();
});

const transports: [string, () => Transport][] = [
  ['ssh', () => env.transport],
  ['local', () => new LocalTransport()],
];

describe.each(transports)('writes through symlinks, and undo keeps the link (%s transport)', (_name, transport) => {
  it('file-upload to a symlink: the target gets the content, the link stays; rollback restores the old content', async () => {
    const target = join(env.remoteDir, 'real.conf');
    const link = join(env.remoteDir, 'link.conf');
    await writeFile(target, 'old\n', { mode: 0o640 });
    await symlink('real.conf', link);
    const ctx = await env.ctx<UploadParams>({ dest: link, content: 'new\n' }, { transport: transport() });
    const done = await fileUploadTask.run(ctx);
    expect(done.changed).toBe(true);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('real.conf');
    expect(await readFile(target, 'utf8')).toBe('new\n');
    expect((await lstat(target)).mode & 0o777).toBe(0o640);

    await fileUploadTask.rollback!(ctx, done.undo);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('real.conf');
    expect(await readFile(target, 'utf8')).toBe('old\n');
  });

  it('file-patch through a symlink, then a failed stage rolls back: the link is still a link', async () => {
    const target = join(env.remoteDir, 'kubelet.yaml');
    const link = join(env.remoteDir, 'config.yaml');
    await writeFile(target, 'clientCAFile: /old/ca.crt\n');
    await symlink(target, link);
    const ctx = await env.ctx<PatchParams>({ path: link, edits: [{ op: 'set-path', path: 'clientCAFile', value: '/new/ca.crt' }] }, { transport: transport() });
    const done = await filePatchTask.run(ctx);
    expect(done.changed).toBe(true);
    expect(await readlink(link)).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('clientCAFile: /new/ca.crt\n');
    await filePatchTask.rollback!(ctx, done.undo);
    expect(await readlink(link)).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('clientCAFile: /old/ca.crt\n');
  });

  it('a dangling symlink: the write creates the target; undo removes it and keeps the link', async () => {
    const target = join(env.remoteDir, 'missing.crt');
    const link = join(env.remoteDir, 'current.crt');
    await symlink(target, link);
    const ctx = await env.ctx<UploadParams>({ dest: link, content: 'cert\n' }, { transport: transport() });
    const done = await fileUploadTask.run(ctx);
    expect(await readFile(target, 'utf8')).toBe('cert\n');
    expect(await readlink(link)).toBe(target);
    await fileUploadTask.rollback!(ctx, done.undo);
    expect(existsSync(target)).toBe(false);
    expect(await readlink(link)).toBe(target);
  });
});
