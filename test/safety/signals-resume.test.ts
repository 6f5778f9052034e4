import { existsSync, readFileSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';
import { latestSteps, readJournal } from '../../src/engine/journal.js';
import { writeLocalInventory, writePlaybook } from './fixture.js';

/* Issue 13, item 5 (and the journal cases of item 6). */
let dir: string;
let cleanup: () => Promise<void>;
let inv: string;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-signals-'));
  inv = await writeLocalInventory(dir);
});
afterEach(async () => cleanup());

const log = () => join(dir, 'effects.log');
const effects = async () => (existsSync(log()) ? (await readFile(log(), 'utf8')).split('\n').filter(Boolean) : []);
const waitFor = async (check: () => Promise<boolean> | boolean, ms = 45_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};
/** Running (a zombie waiting for a reaper that is not its parent any more counts as gone). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Stage: `first` makes a file (undo removes it), `slow` sleeps until the file `go` exists. */
async function twoSteps(): Promise<string> {
  const made = join(dir, 'made.txt');
  const go = join(dir, 'go');
  return writePlaybook(
    dir,
    'p.yaml',
    `  - name: s
    hosts: h1
    tasks:
      - { name: first, type: file-upload, with: { dest: ${made}, content: "x" } }
      - { name: slow, type: local-exec, with: { command: "echo slow-start >> ${log()}; echo $$ > ${join(dir, 'pid')}; while [ ! -f ${go} ]; do sleep 0.1; done; echo slow-done >> ${log()}" } }
`,
  );
}

describe('signals and resume (issue 13.5)', () => {
  it('a second SIGINT stops the step in flight: journaled interrupted, exit 130, no rollback; --resume runs only that step', async () => {
    const pb = await twoSteps();
    const { child, done } = startCli([pb, '-i', inv, '--yes'], { cwd: dir });
    await waitFor(async () => (await effects()).includes('slow-start'));
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    const res = await done;
    expect(res.code, res.stdout + res.stderr).toBe(130);
    expect(existsSync(join(dir, 'made.txt'))).toBe(true);
    const steps = latestSteps(await readJournal(join(dir, '.kcarun')));
    expect(steps.get('s/0/h1')?.status).toBe('ok');
    expect(steps.get('s/1/h1')?.status).toBe('interrupted');
    expect(res.stdout).not.toMatch(/rolling back/);

    await writeFile(join(dir, 'go'), '');
    const resumed = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await effects()).toEqual(['slow-start', 'slow-start', 'slow-done']);
  });

  it('after kill -9, the takeover kills the dead run\'s command before resuming beside it', async () => {
    const pb = await twoSteps();
    const { child, done } = startCli([pb, '-i', inv, '--yes'], { cwd: dir });
    await waitFor(() => existsSync(join(dir, 'pid')));
    const survivor = Number((await readFile(join(dir, 'pid'), 'utf8')).trim());
    child.kill('SIGKILL');
    await done;
    expect(alive(survivor)).toBe(true);
    // The resumed step starts (a new pid in the file): by then the survivor must be gone.
    const resumed = startCli([pb, '-i', inv, '--yes', '--resume', '--output', 'json'], { cwd: dir });
    await waitFor(async () => Number((await readFile(join(dir, 'pid'), 'utf8')).trim() || survivor) !== survivor);
    expect(alive(survivor)).toBe(false);
    await writeFile(join(dir, 'go'), '');
    const res = await resumed.done;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/killed 1 of its commands still running/);
    expect((await effects()).filter((l) => l === 'slow-done')).toHaveLength(1);
  });

  it('--resume refuses changed variables (-e, inventory) unless --force', async () => {
    const pb = await writePlaybook(dir, 'v.yaml', `  - name: s\n    hosts: h1\n    tasks:\n      - { name: a, type: local-exec, with: { command: "echo {{ target }} >> ${log()}; exit {{ rc }}" } }\n`);
    const first = await runCli([pb, '-i', inv, '--yes', '-e', 'target=OLD', '-e', 'rc=1'], { cwd: dir });
    expect(first.code).toBe(1);
    const changed = await runCli([pb, '-i', inv, '--yes', '--resume', '-e', 'target=NEW', '-e', 'rc=1'], { cwd: dir });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('--resume: the variables (inventory or -e) differ from the run started');
    await appendFile(inv, '# a comment changes nothing\n');
    const same = await runCli([pb, '-i', inv, '--yes', '--resume', '-e', 'target=OLD', '-e', 'rc=0'], { cwd: dir });
    expect(same.code).toBe(2);
    const forced = await runCli([pb, '-i', inv, '--yes', '--resume', '--force', '-e', 'target=OLD', '-e', 'rc=0'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
  });

  it('--fresh --resume together is refused with exit 2', async () => {
    const pb = await writePlaybook(dir, 'v.yaml', `  - name: s\n    hosts: h1\n    tasks: [{ name: a, type: assert, with: { that: "true" } }]\n`);
    const res = await runCli([pb, '-i', inv, '--yes', '--fresh', '--resume'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--resume and --fresh contradict each other');
  });

  it('a corrupt journal line is named (exit 2); --fresh always starts over', async () => {
    const pb = await writePlaybook(dir, 'v.yaml', `  - name: s\n    hosts: h1\n    tasks: [{ name: a, type: local-exec, with: { command: "echo ran >> ${log()}" } }]\n`);
    expect((await runCli([pb, '-i', inv, '--yes'], { cwd: dir })).code).toBe(0);
    const journal = join(dir, '.kcarun', 'journal.jsonl');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines.splice(1, 0, '{not json');
    await writeFile(journal, lines.join('\n'));
    const res = await runCli([pb, '-i', inv, '--yes', '--resume'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${journal}:2: corrupt journal line`);
    expect(res.stderr).toContain('--fresh');
    const fresh = await runCli([pb, '-i', inv, '--yes', '--fresh'], { cwd: dir });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(await effects()).toEqual(['ran', 'ran']);
  });
});
