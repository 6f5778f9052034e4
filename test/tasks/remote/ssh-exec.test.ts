import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KcarunError } from '../../../src/core/errors.js';
import { sshExecTask } from '../../../src/tasks/ssh-exec/index.js';
import { createSshPool } from '../../../src/transport/ssh.js';
import { startRemoteEnv, type RemoteEnv } from './remote-env.js';

type Params = Parameters<typeof sshExecTask.run>[0]['params'];

describe('ssh-exec over a real sshd', () => {
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

  const run = async (params: Params) => sshExecTask.run(await env.ctx(params));

  it('registers stdout, stderr and rc; argv words with hostile values stay literal', async () => {
    const hostile = `a'b "c" $(touch ${join(env.remoteDir, 'pwned')}); d\ne`;
    const r = await run({ command: ['printf', '%s|', hostile, '`id`'], env: { X: hostile }, cwd: env.remoteDir });
    expect(r.output).toEqual({ stdout: `${hostile}|\`id\`|`, stderr: '', rc: 0 });
    const e = await run({ command: 'printf %s "$X"; pwd >&2', env: { X: hostile }, cwd: env.remoteDir });
    expect(e.output).toEqual({ stdout: hostile, stderr: `${env.remoteDir}\n`, rc: 0 });
    await expect(stat(join(env.remoteDir, 'pwned'))).rejects.toThrow();
  });

  it('fails with E_REMOTE_EXIT carrying the exit code and stderr tail, unless the code is expected', async () => {
    const err = (await run({ command: 'echo boom >&2; exit 3' }).catch((e: unknown) => e)) as KcarunError;
    expect(err.code).toBe('E_REMOTE_EXIT');
    expect(err.context).toMatchObject({ exitCode: 3, stderrTail: 'boom' });
    expect((await run({ command: 'exit 3', expectRc: [0, 3] })).output).toMatchObject({ rc: 3 });
  });

  it('honours creates/unless guards and retries until stdout matches', async () => {
    const marker = join(env.remoteDir, 'done');
    await writeFile(marker, '');
    expect(await run({ command: 'exit 1', creates: marker })).toMatchObject({ changed: false, output: { skipped: true } });
    expect(await run({ command: 'exit 1', unless: 'true' })).toMatchObject({ changed: false });
    const counter = join(env.remoteDir, 'n');
    const r = await run({ command: `echo x >> ${counter}; wc -l < ${counter}`, until: { stdoutMatches: '^3$', attempts: 5, delaySeconds: 0.05 } });
    expect((r.output as { stdout: string }).stdout.trim()).toBe('3');
  });

  it('runs as root with become as a sudo user', async () => {
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    try {
      const host = env.sshd.hostAs(env.sshd.sudoUsers!.nopasswd, { name: 'np' });
      const ctx = await env.ctx<Params>({ command: 'id -u', become: true }, { host, transport: await pool.get(host) });
      expect((await sshExecTask.run(ctx)).output).toMatchObject({ stdout: '0\n' });
      const plain = await env.ctx<Params>({ command: 'id -u' }, { host, transport: await pool.get(host) });
      expect((await sshExecTask.run(plain)).output).not.toMatchObject({ stdout: '0\n' });
      expect((await sshExecTask.dryRun!(ctx)).summary).toBe('would run: sudo id -u');
    } finally {
      await pool.closeAll();
    }
  });

  it('is E_UNREACHABLE, not a command failure, when the connection is cut while it runs', async () => {
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    try {
      const transport = await pool.get(env.sshd.host);
      const running = sshExecTask.run(await env.ctx<Params>({ command: 'sleep 5' }, { transport }));
      await new Promise((r) => setTimeout(r, 300));
      await env.sshd.killSessions();
      await expect(running).rejects.toMatchObject({ code: 'E_UNREACHABLE' });
    } finally {
      await pool.closeAll();
    }
  });
});
