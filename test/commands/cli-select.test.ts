import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-select-'));
  await writeFile(
    join(dir, 'inventory.yaml'),
    `apiVersion: kcarun/v1
kind: Inventory
vars: { who: inventory }
hosts:
  a: { connection: local }
  b: { connection: local, vars: { who: host-b } }
groups:
  nodes: { hosts: [a, b] }
`,
  );
  await mkdir(join(dir, 'stages'));
  await writeFile(
    join(dir, 'stages', 'common.yaml'),
    `apiVersion: kcarun/v1
kind: Stages
vars: { greeting: from-stage-file, who: stage-file }
stages:
  - name: imported
    hosts: nodes
    tasks:
      - { name: greet, type: local-exec, tags: [greet], with: { command: "echo {{ greeting }} {{ who }} {{ host.name }} >> {{ log }}" } }
`,
  );
  await writeFile(
    join(dir, 'main.yaml'),
    `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: select, version: 1.0.0 }
vars: { log: ${join(dir, 'effects.log')} }
stages:
  - name: first
    hosts: nodes
    tasks:
      - { name: one, type: local-exec, tags: [one], with: { command: "echo first {{ host.name }} >> {{ log }}" } }
      - { name: always, type: local-exec, tags: [always], with: { command: "echo always {{ host.name }} >> {{ log }}" } }
  - import: stages/common.yaml
    vars: { greeting: overridden }
  - name: last
    hosts: local
    tasks:
      - { name: done, type: local-exec, with: { command: "echo last >> {{ log }}" } }
`,
  );
});
afterEach(async () => {
  await cleanup();
});

async function effects(): Promise<string[]> {
  if (!existsSync(join(dir, 'effects.log'))) return [];
  return (await readFile(join(dir, 'effects.log'), 'utf8')).split('\n').filter(Boolean).sort();
}
const run = (...args: string[]) => runCli(['main.yaml', '-i', 'inventory.yaml', '--yes', '--forks', '1', ...args], { cwd: dir });

describe('choosing what runs', () => {
  it('runs imported stages with import-statement vars over the stage file, and inventory vars over both', async () => {
    const res = await run();
    expect(res.code, res.stderr).toBe(0);
    expect(await effects()).toEqual(['always a', 'always b', 'first a', 'first b', 'last', 'overridden inventory a', 'overridden host-b b'].sort());
  });

  it('--start-at begins at a stage, --limit narrows hosts, --tags/--skip-tags pick tasks (always stays)', async () => {
    expect((await run('--start-at', 'imported', '--fresh')).code).toBe(0);
    expect(await effects()).toEqual(['last', 'overridden host-b b', 'overridden inventory a'].sort());
    await writeFile(join(dir, 'effects.log'), '');
    expect((await run('--limit', 'b', '--tags', 'one', '--fresh')).code).toBe(0);
    expect(await effects()).toEqual(['always b', 'first b']);
    await writeFile(join(dir, 'effects.log'), '');
    expect((await run('--skip-tags', 'greet,always', '--fresh')).code).toBe(0);
    expect(await effects()).toEqual(['first a', 'first b', 'last']);
  });

  it('-e key=value beats everything, and -e @file beats the inventory', async () => {
    await writeFile(join(dir, 'prod.yaml'), 'who: env-file\n');
    expect((await run('-e', '@prod.yaml', '--start-at', 'imported')).code).toBe(0);
    expect(await effects()).toEqual(['last', 'overridden env-file a', 'overridden env-file b']);
    await writeFile(join(dir, 'effects.log'), '');
    expect((await run('-e', '@prod.yaml', '-e', 'who=cli', '--start-at', 'imported', '--fresh')).code).toBe(0);
    expect(await effects()).toEqual(['last', 'overridden cli a', 'overridden cli b']);
  });

  it('refuses an unknown --start-at stage without running anything', async () => {
    const res = await run('--start-at', 'nope');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('no stage named "nope"');
    expect(await effects()).toEqual([]);
  });
});

