import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonEvents, runCli, startCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';
import { readJournal, latestSteps } from '../../src/engine/journal.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-run-'));
});
afterEach(async () => {
  await cleanup();
});

/** An inventory of N hosts that are this machine (connection: local), so the engine runs without SSH. */
async function localInventory(n: number): Promise<string> {
  const hosts = Array.from({ length: n }, (_, i) => `  h${i + 1}: { connection: local }`).join('\n');
  const file = join(dir, 'inventory.yaml');
  await writeFile(file, `apiVersion: kcarun/v1\nkind: Inventory\nhosts:\n${hosts}\ngroups:\n  nodes: { hosts: [${Array.from({ length: n }, (_, i) => `h${i + 1}`).join(', ')}] }\n`);
  return file;
}

async function playbook(name: string, body: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `apiVersion: kcarun/v1\nkind: Playbook\nmetadata: { name: test, version: 1.0.0 }\nvars: { log: ${join(dir, 'effects.log')} }\nstages:\n${body}`);
  return file;
}

async function effects(): Promise<string[]> {
  if (!existsSync(join(dir, 'effects.log'))) return [];
  return (await readFile(join(dir, 'effects.log'), 'utf8')).split('\n').filter(Boolean);
}

describe('kcarun run', () => {
  it('runs serial batches one after another, each host finishing before the next batch starts', async () => {
    const inv = await localInventory(5);
    const pb = await playbook(
      'serial.yaml',
      `  - name: rolling
    hosts: nodes
    serial: 2
    tasks:
      - { name: begin, type: local-exec, with: { command: "echo begin {{ host.name }} >> {{ log }}; sleep 0.2" } }
      - { name: finish, type: local-exec, with: { command: "echo end {{ host.name }} >> {{ log }}" } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes', '--output', 'json'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    const batches = jsonEvents(res.stdout).filter((e) => e.event === 'batch-start').map((e) => e.hosts);
    expect(batches).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    const lines = await effects();
    const pos = (l: string) => lines.indexOf(l);
    for (const [a, b] of [['h1', 'h3'], ['h2', 'h3'], ['h3', 'h5'], ['h4', 'h5']]) {
      expect(pos(`end ${a}`)).toBeLessThan(pos(`begin ${b}`));
    }
  });

  it('never works on more hosts at once than --forks', async () => {
    const inv = await localInventory(6);
    await mkdir(join(dir, 'running'));
    const pb = await playbook(
      'forks.yaml',
      `  - name: fan-out
    hosts: nodes
    tasks:
      - name: work
        type: local-exec
        with:
          command: "touch {{ run.stateDir | raw }}/../running/{{ host.name | raw }}; ls {{ run.stateDir | raw }}/../running | wc -l >> {{ log }}; sleep 0.3; rm {{ run.stateDir | raw }}/../running/{{ host.name | raw }}"
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes', '--forks', '2'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    const peaks = (await effects()).map(Number);
    expect(peaks).toHaveLength(6);
    expect(Math.max(...peaks)).toBe(2);
  });

  it('rolls a failed stage back newest-first, leaves earlier stages alone, exits 1 and says how to resume', async () => {
    const inv = await localInventory(2);
    const undo = (t: string) => `rollback: [{ name: undo ${t}, type: local-exec, with: { command: "echo undo ${t} {{ host.name }} >> {{ log }}" } }]`;
    const pb = await playbook(
      'rollback.yaml',
      `  - name: earlier
    hosts: nodes
    tasks:
      - { name: e1, type: local-exec, with: { command: "echo do e1 {{ host.name }} >> {{ log }}" }, ${undo('e1')} }
  - name: failing
    hosts: nodes
    serial: 1
    tasks:
      - { name: t1, type: local-exec, with: { command: "echo do t1 {{ host.name }} >> {{ log }}" }, ${undo('t1')} }
      - { name: t2, type: local-exec, with: { command: "echo do t2 {{ host.name }} >> {{ log }}" }, ${undo('t2')} }
      - { name: t3, type: local-exec, with: { command: "test {{ host.name }} != h2" }, ${undo('t3')} }
  - name: never
    hosts: nodes
    tasks:
      - { name: n1, type: local-exec, with: { command: "echo do n1 >> {{ log }}" } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('h2');
    expect(res.stdout).toMatch(/stage "failing" failed and was rolled back.*--resume/);
    const lines = await effects();
    const doLines = lines.filter((l) => l.startsWith('do'));
    // The first stage runs both hosts at once; the failing one, serial 1, host after host.
    expect(doLines.slice(0, 2).sort()).toEqual(['do e1 h1', 'do e1 h2']);
    expect(doLines.slice(2)).toEqual(['do t1 h1', 'do t2 h1', 'do t1 h2', 'do t2 h2']);
    // Newest first: h2's steps (t2, t1), then h1's (t3, t2, t1). The earlier stage stays; h2's failed t3 is not undone.
    expect(lines.filter((l) => l.startsWith('undo'))).toEqual(['undo t2 h2', 'undo t1 h2', 'undo t3 h1', 'undo t2 h1', 'undo t1 h1']);
    expect(lines).not.toContain('do n1');
  });

  it("undoes a failed stage batch by batch: a batch's steps, then the rollback list on it, before the next batch (a held apiserver comes back with its own host)", async () => {
    const inv = await localInventory(3);
    const log = (what: string) => `echo ${what} {{ host.name }} >> {{ log }}`;
    const pb = await playbook(
      'interleaved.yaml',
      `  - name: members
    hosts: nodes
    serial: 1
    tasks:
      - { name: hold, type: local-exec, with: { command: "${log('hold')}" }, rollback: [{ name: hold again, type: local-exec, with: { command: "${log('hold-again')}" } }] }
      - { name: restart, type: local-exec, with: { command: "test {{ host.name }} != h3" } }
    rollback:
      - { name: restart, type: local-exec, with: { command: "${log('restart')}" } }
      - { name: release, type: local-exec, with: { command: "${log('release')}" } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code, res.stdout + res.stderr).toBe(1);
    const lines = (await effects()).filter((l) => !l.startsWith('hold '));
    // Before session 23 every host was held again first (all three at once), then restarted and released.
    expect(lines).toEqual(['hold-again h3', 'restart h3', 'release h3', 'hold-again h2', 'restart h2', 'release h2', 'hold-again h1', 'restart h1', 'release h1']);
  });

  it("runs a failed stage's rollback list in the stage's own batches, newest first: task by task, a batch's hosts at once", async () => {
    const inv = await localInventory(4);
    const log = (what: string) => `echo ${what} {{ host.name }} >> {{ log }}`;
    const pb = await playbook(
      'batches.yaml',
      `  - name: kubelets
    hosts: nodes
    serial: 2
    tasks:
      - { name: t1, type: local-exec, with: { command: "${log('do')}" } }
      - { name: t2, type: local-exec, with: { command: "test {{ host.name }} != h4" } }
    rollback:
      - { name: restart, type: local-exec, with: { command: "${log('start')}; sleep 0.5; ${log('end')}" } }
      - { name: gate, type: local-exec, with: { command: "${log('gate')}" } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code, res.stdout + res.stderr).toBe(1);
    const lines = (await effects()).filter((l) => !l.startsWith('do'));
    const sorted = (from: number, to: number) => lines.slice(from, to).sort();
    // Batch [h3, h4] first (the newest): both restarts start before either ends, then both gates.
    expect(sorted(0, 2)).toEqual(['start h3', 'start h4']);
    expect(sorted(2, 4)).toEqual(['end h3', 'end h4']);
    expect(sorted(4, 6)).toEqual(['gate h3', 'gate h4']);
    // Then batch [h1, h2], likewise.
    expect(sorted(6, 8)).toEqual(['start h1', 'start h2']);
    expect(sorted(8, 10)).toEqual(['end h1', 'end h2']);
    expect(sorted(10, 12)).toEqual(['gate h1', 'gate h2']);
    expect(lines).toHaveLength(12);
  });

  it('undoes completed stages from the journal with kcarun rollback --to', async () => {
    const inv = await localInventory(1);
    const pb = await playbook(
      'stages.yaml',
      ['a', 'b', 'c']
        .map(
          (s) => `  - name: ${s}
    hosts: nodes
    tasks:
      - { name: ${s}1, type: local-exec, with: { command: "echo do ${s} >> {{ log }}" }, rollback: [{ name: undo, type: local-exec, with: { command: "echo undo ${s} >> {{ log }}" } }] }
`,
        )
        .join(''),
    );
    expect((await runCli([pb, '-i', inv, '--yes'], { cwd: dir })).code).toBe(0);
    const res = await runCli(['rollback', '-i', inv, '--to', 'b', '--yes', '--output', 'json'], { cwd: dir });
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect((await effects()).filter((l) => l.startsWith('undo'))).toEqual(['undo c', 'undo b']);
    // --output json: every stdout line is a JSON event, the plan first (it was a text line: session 23).
    const events = res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; stages?: string[] });
    expect(events[0]).toEqual({ event: 'rollback-plan', stages: ['c', 'b'] });
    expect(events.filter((e) => e.event === 'rollback-end').length).toBe(2);
    const status = await runCli(['status', '-i', inv, '--output', 'json'], { cwd: dir });
    const json = JSON.parse(status.stdout) as { stages: { name: string; status: string; startedAt?: string; endedAt?: string }[]; stepStatus: Record<string, string> };
    expect(Object.fromEntries(json.stages.map((s) => [s.name, s.status]))).toEqual({ a: 'completed', b: 'rolled-back', c: 'rolled-back' });
    // Times from the journal: each stage started, then ended (completed or rolled back) no earlier.
    for (const s of json.stages) expect(Date.parse(s.endedAt!), s.name).toBeGreaterThanOrEqual(Date.parse(s.startedAt!));
    expect(Date.parse(json.stages[1]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(json.stages[0]!.endedAt!));
    expect(json.stepStatus).toEqual({ 'a/0/h1': 'ok', 'b/0/h1': 'rolled-back', 'c/0/h1': 'rolled-back' });
  });

  it('retries a failing task with backoff, and fails a task that exceeds its timeout cleanly', async () => {
    const pb = await playbook(
      'retry.yaml',
      `  - name: flaky
    hosts: local
    tasks:
      - name: third time lucky
        type: local-exec
        retries: { count: 3, delay: 0.05 }
        with: { command: "echo try >> {{ log }}; test $(wc -l < {{ log }}) -ge 3" }
      - name: hangs
        type: local-exec
        timeout: 1
        with: { command: "sleep 30" }
`,
    );
    const res = await runCli([pb, '--yes', '--output', 'json'], { cwd: dir });
    expect(res.code).toBe(1);
    expect(await effects()).toEqual(['try', 'try', 'try']);
    const failed = jsonEvents(res.stdout).find((e) => e.event === 'task-end' && e.status === 'failed');
    expect(failed?.task).toBe('hangs');
    expect((failed?.error as { code: string }).code).toBe('E_TIMEOUT');
  });

  it('changes nothing without --yes when there is no terminal, and in --dry-run', async () => {
    const pb = await playbook('plan.yaml', `  - name: s\n    hosts: local\n    tasks:\n      - { name: t, type: local-exec, with: { command: "echo x >> {{ log }}" } }\n`);
    const res = await runCli([pb], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stdout).toContain('Plan: test 1.0.0');
    expect(res.stderr).toContain('needs --yes');
    const dry = await runCli([pb, '--dry-run', '--output', 'json'], { cwd: dir });
    expect(dry.code).toBe(0);
    expect(jsonEvents(dry.stdout).find((e) => e.event === 'task-end')?.summary).toMatch(/^would run: echo x >>/);
    expect(await effects()).toEqual([]);
  });
});

/** Waits until the run has journaled at least `steps` completed steps (so a kill lands mid-run). */
async function waitForSteps(steps: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const done = [...latestSteps(await readJournal(join(dir, '.kcarun'))).values()].filter((s) => s.status === 'ok').length;
    if (done >= steps) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the run did not reach ${steps} completed steps`);
}

describe('resume', () => {
  /** A run of 3 stages x 4 tasks on 2 hosts; every task appends `stage/task/host` to the log. */
  async function longPlaybook(): Promise<{ pb: string; inv: string; keys: string[] }> {
    const inv = await localInventory(2);
    const keys: string[] = [];
    let body = '';
    for (const s of ['s1', 's2', 's3']) {
      body += `  - name: ${s}\n    hosts: nodes\n    serial: 1\n    tasks:\n`;
      for (let t = 0; t < 4; t++) {
        body += `      - { name: t${t}, type: local-exec, with: { command: "echo ${s}/${t}/{{ host.name }} >> {{ log }}; sleep 0.08" } }\n`;
        for (const h of ['h1', 'h2']) keys.push(`${s}/${t}/${h}`);
      }
    }
    return { pb: await playbook('long.yaml', body), inv, keys };
  }

  it('after kill -9 at 5 seeded random points, --resume finishes and no completed step runs twice', async () => {
    const { pb, inv, keys } = await longPlaybook();
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const mayRunTwice = new Set<string>();
    for (let kill = 0; kill < 5; kill++) {
      const before = (await effects()).length;
      const { child, done } = startCli([pb, '-i', inv, '--yes', ...(kill > 0 ? ['--resume'] : [])], { cwd: dir });
      await waitForSteps(Math.min(before + 1, keys.length - 1));
      await new Promise((r) => setTimeout(r, random() * 300));
      child.kill('SIGKILL');
      await done;
      const journal = latestSteps(await readJournal(join(dir, '.kcarun')));
      // The step in flight at the kill is run again by design (tasks are written to be repeatable).
      for (const s of journal.values()) if (s.status === 'started') mayRunTwice.add(s.key);
    }
    const final = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(final.code, final.stderr).toBe(0);
    const lines = await effects();
    for (const key of keys) {
      const count = lines.filter((l) => l === key).length;
      expect(count, key).toBeGreaterThanOrEqual(1);
      expect(count, key).toBeLessThanOrEqual(mayRunTwice.has(key) ? 2 : 1);
    }
    // A finished run resumed again has nothing left to do.
    const again = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
  });

  it('on SIGINT finishes the step in flight, checkpoints, exits 130, and resumes after it', async () => {
    const { pb, inv, keys } = await longPlaybook();
    const { child, done } = startCli([pb, '-i', inv, '--yes'], { cwd: dir });
    await waitForSteps(3);
    child.kill('SIGINT');
    const res = await done;
    expect(res.code).toBe(130);
    expect(res.stdout).toMatch(/interrupted during stage .*--resume/);
    const journal = latestSteps(await readJournal(join(dir, '.kcarun')));
    expect([...journal.values()].filter((s) => s.status === 'started')).toEqual([]);
    const done1 = (await effects()).length;
    expect(done1).toBeGreaterThan(0);
    expect(done1).toBeLessThan(keys.length);
    const fresh = await runCli([pb, '-i', inv, '--yes'], { cwd: dir });
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toContain('did not finish: continue it with --resume');
    const resumed = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(resumed.code).toBe(0);
    expect((await effects()).sort()).toEqual([...keys].sort());
  });

  it('keeps {{ run.id }} across --resume, so a file one step names after the run is found by the next', async () => {
    // The backup stage archives to pre-rotation-<run id>.tgz in one step and fetches it in the next;
    // a kill between the two must not make the resumed run look for another name (CI, stop 23).
    const inv = await localInventory(1);
    const pb = await playbook(
      'ids.yaml',
      `  - name: make\n    hosts: nodes\n    tasks:\n` +
        `      - { name: write, type: local-exec, with: { command: "echo {{ run.id }} > {{ log }}.{{ run.id }}" } }\n` +
        `      - { name: linger, type: local-exec, with: { command: "sleep 0.5" } }\n` +
        `  - name: use\n    hosts: nodes\n    tasks:\n` +
        `      - { name: read, type: local-exec, with: { command: "cat {{ log }}.{{ run.id }} >> {{ log }}" } }\n`,
    );
    const { child, done } = startCli([pb, '-i', inv, '--yes'], { cwd: dir });
    await waitForSteps(1);
    child.kill('SIGINT');
    expect((await done).code).toBe(130);
    expect(await effects()).toEqual([]);
    const resumed = await runCli([pb, '-i', inv, '--yes', '--resume', '--output', 'json'], { cwd: dir });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const [id] = await effects();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(jsonEvents(resumed.stdout).find((e) => e.event === 'run-start')?.runId).toBe(id);
    // A new run is a new run: --fresh gets another id.
    const fresh = await runCli([pb, '-i', inv, '--yes', '--fresh', '--output', 'json'], { cwd: dir });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(jsonEvents(fresh.stdout).find((e) => e.event === 'run-start')?.runId).not.toBe(id);
  });

  it('refuses to resume a changed playbook unless --force', async () => {
    const { pb, inv } = await longPlaybook();
    const { child, done } = startCli([pb, '-i', inv, '--yes'], { cwd: dir });
    await waitForSteps(2);
    child.kill('SIGKILL');
    await done;
    await writeFile(pb, (await readFile(pb, 'utf8')).replace('sleep 0.08', 'sleep 0.01'));
    const refused = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('changed since the run started');
    expect((await runCli([pb, '-i', inv, '--yes', '--resume', '--force'], { cwd: dir })).code).toBe(0);
  });
});

describe('the run lock', () => {
  async function writeLock(holder: { pid: number; host: string }) {
    await mkdir(join(dir, '.kcarun'), { recursive: true });
    await writeFile(join(dir, '.kcarun', 'lock'), JSON.stringify({ ...holder, startedAt: '2026-01-01T00:00:00Z', command: 'kcarun other' }));
  }
  const simple = () => playbook('lock.yaml', `  - name: s\n    hosts: local\n    tasks:\n      - { name: t, type: local-exec, with: { command: "echo ran >> {{ log }}" } }\n`);

  it('refuses a second run while the holder lives, naming pid, host and start time (exit 3)', async () => {
    const pb = await simple();
    const holder = spawn('sleep', ['30']);
    try {
      await writeLock({ pid: holder.pid!, host: hostname() });
      const res = await runCli([pb, '--yes'], { cwd: dir });
      expect(res.code).toBe(3);
      expect(res.stderr).toContain(`pid ${holder.pid} on ${hostname()}, started 2026-01-01T00:00:00Z`);
      expect(await effects()).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over the lock of a dead process on this host with a warning', async () => {
    const pb = await simple();
    const gone = spawn('true');
    await new Promise((r) => gone.on('close', r));
    await writeLock({ pid: gone.pid!, host: hostname() });
    const res = await runCli([pb, '--yes'], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/took over the lock of pid \d+/);
    expect(existsSync(join(dir, '.kcarun', 'lock'))).toBe(false);
  });

  it('needs --break-lock for a lock held from another host', async () => {
    const pb = await simple();
    await writeLock({ pid: 1, host: 'another-operator-host' });
    const res = await runCli([pb, '--yes'], { cwd: dir });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('--break-lock');
    const broken = await runCli([pb, '--yes', '--break-lock'], { cwd: dir });
    expect(broken.code).toBe(0);
    expect(await effects()).toEqual(['ran']);
  });
});

describe('the run report', () => {
  it('leaves report.json, report.md and timeline.svg in the state dir: changes per host, stage durations, gate results', async () => {
    const inv = await localInventory(2);
    const pb = await playbook(
      'report.yaml',
      `  - name: change
    hosts: nodes
    tasks:
      - { name: write, type: local-exec, with: { command: "echo {{ host.name }} >> {{ log }}" } }
  - name: gate
    hosts: nodes
    tasks:
      - { name: healthy, type: wait-healthy, with: { probes: [{ kind: command, command: "true", intervalSeconds: 0.1, successes: 2 }] } }
`,
    );
    const res = await runCli([pb, '-i', inv, '--yes'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    const reportDir = join(dir, '.kcarun', 'report');
    const report = JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8')) as {
      status: string;
      stages: { name: string; status: string; durationMs: number }[];
      changes: { stage: string; host: string; task: string }[];
      gates: { host: string; ok: boolean; type: string }[];
    };
    expect(report.status).toBe('succeeded');
    expect(report.stages.map((s) => [s.name, s.status])).toEqual([['change', 'ok'], ['gate', 'ok']]);
    expect(report.stages.every((s) => s.durationMs >= 0)).toBe(true);
    expect(report.changes.map((c) => `${c.stage}/${c.host}/${c.task}`).sort()).toEqual(['change/h1/write', 'change/h2/write']);
    expect(report.gates.map((g) => `${g.host}:${g.type}:${g.ok}`).sort()).toEqual(['h1:wait-healthy:true', 'h2:wait-healthy:true']);
    expect(await readFile(join(reportDir, 'report.md'), 'utf8')).toContain('| change | h1 | write |');
    const svg = await readFile(join(reportDir, 'timeline.svg'), 'utf8');
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(4);
    // Readable by a person: a time axis from 0, and every gate marked where it passed.
    expect(svg).toContain('>0 s</text>');
    expect(svg.match(/<polygon [^>]*><title>gate passed: healthy \(gate\)/g)).toHaveLength(2);
  });
});
