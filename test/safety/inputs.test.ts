import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';
import { writeLocalInventory, writePlaybook } from './fixture.js';

/* Issue 13, item 6: command-line input answered with exit 2 and a location, no stack trace. */
let dir: string;
let cleanup: () => Promise<void>;
let inv: string;
let pb: string;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-inputs-'));
  inv = await writeLocalInventory(dir);
  pb = await writePlaybook(dir, 'p.yaml', '  - name: s\n    hosts: h1\n    tasks: [{ name: t, type: assert, with: { that: "true" } }]\n');
});
afterEach(async () => cleanup());

const noTrace = (s: string) => expect(s).not.toMatch(/internal error|\n\s+at /);

describe('command-line input (issue 13.6)', () => {
  const cases: [string, string[], RegExp][] = [
    ["-e '{bad yaml'", ['-e', '{bad yaml'], /^error: -e:1:\d+: /m],
    // Said as what it is, not as a "billion laughs" expansion.
    ["-e '{x: *a}'", ['-e', '{x: *a}'], /^error: -e:1:5: alias \*a names no anchor defined before it \(define it with &a first\)$/m],
    ['-e @missing.yaml', ['-e', '@missing.yaml'], /-e @missing\.yaml: cannot read .*missing\.yaml: ENOENT/],
    ['-e with a bad key', ['-e', '1x=2'], /-e 1x=2: expected key=value, @file\.yaml or a \{mapping\}/],
    ["--limit 'cp['", ['--limit', 'cp['], /host pattern "cp\[" matches no host or group/],
    ['--forks 0', ['--forks', '0'], /--forks must be a whole number from 1 to 9999, not "0"/],
    ['--forks 0x10', ['--forks', '0x10'], /--forks must be a whole number from 1 to 9999, not "0x10"/],
    ['--forks 1e9', ['--forks', '1e9'], /--forks must be a whole number from 1 to 9999, not "1e9"/],
    ['--output yaml', ['--output', 'yaml'], /argument 'yaml' is invalid\. Allowed choices are auto, plain, json/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: exit 2 with the reason`, async () => {
      const res = await runCli([pb, '-i', inv, '--dry-run', ...args], { cwd: dir });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      noTrace(res.stderr);
    });
  }

  it('a 10 MB playbook is refused by the documented size limit, at once', async () => {
    const big = join(dir, 'big.yaml');
    await writeFile(big, `apiVersion: kcarun/v1\nkind: Playbook\nmetadata: { name: x, version: 1.0.0 }\nvars:\n  data: "${'x'.repeat(10 * 1024 * 1024)}"\nstages: []\n`);
    const res = await runCli(['validate', big], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${big}:1:1: the file is 10.0 MiB; kcarun reads YAML files up to 1 MiB`);
  });

  it('an endless inventory (/dev/zero) is refused after the first MiB, not read until memory runs out', async () => {
    const res = await runCli([pb, '-i', '/dev/zero', '--dry-run'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('/dev/zero:1:1: the file is larger than 1 MiB');
  });

  it('a host path that is relative once templated is refused before the task changes anything', async () => {
    // From a var known before the run: refused before any host is contacted, at the param's position (exit 2).
    const rel = await writePlaybook(dir, 'rel.yaml', '  - name: s\n    hosts: h1\n    tasks:\n      - { name: t, type: file-upload, with: { dest: "{{ where }}/f.txt", content: x } }\n', '{ where: out }');
    const res = await runCli([rel, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code, res.stdout + res.stderr).toBe(2);
    expect(res.stderr).toContain(`${rel}:9:47: stage "s": task "t": with.dest: must be an absolute path (starting with /)`);
    expect(res.stderr).toContain('rendered from "{{ where }}/f.txt"');
    await expect(access(join(dir, 'out'))).rejects.toThrow(/ENOENT/);
    // From a result registered during the run: only the task itself can see it, and it refuses (exit 1).
    const reg = await writePlaybook(dir, 'reg.yaml', '  - name: s\n    hosts: h1\n    tasks:\n      - { name: w, type: local-exec, register: w, with: { command: "printf out" } }\n      - { name: t, type: file-upload, with: { dest: "{{ w.stdout }}/f.txt", content: x } }\n');
    const run = await runCli([reg, '-i', inv, '--yes'], { cwd: dir });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout + run.stderr).toContain('dest: must be an absolute path (starting with /)');
    await expect(access(join(dir, 'out'))).rejects.toThrow(/ENOENT/);
    // Written as it is, the same path is refused by validate, at its position.
    const literal = await writePlaybook(dir, 'lit.yaml', '  - name: s\n    hosts: h1\n    tasks:\n      - { name: t, type: file-upload, with: { dest: out/f.txt, content: x } }\n');
    const v = await runCli(['validate', literal, '-i', inv], { cwd: dir });
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(`${literal}:8:47: stage "s": task "t": with.dest: must be an absolute path`);
  });

  it('a catastrophic-backtracking changedWhen runs in linear time (RE2), well inside the task timeout', async () => {
    const re = await writePlaybook(dir, 're.yaml', `  - name: s\n    hosts: h1\n    tasks:\n      - { name: t, type: local-exec, timeout: 20, with: { command: "printf ${'a'.repeat(34)}!", changedWhen: "(a+)+$" } }\n`);
    const res = await runCli([re, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('t ... ok');
  });
});
