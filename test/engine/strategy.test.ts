import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-strategy-'));
  // Host "slow" takes a second over its first task; "fast" takes no time.
  await writeFile(
    join(dir, 'inventory.yaml'),
    `apiVersion: kcarun/v1
kind: Inventory
hosts:
  slow: { connection: local, vars: { pause: 3 } }   # margin for a loaded machine: fast spawns 3 shells meanwhile
  fast: { connection: local, vars: { pause: 0 } }
`,
  );
});
afterEach(async () => {
  await cleanup();
});

async function run(strategy: string, failOn = 'nobody'): Promise<{ code: number | null; log: string[] }> {
  const log = join(dir, `${strategy}.log`);
  await writeFile(
    join(dir, `${strategy}.yaml`),
    `apiVersion: kcarun/v1
kind: Playbook
metadata: { name: strategy, version: 1.0.0 }
vars: { log: ${log}, fail_on: ${failOn} }
stages:
  - name: work
    hosts: all
    strategy: ${strategy}
    maxFailPercentage: 50
    tasks:
      - { name: one, type: local-exec, with: { command: "sleep {{ pause }}; echo one {{ host.name }} >> {{ log }}" } }
      - { name: two, type: local-exec, with: { command: "test {{ host.name }} != {{ fail_on }} && echo two {{ host.name }} >> {{ log }}" } }
      - { name: three, type: local-exec, with: { command: "echo three {{ host.name }} >> {{ log }}" } }
`,
  );
  const r = await runCli([`${strategy}.yaml`, '-i', 'inventory.yaml', '--yes', '--fresh'], { cwd: dir });
  const text = await readFile(log, 'utf8').catch(() => '');
  return { code: r.code, log: text.trim().split('\n').filter(Boolean) };
}

describe('stage strategy', () => {
  it('linear (default) runs each task on every host before the next task', async () => {
    const { code, log } = await run('linear');
    expect(code).toBe(0);
    expect([...log].sort()).toEqual(['one fast', 'one slow', 'three fast', 'three slow', 'two fast', 'two slow']);
    // Task by task: no line of a task before a line of the task ahead of it (fast waited for slow).
    expect(log.map(order)).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('free lets a host go through all its tasks without waiting for the others', async () => {
    const { code, log } = await run('free');
    expect(code).toBe(0);
    expect(log.slice(0, 3)).toEqual(['one fast', 'two fast', 'three fast']);
    expect(log.slice(3)).toEqual(['one slow', 'two slow', 'three slow']);
  });

  it('free stops a failing host at its failed task and lets the others finish', async () => {
    const { code, log } = await run('free', 'fast');
    // One host of two failed: within maxFailPercentage 50, so the stage and the run succeed.
    expect(code).toBe(0);
    expect(log).toContain('three slow');
    expect(log).not.toContain('two fast');
    expect(log).not.toContain('three fast');
  });
});

function order(line: string): number {
  return ['one', 'two', 'three'].indexOf(line.split(' ')[0]!);
}
