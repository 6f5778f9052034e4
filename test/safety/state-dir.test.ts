import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';
import { writeLocalInventory, writePlaybook } from './fixture.js';

/*
 * Issue 13, items 4 and 6: a state dir kcarun cannot trust or use is refused with exit 2 and the
 * fix, before any host is touched; a CA placed in artifacts/ca by someone else never signs.
 */
let dir: string;
let cleanup: () => Promise<void>;
let inv: string;
let pb: string;
const marker = () => join(dir, 'touched');
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-state-'));
  inv = await writeLocalInventory(dir);
  // The one task would leave a marker: its absence shows no host was touched.
  pb = await writePlaybook(dir, 'p.yaml', `  - name: s\n    hosts: h1\n    tasks: [{ name: t, type: local-exec, with: { command: "touch ${join(dir, 'touched')}" } }]\n`);
});
afterEach(async () => cleanup());

async function run(stateDir: string) {
  const res = await runCli([pb, '-i', inv, '--yes', '--state-dir', stateDir], { cwd: dir });
  const { existsSync } = await import('node:fs');
  return { ...res, touched: existsSync(marker()) };
}

describe('the state dir must be ours alone (issue 13.4)', () => {
  it('refuses a pre-existing state dir others can write (0777), with the chmod that fixes it', async () => {
    const state = join(dir, 'state');
    await mkdir(state);
    await chmod(state, 0o777);
    const res = await run(state);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${state} is a directory others can write (mode 0777); fix: chmod go-w ${state}`);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.touched).toBe(false);
  });

  it('kcarun status refuses it too: a journal in a folder others can write is not reported as the run', async () => {
    const state = join(dir, 'state');
    expect((await runCli([pb, '-i', inv, '--yes', '--state-dir', state], { cwd: dir })).code).toBe(0);
    const ok = await runCli(['status', '-i', inv, '--state-dir', state], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('succeeded');
    await chmod(state, 0o1777);
    const res = await runCli(['status', '-i', inv, '--state-dir', state], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${state} is a directory others can write (mode 1777); fix: chmod go-w ${state}`);
    expect(res.stdout).toBe('');
    // A state dir that does not exist yet is simply "no run".
    const none = await runCli(['status', '-i', inv, '--state-dir', join(dir, 'nothing-here')], { cwd: dir });
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('no run recorded');
  });

  it('refuses a file inside it owned by another user, with the chown', async () => {
    const state = join(dir, 'state');
    await mkdir(join(state, 'artifacts', 'ca'), { recursive: true, mode: 0o700 });
    await writeFile(join(state, 'artifacts', 'ca', 'x.crt'), 'x');
    await chown(join(state, 'artifacts', 'ca', 'x.crt'), 65534, 65534);
    const res = await run(state);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`is owned by uid 65534, not by this user (uid ${process.getuid!()}); fix: chown -R ${process.getuid!()} ${join(state, 'artifacts', 'ca', 'x.crt')}`);
    expect(res.touched).toBe(false);
  });

  it('refuses a symlinked artifacts/ and writes nothing into its target', async () => {
    const state = join(dir, 'state');
    const elsewhere = join(dir, 'someone-elses');
    await mkdir(state, { mode: 0o700 });
    await mkdir(elsewhere, { mode: 0o700 });
    await symlink(elsewhere, join(state, 'artifacts'));
    const res = await run(state);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${join(state, 'artifacts')} is a symlink`);
    expect(res.stderr).toContain(`fix: rm ${join(state, 'artifacts')}`);
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('accepts the state dir itself as a symlink to a directory of ours', async () => {
    const real = join(dir, 'real-state');
    await mkdir(real, { mode: 0o700 });
    await symlink(real, join(dir, 'state'));
    const res = await run(join(dir, 'state'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.touched).toBe(true);
  });
});

describe('a state dir that cannot be used is answered before any host is touched (issue 13.6)', () => {
  const cases: [string, (d: string) => Promise<string>, RegExp][] = [
    ['is a file', async (d) => (await writeFile(join(d, 'f'), 'x'), join(d, 'f')), /state dir .*\/f: is a file, or under a file/],
    ['is under a file', async (d) => (await writeFile(join(d, 'f'), 'x'), join(d, 'f', 'state')), /is a file, or under a file/],
    ['is under /proc', async () => '/proc/self/kcarun-state', /is under \/proc, a kernel file system/],
    ['has a journal that is a directory', async (d) => (await mkdir(join(d, 's', 'journal.jsonl'), { recursive: true, mode: 0o700 }), join(d, 's')), /journal\.jsonl is not a file/],
  ];
  for (const [name, make, message] of cases) {
    it(`${name}: exit 2, the message, nothing run`, async () => {
      const res = await run(await make(dir));
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(res.touched).toBe(false);
    });
  }
});

describe('a CA in artifacts/ca is reused only if it is what the task asks for and kcarun made it (issue 13.4)', () => {
  async function plantCa(state: string, cn: string) {
    const ca = join(state, 'artifacts', 'ca');
    await mkdir(ca, { recursive: true, mode: 0o700 });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(ca, 'test.key'), '-out', join(ca, 'test.crt'), '-days', '30', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
    await chmod(join(ca, 'test.key'), 0o600);
  }
  const caPlaybook = () =>
    writePlaybook(dir, 'ca.yaml', `  - name: s\n    hosts: local\n    tasks: [{ name: ca, type: ca-generate, with: { name: test, commonName: kcarun-test-ca, keyType: rsa } }]\n`);

  it('refuses a planted CA with another subject', async () => {
    const state = join(dir, 'state');
    await plantCa(state, 'ATTACKER-CA');
    const res = await runCli([await caPlaybook(), '-i', inv, '--yes', '--state-dir', state], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toContain('has commonName "ATTACKER-CA", but the task asks for "kcarun-test-ca"');
    expect(res.stdout + res.stderr).not.toMatch(/reusing CA/);
  });

  it('refuses a planted CA with the right subject that no journal records', async () => {
    const state = join(dir, 'state');
    await plantCa(state, 'kcarun-test-ca');
    const res = await runCli([await caPlaybook(), '-i', inv, '--yes', '--state-dir', state], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toContain('was not made by kcarun: no journal of this state dir records it');
  });

  it('reuses the CA it made itself, in a later run', async () => {
    const state = join(dir, 'state');
    const first = await runCli([await caPlaybook(), '-i', inv, '--yes', '--state-dir', state], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const again = await runCli([await caPlaybook(), '-i', inv, '--yes', '--state-dir', state, '--output', 'json'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('reusing CA test (CN=kcarun-test-ca)');
  });
});
