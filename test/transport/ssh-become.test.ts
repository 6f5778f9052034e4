import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError } from '../../src/core/errors.js';
import { createSshPool } from '../../src/transport/ssh.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

/** `become` as a non-root login user, with NOPASSWD sudo and with a password from the environment. */
describe('become (sudo) over a real sshd', () => {
  let sshd: SshdHarness;
  let dir: string;
  const logged: string[] = [];
  const log = { info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), debug: (m: string) => logged.push(m) };

  beforeAll(async () => {
    sshd = await startSshd({ name: 'sudo-node', sudoUsers: true });
    // Root-only directory: only sudo can write here.
    dir = await mkdtemp(join(tmpdir(), 'kcarun-become-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await sshd?.stop();
  });

  it('runs as the login user without become, and as root with NOPASSWD sudo', async () => {
    const users = sshd.sudoUsers!;
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, log });
    try {
      const t = await pool.get(sshd.hostAs(users.nopasswd, { name: 'np' }));
      expect((await t.exec('whoami')).stdout).toBe(`${users.nopasswd}\n`);
      const r = await t.exec('whoami; printf %s "$V"; pwd', { become: true, env: { V: `a'b $(id) ;c` }, cwd: dir });
      expect(r).toEqual({ stdout: `root\na'b $(id) ;c${dir}\n`, stderr: '', rc: 0 });
      // Files as root through sudo: atomic write with mode and owner, read, stat.
      const path = join(dir, 'apiserver.key');
      await t.writeFile(path, 'SECRET-KEY\n', { mode: 0o600, become: true });
      expect(await readFile(path, 'utf8')).toBe('SECRET-KEY\n');
      expect(execFileSync('stat', ['-c', '%a %U', path], { encoding: 'utf8' }).trim()).toBe('600 root');
      expect((await t.readFile(path, { become: true })).toString()).toBe('SECRET-KEY\n');
      expect(await t.stat(path, { become: true })).toMatchObject({ size: 11, mode: 0o600, uid: 0, isFile: true });
      expect(await t.stat(join(dir, 'none'), { become: true })).toBeNull();
      // Without become the same file is out of reach.
      await expect(t.readFile(path)).rejects.toMatchObject({ code: 'E_TASK' });
      // A timeout kills the root command too (through sudo).
      await expect(t.exec(`sleep 3; touch ${join(dir, 'late')}`, { become: true, timeoutMs: 300 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      await new Promise((r) => setTimeout(r, 3000));
      expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim()).toBe('apiserver.key');
    } finally {
      await pool.closeAll();
    }
  });

  it('feeds the sudo password from the environment on stdin, never on the command line or in logs', async () => {
    const users = sshd.sudoUsers!;
    const env = { ...process.env, KCARUN_TEST_SUDO_PW: users.passwordValue };
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, log, env });
    try {
      const host = sshd.hostAs(users.password, { name: 'pw', become: true, becomePasswordEnv: 'KCARUN_TEST_SUDO_PW' });
      const t = await pool.get(host);
      // The command's own stdin arrives intact after the password line was consumed by sudo.
      const r = await t.exec('whoami; cat; echo "[$SUDO_USER]"', { stdin: 'payload\n' });
      expect(r.rc).toBe(0);
      expect(r.stdout).toBe(`root\npayload\n[${users.password}]\n`);
      // A process list during a root command never shows the password.
      const ps = await t.exec('ps -eo args');
      expect(ps.stdout).not.toContain(users.passwordValue);
      const path = join(dir, 'kubelet.conf');
      await t.writeFile(path, 'data\n', { mode: 0o640 });
      expect(execFileSync('stat', ['-c', '%a %U', path], { encoding: 'utf8' }).trim()).toBe('640 root');
      expect(logged.join('\n')).not.toContain(users.passwordValue);
    } finally {
      await pool.closeAll();
    }
  });

  it('a connection cut during a sudo upload leaves the old file, never a partial one', async () => {
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, connectRetries: 0 });
    try {
      const t = await pool.get(sshd.hostAs(sshd.sudoUsers!.nopasswd, { name: 'np-cut', become: true }));
      const path = join(dir, 'bundle.pem');
      await t.writeFile(path, 'OLD\n');
      const upload = t.writeFile(path, Buffer.alloc(48 * 1024 * 1024, 'N'));
      // Cut once the temp file has started to fill.
      for (let i = 0; i < 600; i++) {
        const tmp = execFileSync('sh', ['-c', `ls -A ${dir} | grep kcarun || true`], { encoding: 'utf8' }).trim();
        if (tmp && execFileSync('sh', ['-c', `stat -c %s ${join(dir, tmp.split('\n')[0]!)} 2>/dev/null || echo 0`], { encoding: 'utf8' }).trim() !== '0') break;
        await new Promise((r) => setTimeout(r, 5));
      }
      // Only sshd dies: the root shell behind sudo lives on and sees its stdin end early.
      expect(await sshd.killSessions({ commandsSurvive: true })).toBeGreaterThan(0);
      await expect(upload).rejects.toBeInstanceOf(KcarunError);
      // Give the orphaned remote shell time to (wrongly) finish its steps, then look.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await readFile(path, 'utf8')).toBe('OLD\n');
      expect(execFileSync('sh', ['-c', `ls -A ${dir} | grep kcarun || true`], { encoding: 'utf8' }).trim()).toBe('');
    } finally {
      await pool.closeAll();
    }
  });

  it('fails with E_AUTH naming the variable when the password is missing or wrong, without the value', async () => {
    const users = sshd.sudoUsers!;
    const wrong = 'wrong-$(pw)';
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: { KCARUN_TEST_SUDO_PW: wrong } });
    try {
      const missing = await pool.get(sshd.hostAs(users.password, { name: 'pw-missing', become: true }));
      const e1 = (await missing.exec('true').catch((e: unknown) => e)) as KcarunError;
      expect(e1.code).toBe('E_AUTH');
      expect(e1.message).toContain('becomePasswordEnv');
      const bad = await pool.get(sshd.hostAs(users.password, { name: 'pw-bad', become: true, becomePasswordEnv: 'KCARUN_TEST_SUDO_PW' }));
      const e2 = (await bad.exec('true').catch((e: unknown) => e)) as KcarunError;
      expect(e2.code).toBe('E_AUTH');
      expect(e2.message).toContain('KCARUN_TEST_SUDO_PW');
      expect(e2.message).not.toContain(wrong);
      expect(JSON.stringify(e2.context)).not.toContain(wrong);
    } finally {
      await pool.closeAll();
    }
  });
});
