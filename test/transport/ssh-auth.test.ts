import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KcarunError } from '../../src/core/errors.js';
import { createSshPool } from '../../src/transport/ssh.js';
import { keygen, startSshd, type SshdHarness } from '../helpers/sshd.js';

/** Identity files with a passphrase from the environment, and ssh-agent, against a real sshd. */
describe('ssh authentication', () => {
  let sshd: SshdHarness;
  let dir: string;
  let agent: ChildProcess | undefined;
  const passphrase = `pa ss'"$(phrase)`;

  beforeAll(async () => {
    sshd = await startSshd({ name: 'auth-node' });
    dir = await mkdtemp(join(tmpdir(), 'kcarun-auth-'));
    await keygen(join(dir, 'locked'), 'ed25519', passphrase);
    await keygen(join(dir, 'agent_key'));
    const pubs = execFileSync('cat', [join(dir, 'locked.pub'), join(dir, 'agent_key.pub')], { encoding: 'utf8' });
    await appendFile(join(sshd.dir, 'authorized_keys', 'root'), pubs);
  });
  afterAll(async () => {
    if (agent?.pid) agent.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
    await sshd?.stop();
  });

  it('unlocks an encrypted identity with the passphrase from the named env var, and says which var is missing', async () => {
    const host = sshd.hostAs('root', { ssh: { identityFile: join(dir, 'locked'), identityPassphraseEnv: 'KC_TEST_PASSPHRASE' } });
    const logs: string[] = [];
    const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), debug: (m: string) => logs.push(m) };
    const ok = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: { KC_TEST_PASSPHRASE: passphrase }, log });
    expect((await (await ok.get(host)).exec('echo unlocked')).stdout).toBe('unlocked\n');
    await ok.closeAll();
    expect(logs.join('\n')).not.toContain(passphrase);

    const missing = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: {} });
    const e1 = (await missing.get(host).catch((e: unknown) => e)) as KcarunError;
    expect(e1.code).toBe('E_AUTH');
    expect(e1.message).toContain('KC_TEST_PASSPHRASE');

    const wrong = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: { KC_TEST_PASSPHRASE: 'not-it-$(x)' } });
    const e2 = (await wrong.get(host).catch((e: unknown) => e)) as KcarunError;
    expect(e2.code).toBe('E_AUTH');
    expect(`${e2.message}${JSON.stringify(e2.context)}`).not.toContain('not-it-$(x)');
  });

  it('logs in through ssh-agent (SSH_AUTH_SOCK) without an identity file', async () => {
    const sock = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('ssh-add', [join(dir, 'agent_key')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const host = sshd.hostAs('root', { ssh: { identityFile: undefined, useAgent: true } });
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: { SSH_AUTH_SOCK: sock } });
    expect((await (await pool.get(host)).exec('echo via-agent')).stdout).toBe('via-agent\n');
    await pool.closeAll();
    const noAgent = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, env: {} });
    await expect(noAgent.get(host)).rejects.toMatchObject({ code: 'E_AUTH', message: expect.stringContaining('no identity file and no ssh-agent') });
  });
});
