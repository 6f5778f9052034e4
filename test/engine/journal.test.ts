import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { filesChangedInStage, Journal, journalPath, readJournal, type StepRecord } from '../../src/engine/journal.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const step = (i: number): StepRecord => ({ t: 'step', key: `s/${i}`, stage: 's', task: 't', taskIndex: 0, host: `h${i}`, status: 'ok', at: new Date(0).toISOString() });

describe('the run journal', () => {
  it('has every record on disk, whole and in order, once its append resolves, however many come at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kcarun-journal-'));
    dirs.push(dir);
    const journal = await Journal.open(dir, { fresh: true });
    const seenOnDisk: number[] = [];
    // 200 hosts finishing a step together: each append is checked against the file when it resolves.
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        journal.append(step(i)).then(async () => {
          // Read as --resume and `kcarun status` do: a later group may be mid-write, and its torn
          // last line is not a record yet (readJournal drops it); record i must be there whole.
          const records = await readJournal(dir);
          seenOnDisk.push(records.filter((r) => (r as { key?: string }).key === `s/${i}`).length);
        }),
      ),
    );
    await journal.append(step(200));
    await journal.close();
    expect(seenOnDisk).toEqual(Array(200).fill(1));
    const records = await readJournal(dir);
    expect(records.map((r) => (r as { key: string }).key)).toEqual(Array.from({ length: 201 }, (_, i) => `s/${i}`));
  });
});

describe('a journal torn by a kill mid-write', () => {
  it('drops the torn record when reopened, so the next record starts its own line and the journal stays readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kcarun-journal-'));
    dirs.push(dir);
    const first = await Journal.open(dir, { fresh: true });
    await first.append(step(1));
    await first.close();
    appendFileSync(journalPath(dir), '{"t":"step","key":"s/2","stage":"s","ta');
    expect((await readJournal(dir)).length).toBe(1);
    // --resume, `kcarun rollback`: reopen and append.
    const again = await Journal.open(dir, { fresh: false });
    await again.append(step(3));
    await again.close();
    expect((await readJournal(dir)).map((r) => (r as StepRecord).key)).toEqual(['s/1', 's/3']);
    expect(readFileSync(journalPath(dir), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });
});

describe('a step\'s "started" mark', () => {
  it('is in the file when its append resolves, before anything else is appended', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kcarun-journal-'));
    dirs.push(dir);
    const journal = await Journal.open(dir, { fresh: true });
    await journal.append({ ...step(1), status: 'started' }, { sync: false });
    // What a kill -9 right now would leave: the mark is written (the page cache outlives the process).
    expect(readFileSync(journalPath(dir), 'utf8')).toContain('"status":"started"');
    await journal.close();
  });
});

describe('filesChangedInStage (what a static-pod restart knows the kubelet acts on by itself)', () => {
  const rec = (key: string, stage: string, host: string, status: StepRecord['status'], files?: string[]): StepRecord => ({ t: 'step', key, stage, task: 't', taskIndex: 0, host, status, at: new Date(0).toISOString(), ...(files ? { files } : {}) });
  it("names this host's completed steps' files of this stage, as each step's latest record says", () => {
    const m = '/etc/kubernetes/manifests/kube-apiserver.yaml';
    const records = [
      rec('trust-apiserver/0/cp1', 'trust-apiserver', 'cp1', 'started'),
      rec('trust-apiserver/0/cp1', 'trust-apiserver', 'cp1', 'ok', [m]),
      rec('trust-apiserver/0/cp2', 'trust-apiserver', 'cp2', 'ok', [m]),
      rec('trust-etcd/0/cp1', 'trust-etcd', 'cp1', 'ok', ['/etc/kubernetes/manifests/etcd.yaml']),
    ];
    expect(filesChangedInStage(records, 'trust-apiserver', 'cp1')).toEqual([m]);
    // Rolled back since: the file is as it was before the stage.
    expect(filesChangedInStage([...records, rec('trust-apiserver/0/cp1', 'trust-apiserver', 'cp1', 'rolled-back')], 'trust-apiserver', 'cp1')).toEqual([]);
    expect(filesChangedInStage(records, 'trust-apiserver', 'cp3')).toEqual([]);
  });
});
