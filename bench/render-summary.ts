/**
 * Rebuilds bench/results/summary.md from the JSON files in bench/results/ (fanout.json,
 * startup.json, pki.json and, when present, rotation.json) — e.g. after adding a rotation figure
 * measured separately with bench/rotation.ts. Run: npx tsx bench/render-summary.ts
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FanoutRow } from './fanout.js';
import type { RotationResult } from './rotation.js';
import type { StartupResult } from './startup.js';
import { summaryMarkdown, type BenchSummary } from './summary.js';

const RESULTS = join(import.meta.dirname, 'results');
const read = async <T>(name: string): Promise<T | undefined> =>
  JSON.parse(await readFile(join(RESULTS, name), 'utf8').catch(() => 'null')) ?? undefined;

const fanout = await read<{ date: string; quick: boolean; repeats: number; loadavg: BenchSummary['loadavg']; machine: BenchSummary['machine']; rows: FanoutRow[] }>('fanout.json');
const startup = await read<StartupResult>('startup.json');
const pki = await read<BenchSummary['pki']>('pki.json');
const rotation = await read<RotationResult>('rotation.json');
if (!fanout || !startup || !pki) throw new Error('bench/results needs fanout.json, startup.json and pki.json');
await writeFile(
  join(RESULTS, 'summary.md'),
  summaryMarkdown({ date: fanout.date, quick: fanout.quick, repeats: fanout.repeats, machine: fanout.machine, loadavg: fanout.loadavg, fanout: fanout.rows, startup, pki, rotation }),
);
process.stdout.write(`${join(RESULTS, 'summary.md')}\n`);
