/**
 * CA private keys go only to the hosts that held the old CA key: file-upload `onlyIfExists` (what
 * the stock switch stages use for every CA key) and preflight's `optional` CA keys, over a real sshd.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileUploadTask } from '../../../src/tasks/file-upload/index.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { useRemoteEnv } from './remote-env.js';

type UploadParams = Parameters<typeof fileUploadTask.run>[0]['params'];
type PreflightParams = Parameters<typeof preflightTask.run>[0]['params'];

describe('CA keys only where the old key was', () => {
  const env = useRemoteEnv();

  const newKey = async (): Promise<void> => {
    const ctx = await env.ctx({});
    const pem = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    await ctx.state.writeArtifact('ca/etcd-ca.key', pem, { mode: 0o600 });
  };

  it('file-upload onlyIfExists: a host without the old key gets nothing (plan and run say so); a host with it gets the new key, 0600', async () => {
    await newKey();
    const absent = join(env.remoteDir, 'member-without-key', 'ca.key');
    const params: UploadParams = { artifact: 'ca/etcd-ca.key', dest: absent, mode: '0600', onlyIfExists: true };
    const plan = await fileUploadTask.dryRun!(await env.ctx(params));
    expect(plan).toMatchObject({ changed: false, summary: `${absent} absent: would not be created (onlyIfExists)` });
    const skipped = await fileUploadTask.run(await env.ctx(params));
    expect(skipped).toMatchObject({ changed: false, summary: `${absent} absent: not created (onlyIfExists)` });
    expect(skipped.undo).toBeUndefined();
    expect(existsSync(absent)).toBe(false);
    expect(existsSync(join(env.remoteDir, 'member-without-key'))).toBe(false);

    const held = join(env.remoteDir, 'ca.key');
    await writeFile(held, 'old key\n', { mode: 0o600 });
    const replaced = await fileUploadTask.run(await env.ctx({ ...params, dest: held }));
    expect(replaced.changed).toBe(true);
    const ctx = await env.ctx({});
    expect(await readFile(held)).toEqual(await ctx.state.readArtifact('ca/etcd-ca.key'));
    expect((await stat(held)).mode & 0o777).toBe(0o600);
    // The uploaded key is a real key openssl reads.
    expect(execFileSync('openssl', ['pkey', '-in', held, '-noout', '-check'], { encoding: 'utf8' })).toMatch(/valid/i);
  });

  it('preflight: an optional CA key absent is fine, present and not matching is refused; a required one absent is refused by name', async () => {
    const dir = env.remoteDir;
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=etcd-ca'], { cwd: dir, stdio: 'pipe' });
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key'], { cwd: dir, stdio: 'pipe' });
    const run = async (caKeys: PreflightParams['caKeys']) =>
      preflightTask.run(await env.ctx<PreflightParams>({ hosts: [env.host.name], clockToleranceSeconds: 5, caKeys, lock: false }));

    await expect(run([{ cert: join(dir, 'ca.crt'), key: join(dir, 'absent.key'), optional: true }])).resolves.toMatchObject({ changed: false });
    await expect(run([{ cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key'), optional: true }])).resolves.toMatchObject({ changed: false });
    await expect(run([{ cert: join(dir, 'ca.crt'), key: join(dir, 'other.key'), optional: true }])).rejects.toThrow(`CA key ${join(dir, 'other.key')} does not match ${join(dir, 'ca.crt')}`);
    await expect(run([{ cert: join(dir, 'ca.crt'), key: join(dir, 'absent.key') }])).rejects.toThrow(`CA key ${join(dir, 'absent.key')} is missing (needed to sign on this host)`);
  });
});
