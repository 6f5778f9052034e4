import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';
import { keyWindows, leakedRun, writeLocalInventory, writePlaybook } from './fixture.js';

/*
 * Issue 13, item 2 (a)-(d): the cases that leaked, run through the built CLI. Nothing of the key's
 * body reaches stdout, stderr, the journal or the report; a registered value holding a key reaches
 * the host as the real key.
 */
let dir: string;
let cleanup: () => Promise<void>;
let key: string;
let windows: Set<string>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-leaks-'));
  key = execFileSync('openssl', ['genrsa', '-traditional', '4096'], { encoding: 'utf8' });
  windows = keyWindows(key);
  await writeFile(join(dir, 'key.pem'), key, { mode: 0o600 });
});
afterEach(async () => cleanup());

async function stateFiles(): Promise<string> {
  const state = join(dir, '.kcarun');
  let all = '';
  for (const f of await readdir(state, { recursive: true, withFileTypes: true })) {
    if (f.isFile() && !f.parentPath.includes('backups') && !f.parentPath.includes('artifacts')) all += await readFile(join(f.parentPath, f.name), 'utf8');
  }
  return all;
}

describe('no key material leaves kcarun (issue 13.2)', () => {
  it('(a) a YAML error inside a PEM block in -e @vars.yaml: exit 2, the position, no key lines', async () => {
    const lines = key.trimEnd().split('\n');
    // A tab-indented line in the middle of a block scalar is a YAML error there.
    const vars = `ca_key: |\n${lines.slice(0, 20).map((l) => `  ${l}`).join('\n')}\n\t${lines[20]}\n${lines.slice(21).map((l) => `  ${l}`).join('\n')}\n`;
    await writeFile(join(dir, 'vars.yaml'), vars);
    const pb = await writePlaybook(dir, 'p.yaml', '  - name: s\n    hosts: local\n    tasks: [{ name: t, type: assert, with: { that: "true" } }]\n');
    const res = await runCli(['validate', pb, '-e', '@vars.yaml'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/vars\.yaml:\d+:\d+/);
    expect(leakedRun(res.stdout + res.stderr, windows)).toBeUndefined();
  });

  it('(c) a failed command whose stderr holds an RSA-4096 key: nothing on stdout, in JSON events, the journal or the report', async () => {
    const inv = await writeLocalInventory(dir);
    const pb = await writePlaybook(dir, 'p.yaml', `  - name: s\n    hosts: h1\n    tasks:\n      - { name: leak, type: local-exec, with: { command: "cat ${join(dir, 'key.pem')} >&2; exit 1" } }\n`);
    for (const output of ['plain', 'json']) {
      const res = await runCli([pb, '-i', inv, '--yes', '--fresh', '--output', output], { cwd: dir });
      expect(res.code).toBe(1);
      expect(leakedRun(res.stdout, windows), `${output} stdout`).toBeUndefined();
      expect(leakedRun(res.stderr, windows), `${output} stderr`).toBeUndefined();
      expect(leakedRun(await stateFiles(), windows), 'journal and report').toBeUndefined();
    }
  });

  it('(b) a diff of a file holding cert + key, hunk without the BEGIN line: masked in plain and JSON', async () => {
    const inv = await writeLocalInventory(dir);
    const file = join(dir, 'bundle.pem');
    const lines = key.trimEnd().split('\n');
    await writeFile(file, `${lines.join('\n')}\n`);
    // Change one line deep inside the body: the hunk shows body lines only.
    const target = lines[30]!;
    const pb = await writePlaybook(
      dir,
      'p.yaml',
      `  - name: s\n    hosts: h1\n    tasks:\n      - { name: patch, type: file-patch, with: { path: ${file}, edits: [{ op: regex, pattern: '${target.replace(/[+/]/g, '\\$&')}', replacement: '${target.split('').reverse().join('')}' }] } }\n`,
    );
    for (const output of ['plain', 'json']) {
      const res = await runCli([pb, '-i', inv, '--dry-run', '--output', output], { cwd: dir });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('[REDACTED]');
      expect(leakedRun(res.stdout + res.stderr, windows), output).toBeUndefined();
    }
  });

  it('(d) a registered value holding a key reaches the host as the real key, never as the redaction mark', async () => {
    const inv = await writeLocalInventory(dir);
    const out = join(dir, 'copy.pem');
    const pb = await writePlaybook(
      dir,
      'p.yaml',
      `  - name: s
    hosts: h1
    tasks:
      - { name: read, type: local-exec, register: k, with: { command: "cat ${join(dir, 'key.pem')}" } }
      - { name: write, type: local-exec, with: { command: "printf '%s\\\\n' \\"{{ k.stdout }}\\" > ${out}" } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes', '--output', 'json'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    expect((await readFile(out, 'utf8')).trimEnd()).toBe(key.trimEnd());
    expect(leakedRun(res.stdout + res.stderr + (await stateFiles()), windows)).toBeUndefined();
  });
});
