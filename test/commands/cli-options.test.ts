/** Each command owns its option table: a flag it does not have is refused (exit 2), documented ones still work. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonEvents, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-options-'));
  await writeFile(join(dir, 'inventory.yaml'), 'apiVersion: kcarun/v1\nkind: Inventory\nhosts:\n  a: { connection: local }\n  b: { connection: local }\n');
  await writeFile(
    join(dir, 'pb.yaml'),
    `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: options, version: 1.0.0 }
vars: { greeting: hi }
stages:
  - name: first
    hosts: all
    tasks:
      - { name: hello, type: local-exec, tags: [t], with: { command: "echo {{ greeting }}" } }
  - name: second
    hosts: all
    tasks:
      - { name: bye, type: local-exec, with: { command: "true" } }
`,
  );
});
afterEach(async () => cleanup());

const refused = (stderr: string, command: string, option: string) =>
  expect(stderr).toBe(`error: kcarun ${command}: unknown option '${option}' (kcarun ${command} --help lists its options)\n`);

describe('per-command options', () => {
  it('refuses a run flag given to status, validate or rollback, with exit 2 and the command named', async () => {
    const status = await runCli(['status', '-i', 'inventory.yaml', '--dry-run'], { cwd: dir });
    expect(status.code).toBe(2);
    refused(status.stderr, 'status', '--dry-run');
    expect(status.stdout).toBe('');

    const validate = await runCli(['validate', 'pb.yaml', '--yes'], { cwd: dir });
    expect(validate.code).toBe(2);
    refused(validate.stderr, 'validate', '--yes');

    const rollback = await runCli(['rollback', '-i', 'inventory.yaml', '--limit', 'a'], { cwd: dir });
    expect(rollback.code).toBe(2);
    refused(rollback.stderr, 'rollback', '--limit');

    const inspect = await runCli(['certs', 'inspect', 'pb.yaml', '--warn-days', '3'], { cwd: dir });
    expect(inspect.code).toBe(2);
    refused(inspect.stderr, 'certs inspect', '--warn-days');
  });

  it('refuses a bad value, a missing required option and a stray argument (exit 2)', async () => {
    const output = await runCli(['status', '-i', 'inventory.yaml', '--output', 'xml'], { cwd: dir });
    expect(output.code).toBe(2);
    expect(output.stderr).toMatch(/^error: kcarun status: option '-o, --output <mode>' argument 'xml' is invalid\. Allowed choices are auto, plain, json\./);
    const forks = await runCli(['pb.yaml', '-i', 'inventory.yaml', '--dry-run', '--forks', '0'], { cwd: dir });
    expect(forks.code).toBe(2);
    expect(forks.stderr).toBe('error: --forks must be a whole number from 1 to 9999, not "0"\n');
    // -i twice: refused, not the last one silently (hostile-input review).
    const twice = await runCli(['pb.yaml', '-i', 'inventory.yaml', '-i', 'other.yaml', '--dry-run'], { cwd: dir });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/option '-i, --inventory <file>' argument 'other\.yaml' is invalid\. given twice \(inventory\.yaml, then other\.yaml\); give it once/);
    const expiry = await runCli(['certs', 'expiry'], { cwd: dir });
    expect(expiry.code).toBe(2);
    expect(expiry.stderr).toMatch(/required option '-i, --inventory <file>' not specified/);
    const stray = await runCli(['validate', 'pb.yaml', 'other.yaml'], { cwd: dir });
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/^error: kcarun validate: too many arguments/);
    const typo = await runCli(['status', '--ouput', 'json'], { cwd: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/\(Did you mean --output\?\)/);
  });

  it('accepts every documented run option (README "Usage"), short forms included', async () => {
    const all = await runCli(
      ['run', 'pb.yaml', '-i', 'inventory.yaml', '--dry-run', '-e', 'greeting=hello', '-e', 'x=1', '--yes', '--fresh', '--force', '--start-at', 'first',
        '--limit', 'a', '--tags', 't', '--skip-tags', 'never', '--forks', '2', '--state-dir', 'st', '--output', 'json', '--accept-new-host-keys', '--break-lock', '-v'],
      { cwd: dir },
    );
    expect(all.code, all.stderr).toBe(0);
    const ends = jsonEvents(all.stdout).filter((e) => e.event === 'task-end');
    expect(ends.map((e) => [e.task, e.host])).toEqual([['hello', 'a']]);
    expect(ends[0]!.summary).toBe('would run: echo hello');

    const short = await runCli(['pb.yaml', '-i', 'inventory.yaml', '--check', '-l', 'b', '-t', 't', '-f', '1', '-o', 'json'], { cwd: dir });
    expect(short.code, short.stderr).toBe(0);
    expect(jsonEvents(short.stdout).filter((e) => e.event === 'task-end').map((e) => [e.task, e.host])).toEqual([['hello', 'b']]);

    // --resume is accepted; with no run to resume, the dry run refuses as the run would (exit 2).
    const resume = await runCli(['pb.yaml', '-i', 'inventory.yaml', '--dry-run', '--resume', '-o', 'json', '--state-dir', 'never-ran'], { cwd: dir });
    expect(resume.code, resume.stderr).toBe(2);
    expect(resume.stderr).toMatch(/--resume: no run to resume in/);
    expect(jsonEvents(resume.stdout)).toMatchObject([{ event: 'error', code: 'E_RESUME', exitCode: 2, message: expect.stringMatching(/^--resume: no run to resume in/) }]);
    // A dry run leaves a state dir that does not exist yet uncreated (docs/playbook.md).
    const dry = await runCli(['pb.yaml', '-i', 'inventory.yaml', '--dry-run', '--state-dir', 'dry-only'], { cwd: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(existsSync(join(dir, 'dry-only'))).toBe(false);
  });

  it('without --yes and without a terminal: exit 2, nothing run; with --output json the plan goes to stderr, stdout stays JSON-only (the error)', async () => {
    const json = await runCli(['pb.yaml', '-i', 'inventory.yaml', '-o', 'json', '--state-dir', 'no-yes'], { cwd: dir });
    expect(json.code).toBe(2);
    expect(jsonEvents(json.stdout)).toMatchObject([{ event: 'error', code: 'E_USAGE', exitCode: 2, message: expect.stringMatching(/needs --yes/) }]);
    expect(json.stderr).toMatch(/^Plan: /m);
    expect(json.stderr).toMatch(/needs --yes/);
    const plain = await runCli(['pb.yaml', '-i', 'inventory.yaml', '-o', 'plain', '--state-dir', 'no-yes'], { cwd: dir });
    expect(plain.code).toBe(2);
    expect(plain.stdout).toMatch(/^Plan: /);
  });

  it('with --output json, every failure it reports is also one JSON line on stdout, with the documented exit code', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'apiVersion: kcarun/v1\nkind: Playbook\nmetadata: { name: bad, version: 1.0.0 }\nstages:\n  - name: s\n    hosts: nowhere\n    tasks: [{ name: t, type: local-exec, with: { command: "true", wat: 1 } }]\n');
    const invalid = await runCli(['bad.yaml', '-i', 'inventory.yaml', '--dry-run', '--output', 'json'], { cwd: dir });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('bad.yaml:6:5: ');
    const [error, ...more] = jsonEvents(invalid.stdout);
    expect(more).toEqual([]);
    expect(error).toMatchObject({ event: 'error', code: 'E_SCHEMA', exitCode: 2 });
    expect(error!.ts).toMatch(/^\d{4}-\d\d-\d\dT/);
    const errors = error!.errors as Array<Record<string, unknown>>;
    expect(errors.map((e) => [e.file, e.line, e.col])).toEqual([
      [join(dir, 'bad.yaml'), 6, 5],
      [join(dir, 'bad.yaml'), 7, 67],
    ]);
    expect(errors[0]!.message).toMatch(/unknown host or group "nowhere"/);
    expect(errors[1]!.message).toMatch(/unknown key "wat"/);

    // A bad option: refused while parsing, before --output is even read (--output=json and -ojson too).
    for (const out of [['-o', 'json'], ['--output=json'], ['-ojson']]) {
      const forks = await runCli(['pb.yaml', '-i', 'inventory.yaml', '--forks', '0', ...out], { cwd: dir });
      expect(forks.code).toBe(2);
      expect(jsonEvents(forks.stdout)).toMatchObject([{ event: 'error', code: 'E_USAGE', exitCode: 2, message: '--forks must be a whole number from 1 to 9999, not "0"' }]);
    }
    const unknown = await runCli(['status', '-i', 'inventory.yaml', '--bogus', '-o', 'json'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(jsonEvents(unknown.stdout)).toMatchObject([{ event: 'error', code: 'E_USAGE', message: expect.stringMatching(/unknown option '--bogus'/) }]);

    // validate --output json (a CI job checking a customised playbook): the same error line for a bad
    // one, one `valid` line with its counts for a good one, stdout JSON-only in both.
    const badValidate = await runCli(['validate', 'bad.yaml', '-i', 'inventory.yaml', '-o', 'json'], { cwd: dir });
    expect(badValidate.code).toBe(2);
    const [vError, ...vMore] = jsonEvents(badValidate.stdout);
    expect(vMore).toEqual([]);
    expect(vError).toMatchObject({ event: 'error', code: 'E_SCHEMA', exitCode: 2 });
    expect((vError!.errors as Array<Record<string, unknown>>).map((e) => [e.line, e.col])).toEqual([
      [6, 5],
      [7, 67],
    ]);
    const good = await runCli(['validate', 'pb.yaml', '-i', 'inventory.yaml', '--output=json', '-e', '{ greeting: hello }'], { cwd: dir });
    expect(good.code, good.stderr).toBe(0);
    expect(jsonEvents(good.stdout)).toMatchObject([{ event: 'valid', playbook: 'pb.yaml', name: 'options', version: '1.0.0', stages: 2, tasks: 2, skipped: [] }]);
    const goodPlain = await runCli(['validate', 'pb.yaml', '-i', 'inventory.yaml'], { cwd: dir });
    expect(goodPlain.stdout).toBe('pb.yaml: valid (options 1.0.0, 2 stages, 2 tasks)\n');

    // Without JSON, stdout stays as it was: the error is on stderr only.
    const plain = await runCli(['bad.yaml', '-i', 'inventory.yaml', '--dry-run'], { cwd: dir });
    expect(plain.code).toBe(2);
    expect(plain.stdout).toBe('');
    // -o json after `--` is an argument, not the option.
    const arg = await runCli(['validate', 'bad.yaml', '-i', 'inventory.yaml', '--', '-o', 'json'], { cwd: dir });
    expect(arg.code).toBe(2);
    expect(arg.stdout).toBe('');
  });

  it('prints the usage (exit 2 without arguments, 0 with --help), the version, and each command its own help', async () => {
    const none = await runCli([], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^kcarun 0\.1\.0 — rotate Kubernetes and etcd CAs without downtime\n\nUsage:\n/);
    const help = await runCli(['--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(none.stdout);
    const version = await runCli(['--version'], { cwd: dir });
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const statusHelp = await runCli(['status', '--help'], { cwd: dir });
    expect(statusHelp.code).toBe(0);
    expect(statusHelp.stdout).toMatch(/^Usage: kcarun status \[options\]\n/);
    expect(statusHelp.stdout).toMatch(/--state-dir <dir>/);
    expect(statusHelp.stdout).not.toMatch(/--dry-run/);
  });
});
