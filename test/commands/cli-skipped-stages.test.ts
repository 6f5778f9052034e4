/**
 * Stages that do not apply are skipped, not refused: an empty group (an etcd-only cluster has no
 * control plane), or a `when` that is false from the variables alone. Validate says so, the plan
 * and the run report them skipped with the reason; an unknown group is still an error.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-skipped-'));
  await writeFile(
    join(dir, 'inventory.yaml'),
    `apiVersion: kcarun/v1
kind: Inventory
hosts:
  e1: { connection: local }
groups:
  etcd: { hosts: [e1] }
  control_plane: { hosts: [] }
`,
  );
  const playbook = (hostsOfSecond: string) => `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: skip, version: 1.0.0 }
vars: { log: ${join(dir, 'effects.log')}, with_apiserver: false }
stages:
  - name: etcd-stage
    hosts: etcd
    tasks:
      - { name: touch, type: local-exec, with: { command: "echo etcd {{ host.name }} >> {{ log }}" } }
  - name: apiserver-stage
    hosts: ${hostsOfSecond}
    tasks:
      - { name: touch, type: local-exec, with: { command: "echo apiserver {{ host.name }} >> {{ log }}" } }
  - name: conditional-stage
    hosts: etcd
    when: with_apiserver
    tasks:
      - { name: touch, type: local-exec, with: { command: "echo conditional {{ host.name }} >> {{ log }}" } }
`;
  await writeFile(join(dir, 'main.yaml'), playbook('control_plane'));
  await writeFile(join(dir, 'typo.yaml'), playbook('control_plan'));
});
afterEach(async () => {
  await cleanup();
});

const effects = async () => (existsSync(join(dir, 'effects.log')) ? (await readFile(join(dir, 'effects.log'), 'utf8')).split('\n').filter(Boolean) : []);

describe('stages that do not apply', () => {
  it('validate: valid, naming each skipped stage and why', async () => {
    const res = await runCli(['validate', 'main.yaml', '-i', 'inventory.yaml'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('valid (skip 1.0.0, 3 stages, 3 tasks, 2 stages skipped)');
    expect(res.stdout).toContain('skipped: apiserver-stage (hosts "control_plane" selects no host)');
    expect(res.stdout).toContain('skipped: conditional-stage (condition is false: with_apiserver)');
    // The same `when` made true by -e is no longer skipped.
    const on = await runCli(['validate', 'main.yaml', '-i', 'inventory.yaml', '-e', 'with_apiserver=true'], { cwd: dir });
    expect(on.stdout).toContain('1 stages skipped');
    expect(on.stdout).not.toContain('conditional-stage');
  });

  it('run: the plan and the run report them skipped with the reason; the rest runs', async () => {
    // Without --yes and without a terminal: the plan is shown, nothing runs.
    const plan = await runCli(['main.yaml', '-i', 'inventory.yaml', '--output', 'plain'], { cwd: dir });
    expect(plan.stdout).toContain('  etcd-stage on e1\n');
    expect(plan.stdout).toContain('  apiserver-stage: skipped (hosts "control_plane" selects no host)\n');
    expect(plan.stdout).toContain('  conditional-stage: skipped (condition is false: with_apiserver)\n');
    expect(await effects()).toEqual([]);
    const res = await runCli(['main.yaml', '-i', 'inventory.yaml', '--yes', '--output', 'plain'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('== apiserver-stage: skipped (hosts "control_plane" selects no host)');
    expect(res.stdout).toContain('== conditional-stage: skipped (condition is false: with_apiserver)');
    expect(await effects()).toEqual(['etcd e1']);
  });

  it('a host pattern naming an unknown group is still an error (exit 2, with its position)', async () => {
    const res = await runCli(['validate', 'typo.yaml', '-i', 'inventory.yaml'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/typo\.yaml:\d+:\d+: stage "apiserver-stage": unknown host or group "control_plan"/);
  });
});