describe('varsFiles', () => {
  it('loads a vars file chosen by a var (layout profiles), below inventory vars, and folds it into the checksum', async () => {
    await mkdir(join(dir, 'layouts'));
    await writeFile(join(dir, 'layouts', 'kubeadm.yaml'), 'ca_path: /etc/kubernetes/pki/ca.crt\nrestart: static-pod\n');
    await writeFile(join(dir, 'layouts', 'binary.yaml'), 'ca_path: /etc/kubernetes/ssl/ca-kubernetes.pem\nrestart: systemd\n');
    await writeFile(
      join(dir, 'layout.yaml'),
      `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: layout, version: 1.0.0 }
vars: { layout: kubeadm, restart: none, log: ${join(dir, 'effects.log')} }
varsFiles: ["layouts/{{ layout }}.yaml"]
stages:
  - name: s
    hosts: local
    tasks:
      - { name: t, type: local-exec, with: { command: "echo {{ ca_path }} {{ restart }} >> {{ log }}" } }
`,
    );
    expect((await runCli(['layout.yaml', '--yes'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['layout.yaml', '--yes', '-e', 'layout=binary'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['layout.yaml', '--yes', '-e', 'layout=binary', '-e', 'restart=custom'], { cwd: dir })).code).toBe(0);
    expect(await effects()).toEqual(['/etc/kubernetes/pki/ca.crt static-pod', '/etc/kubernetes/ssl/ca-kubernetes.pem custom', '/etc/kubernetes/ssl/ca-kubernetes.pem systemd']);
    const missing = await runCli(['validate', 'layout.yaml', '-e', 'layout=k3s'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/layout\.yaml:5:\d+: varsFiles: cannot read .*k3s\.yaml/);
    // A variable picks a file in layouts/; it cannot leave it for any YAML file on the machine.
    await writeFile(join(dir, 'evil.yaml'), 'ca_path: /tmp/evil\n');
    const escape = await runCli(['validate', 'layout.yaml', '-e', 'layout=../evil'], { cwd: dir });
    expect(escape.code).toBe(2);
    expect(escape.stderr).toMatch(/layout\.yaml:5:\d+: varsFiles: "layouts\/\{\{ layout \}\}\.yaml" renders to layouts\/\.\.\/evil\.yaml, outside .*layouts/);
  });
});

describe('loop', () => {
  it('runs a task per item with `when` per item, and a failed stage undoes every item newest first', async () => {
    for (const f of ['a', 'b', 'c']) await writeFile(join(dir, `${f}.conf`), `original ${f}\n`);
    await writeFile(
      join(dir, 'loop.yaml'),
      `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: loop, version: 1.0.0 }
vars:
  log: ${join(dir, 'effects.log')}
  files: [a, b, c, skip-me]
stages:
  - name: s
    hosts: nodes
    tasks:
      - name: write every file
        type: file-upload
        loop: "{{ files }}"
        loopVar: f
        when: f != "skip-me"
        with: { dest: "${dir}/{{ f }}.conf", content: "new {{ f }} on {{ host.name }}\\n" }
        register: uploads
      - { name: count, type: local-exec, with: { command: "echo {{ uploads.results | size }} >> {{ log }}" } }
      - { name: fail, type: local-exec, with: { command: "exit {{ fail_rc }}" } }
`,
    );
    const ok = await runCli(['loop.yaml', '-i', 'inventory.yaml', '--yes', '--limit', 'a', '-e', 'fail_rc=0'], { cwd: dir });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(await readFile(join(dir, 'b.conf'), 'utf8')).toBe('new b on a\n');
    expect(await effects()).toEqual(['4']);
    for (const f of ['a', 'b', 'c']) await writeFile(join(dir, `${f}.conf`), `original ${f}\n`);
    const failed = await runCli(['loop.yaml', '-i', 'inventory.yaml', '--yes', '--limit', 'a', '-e', 'fail_rc=3'], { cwd: dir });
    expect(failed.code).toBe(1);
    for (const f of ['a', 'b', 'c']) expect(await readFile(join(dir, `${f}.conf`), 'utf8')).toBe(`original ${f}\n`);
  });
});
