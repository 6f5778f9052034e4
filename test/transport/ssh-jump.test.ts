import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo } from '../../src/tasks/define.js';
import { createSshPool } from '../../src/transport/ssh.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

/** Which process owns the local TCP socket with this source port (ss -tnp), and whether it descends from `ancestor`. */
function socketOwnedBy(sourcePort: number, ancestor: number): boolean {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${sourcePort} )`], { encoding: 'utf8' });
  const pids = [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
  return pids.some((pid) => {
    for (let p = pid; p > 1; ) {
      if (p === ancestor) return true;
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    }
    return false;
  });
}

/** A bastion and a target sshd; the target's TCP peer must be the bastion's sshd process. */
describe('ProxyJump through a real sshd bastion', () => {
  let bastion: SshdHarness;
  let target: SshdHarness;
  let dir: string;

  beforeAll(async () => {
    bastion = await startSshd({ name: 'bastion' });
    target = await startSshd({ name: 'target', identityFile: bastion.identityFile });
    dir = await mkdtemp(join(tmpdir(), 'kcarun-jump-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await target?.stop();
    await bastion?.stop();
  });

  it('reaches the target through an inventory jump host, sharing the bastion connection', async () => {
    const hosts = new Map<string, HostInfo>([['bastion', bastion.host]]);
    const pool = createSshPool({ resolveHost: (n) => hosts.get(n), sshConfigPath: null });
    const host = target.hostAs('root', { ssh: { proxyJump: 'bastion' } });
    const t = await pool.get(host);
    const client = (await t.exec('echo "$SSH_CLIENT"')).stdout.split(' ');
    // The connection to the target comes from the bastion's sshd, not from this process.
    expect(socketOwnedBy(Number(client[1]), bastion.pid)).toBe(true);
    const second = await pool.get({ ...host, name: 'target-again' });
    expect((await second.exec('echo ok')).stdout).toBe('ok\n');
    // bastion once, target twice (two inventory names): 3 connections.
    expect(pool.opened).toBe(3);
    await pool.closeAll();
  });

  it('reaches the target through a user@host:port jump spec and checks both host keys', async () => {
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, `[${bastion.address}]:${bastion.port} ${bastion.hostPublicKey}\n[${target.address}]:${target.port} ${target.hostPublicKey}\n`);
    const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    const host = target.hostAs('root', { ssh: { proxyJump: `root@${bastion.address}:${bastion.port}`, knownHostsFile } });
    const t = await pool.get(host);
    const client = (await t.exec('echo "$SSH_CLIENT"')).stdout.split(' ');
    expect(socketOwnedBy(Number(client[1]), bastion.pid)).toBe(true);
    await pool.closeAll();

    // The target's key missing from known_hosts: refused even though the bastion is fine.
    await writeFile(knownHostsFile, `[${bastion.address}]:${bastion.port} ${bastion.hostPublicKey}\n`);
    const strict = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    await expect(strict.get(host)).rejects.toMatchObject({ code: 'E_HOST_KEY', message: expect.stringContaining('target') });
    await strict.closeAll();
  });
});
