import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KcarunError } from '../../src/core/errors.js';
import { shellJoin } from '../../src/core/shell.js';
import { createSshPool, type SshPool } from '../../src/transport/ssh.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

/** The SHA256 fingerprint as OpenSSH itself prints it, to cross-check ours. */
function opensshFingerprint(pubLine: string, dir: string): string {
  const f = join(dir, 'k.pub');
  execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', pubLine, f]);
  return execFileSync('ssh-keygen', ['-lf', f], { encoding: 'utf8' }).split(' ')[1]!;
}

async function expectError(p: Promise<unknown>, code: string): Promise<KcarunError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KcarunError);
  expect((err as KcarunError).code).toBe(code);
  return err as KcarunError;
}

describe('ssh transport against a real sshd', () => {
  let sshd: SshdHarness;
  let pool: SshPool;
  let dir: string;

  beforeAll(async () => {
    sshd = await startSshd({ name: 'node1' });
  });
  afterAll(async () => {
    await sshd?.stop();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcarun-ssh-test-'));
    pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, connectRetries: 0 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs commands over one reused connection, with exit codes and stderr', async () => {
    const t = await pool.get(sshd.host);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => t.exec(`echo out${i}; echo err${i} >&2; exit ${i % 3}`)),
    );
    results.forEach((r, i) => {
      expect(r).toEqual({ stdout: `out${i}\n`, stderr: `err${i}\n`, rc: i % 3 });
    });
    expect(await pool.get(sshd.host)).toBe(t);
    expect(pool.opened).toBe(1);
  });

  it('keeps concurrent channels below MaxSessions and shares one connect between concurrent gets', async () => {
    const [a, b] = await Promise.all([pool.get(sshd.host), pool.get(sshd.host)]);
    expect(a).toBe(b);
    // 20 sleeping commands at once: without the bound, sshd refuses channels past MaxSessions 10.
    const started = Date.now();
    const res = await Promise.all(Array.from({ length: 20 }, () => a.exec('sleep 0.3; echo ok')));
    expect(res.every((r) => r.rc === 0 && r.stdout === 'ok\n')).toBe(true);
    // 8 at a time -> three waves of 0.3 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(pool.opened).toBe(1);
  });

  it('keeps hostile env, cwd and argv values literal', async () => {
    const t = await pool.get(sshd.host);
    const hostile = [`it's "quoted"`, '$(touch /tmp/kcarun-pwned)', '`id`', 'a; echo injected', 'line1\nline2', '$HOME', '\\', '*'];
    const cwd = join(dir, `we'ird $(dir); x`);
    execFileSync('mkdir', ['-p', cwd]);
    for (const value of hostile) {
      const r = await t.exec(`printf '%s' "$V"; printf '|'; pwd; ${shellJoin(['printf', '%s', value])}`, { env: { V: value }, cwd });
      expect(r.rc).toBe(0);
      expect(r.stdout).toBe(`${value}|${cwd}\n${value}`);
    }
    await expect(stat('/tmp/kcarun-pwned')).rejects.toThrow();
  });

  it('rejects an invalid env var name instead of building a command with it', async () => {
    const t = await pool.get(sshd.host);
    await expectError(t.exec('true', { env: { 'A;rm -rf /': 'x' } }), 'E_TASK');
  });

  it('kills a command on timeout with E_TIMEOUT and keeps the connection usable', async () => {
    const t = await pool.get(sshd.host);
    const marker = join(dir, 'finished');
    const started = Date.now();
    const err = await expectError(t.exec(`sleep 3; touch ${marker}`, { timeoutMs: 300 }), 'E_TIMEOUT');
    expect(err.message).toContain('timed out after 300 ms');
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await t.exec('echo alive')).stdout).toBe('alive\n');
    await new Promise((r) => setTimeout(r, 3200));
    await expect(stat(marker)).rejects.toThrow();
  });

  it('passes stdin and reports the exit status of a signalled command as 128+n', async () => {
    const t = await pool.get(sshd.host);
    expect((await t.exec('cat | tr a-z A-Z', { stdin: 'hello\n' })).stdout).toBe('HELLO\n');
    expect((await t.exec('kill -TERM $$')).rc).toBe(128 + 15);
  });

  it('writes files atomically with mode and owner, reads and stats them', async () => {
    const t = await pool.get(sshd.host);
    const path = join(dir, 'ca.key');
    const data = Buffer.concat([Buffer.from('-----BEGIN KEY-----\n'), Buffer.alloc(300_000, 7)]);
    await t.writeFile(path, data, { mode: 0o600, owner: 'nobody', group: 'nogroup' });
    const s = await stat(path);
    expect(s.mode & 0o777).toBe(0o600);
    expect(execFileSync('stat', ['-c', '%U:%G', path], { encoding: 'utf8' }).trim()).toBe('nobody:nogroup');
    expect((await readFile(path)).equals(data)).toBe(true);
    expect((await t.readFile(path)).equals(data)).toBe(true);
    const st = await t.stat(path);
    expect(st).toMatchObject({ size: data.length, mode: 0o600, isFile: true, isDirectory: false });
    expect(await t.stat(join(dir, 'missing'))).toBeNull();
    await expectError(t.readFile(join(dir, 'missing')), 'E_TASK');
    // Rewriting keeps the existing mode and owner when none is given, and leaves no temp file.
    await t.writeFile(path, 'second');
    expect(await readFile(path, 'utf8')).toBe('second');
    expect(execFileSync('stat', ['-c', '%a %U', path], { encoding: 'utf8' }).trim()).toBe('600 nobody');
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim()).toBe('ca.key');
  });

  it('reports an unreachable host as E_UNREACHABLE after retries, distinct from a failing command', async () => {
    const retrying = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, connectRetries: 2, backoffMs: 50 });
    const host = { ...sshd.host, name: 'down', port: 1 };
    const started = Date.now();
    const err = await expectError(retrying.get(host), 'E_UNREACHABLE');
    expect(err.message).toMatch(/^down: cannot connect to root@127\.0\.\d+\.\d+:1: .*ECONNREFUSED/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150); // 50 + 100 ms of backoff
    await retrying.closeAll();
  });

  it('refuses an unknown host key with its SHA256 fingerprint and how to accept it', async () => {
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, '# nothing yet\n');
    const host = sshd.hostAs('root', { ssh: { knownHostsFile } });
    const err = await expectError(pool.get(host), 'E_HOST_KEY');
    const fp = opensshFingerprint(sshd.hostPublicKey, dir);
    expect(err.message).toContain(fp);
    expect(err.message).toContain('--accept-new-host-keys');
    expect(err.message).toContain('not known');
    expect(await readFile(knownHostsFile, 'utf8')).toBe('# nothing yet\n');
  });

  it('--accept-new-host-keys adds an unknown key, which ssh itself then accepts', async () => {
    const knownHostsFile = join(dir, 'known_hosts');
    const accepting = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, acceptNewHostKeys: true });
    const host = sshd.hostAs('root', { ssh: { knownHostsFile } });
    const t = await accepting.get(host);
    expect((await t.exec('echo hi')).stdout).toBe('hi\n');
    await accepting.closeAll();
    const out = execFileSync(
      'ssh',
      ['-i', sshd.identityFile, '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(sshd.port), `root@${sshd.address}`, 'echo via-openssh'],
      { encoding: 'utf8' },
    );
    expect(out).toBe('via-openssh\n');
    // A second run finds the key and needs no flag.
    const strict = createSshPool({ resolveHost: () => undefined, sshConfigPath: null });
    expect((await (await strict.get(host)).exec('echo again')).stdout).toBe('again\n');
    await strict.closeAll();
  });

  it('refuses a changed host key, even with --accept-new-host-keys, and accepts hashed entries', async () => {
    const knownHostsFile = join(dir, 'known_hosts');
    const other = join(dir, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const otherPub = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(knownHostsFile, `[${sshd.address}]:${sshd.port} ${otherPub}\n`);
    const accepting = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, acceptNewHostKeys: true });
    const host = sshd.hostAs('root', { ssh: { knownHostsFile } });
    const err = await expectError(accepting.get(host), 'E_HOST_KEY');
    expect(err.message).toContain('HOST KEY CHANGED');
    expect(err.message).toContain(opensshFingerprint(sshd.hostPublicKey, dir));
    expect(await readFile(knownHostsFile, 'utf8')).toBe(`[${sshd.address}]:${sshd.port} ${otherPub}\n`);
    await accepting.closeAll();

    // The right key, hashed by ssh-keygen -H, is accepted.
    await writeFile(knownHostsFile, `[${sshd.address}]:${sshd.port} ${sshd.hostPublicKey}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', knownHostsFile], { stdio: 'ignore' });
    expect(await readFile(knownHostsFile, 'utf8')).toMatch(/^\|1\|/);
    const t = await pool.get(host);
    expect((await t.exec('echo hashed-ok')).stdout).toBe('hashed-ok\n');
  });

  it('uses ~/.ssh/config for aliases, HostName, Port, User and IdentityFile', async () => {
    const configPath = join(dir, 'config');
    await writeFile(configPath, `Host mynode\n  HostName ${sshd.address}\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.identityFile}\n`);
    const p = createSshPool({ resolveHost: () => undefined, sshConfigPath: configPath });
    const host = { name: 'aliased', address: 'mynode', port: 22, user: '', groups: [], vars: {}, become: false, ssh: { knownHostsFile: sshd.knownHostsFile, useAgent: false } };
    const t = await p.get(host);
    expect((await t.exec('whoami')).stdout).toBe('root\n');
    await p.closeAll();
  });

  it('reports a connection cut mid-command as E_UNREACHABLE, then reconnects', async () => {
    const t = await pool.get(sshd.host);
    const running = t.exec('sleep 5; echo done');
    await new Promise((r) => setTimeout(r, 300));
    expect(await sshd.killSessions()).toBeGreaterThan(0);
    const err = await expectError(running, 'E_UNREACHABLE');
    expect(err.message).toContain('sleep 5');
    expect((await t.exec('echo back')).stdout).toBe('back\n');
    expect(pool.opened).toBe(2);
  });

  it('never leaves a partial file when the connection is cut during an upload', async () => {
    const t = await pool.get(sshd.host);
    const path = join(dir, 'bundle.pem');
    const oldContent = 'OLD\n'.repeat(1000);
    await writeFile(path, oldContent);
    const big = Buffer.alloc(64 * 1024 * 1024, 'N');
    const upload = t.writeFile(path, big, { mode: 0o644 });
    // Cut as soon as the temp file has started to grow.
    for (let i = 0; i < 400; i++) {
      const tmp = execFileSync('sh', ['-c', `ls -A ${dir} | grep kcarun || true`], { encoding: 'utf8' }).trim();
      if (tmp && (await stat(join(dir, tmp)).then((s) => s.size > 0, () => false))) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    await sshd.killSessions();
    await expectError(upload, 'E_UNREACHABLE');
    const now = await readFile(path);
    expect(now.toString()).toBe(oldContent);
  });
});
