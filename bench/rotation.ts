/**
 * Rotation figure: where the wall time of a real rotation went, read from what the run recorded —
 * the JSON events of `kcarun ... --output json` (task-end: ts + durationMs) or, failing that, a run
 * journal (`<state>/runs/<id>.jsonl`: step records with `at` + durationMs; several attempts of a
 * resumed run are added up). Tasks run on several hosts at once, so time is measured as the union
 * of task intervals, not their sum:
 *   waiting  = time some waiting task (restart, health gate, kube wait, rollout, snapshot) was running
 *   work     = time only non-waiting tasks were running (kcarun's own work plus remote commands)
 *   overhead = time no task was running at all (the runner itself: planning, journal, batches)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlaybook } from '../src/formats/playbook/load.js';
import { requireArtifacts } from '../lab/real/artifacts.js';
import { parseGnuTime } from './measure.js';

export const WAITING_TYPES = new Set(['service-restart', 'wait-healthy', 'kube-wait', 'kube-rollout-restart', 'etcd-snapshot']);

export interface RotationResult {
  source: string;
  /** Where the figure came from, when it was not measured in this run. */
  note?: string;
  format: 'events' | 'journal';
  playbook: string;
  attempts: number;
  wall_s: number;
  waiting_s: number;
  work_s: number;
  overhead_s: number;
  waiting_share: number;
  work_share: number;
  overhead_share: number;
  tasks: number;
  byType: Record<string, { count: number; summed_s: number }>;
  /** The kcarun process's own CPU time (GNU time), when the run was measured here. */
  cpu_s?: number;
  cpu_share?: number;
  peak_rss_mb?: number;
  /** The lab's verdict after the rotation (traffic requests, failures, all certificates on the new CAs...). */
  verify?: Record<string, unknown>;
  exitCode?: number;
}

const ROOT = join(import.meta.dirname, '..');

/** The real lab's private /16 for the demo rotation unless told (the same as `--only rotation`'s: never run together). */
export const DEMO_ROTATION_SUBNET = '10.234.0.0/16';

/**
 * Runs the demo on the real kubeadm lab (`lab/demo.ts --layout kubeadm`: a genuine 3-node kubeadm HA
 * cluster of lab/real/ with traffic, the stock rotate-ca playbook with its default gates) with its
 * events recorded, and reads the figure from them: ~1-2 min to bring the lab up, ~8-13 min of
 * rotation on a quiet 2-core machine. `subnet` is the lab's private /16 (lab/real/plan.ts).
 * Throws at once, naming the build command, when the pinned binaries are not in the cache
 * (scripts/build-lab-binaries.sh, ~17-24 min cold: the benchmark does not build them unseen); throws
 * when the demo exits non-zero (its verify line in the message).
 */
export async function measureDemoRotation(log: (s: string) => void, subnet = DEMO_ROTATION_SUBNET): Promise<RotationResult> {
  requireArtifacts();
  const work = await mkdtemp(join(tmpdir(), 'kcarun-bench-rotation-'));
  const events = join(work, 'events.jsonl');
  try {
    let stdout = '';
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'lab/demo.ts'), '--layout', 'kubeadm', '--events', events, '--dir', join(work, 'lab'), '--subnet', subnet],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      // the demo's and the lab's progress lines (lab up takes a minute or two); kcarun's own events go to the file
      child.stderr!.on('data', (d: Buffer) => d.toString().split('\n').filter((l) => l.startsWith('demo:') || l.startsWith('lab:')).forEach((l) => log(`  ${l}`)));
      child.once('error', reject);
      child.once('close', (code) => resolve(code ?? 1));
    });
    const lastLine = stdout.trim().split('\n').pop() ?? '';
    const verify = lastLine.startsWith('{') ? (JSON.parse(lastLine) as Record<string, unknown>) : undefined;
    if (exitCode !== 0) throw new Error(`the demo rotation exited ${exitCode} (verify: ${lastLine || 'none'})`);
    const result = await rotationFromFile(events, join(ROOT, 'playbooks/rotate-ca.yaml'));
    const time = parseGnuTime(await readFile(`${events}.time`, 'utf8'));
    return {
      ...result,
      source: 'the demo rotation, measured in this run (`npm run demo`: the real 3-node kubeadm lab with traffic, default gates)',
      cpu_s: time.cpuSeconds,
      cpu_share: time.cpuSeconds / result.wall_s,
      peak_rss_mb: time.peakRssMb,
      verify,
      exitCode,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Interval {
  start: number;
  end: number;
  stage: string;
  taskIndex: number;
}

/** Total length of the union of intervals. */
function unionLength(intervals: { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const i of sorted) {
    if (i.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.start;
      curEnd = i.end;
    } else curEnd = Math.max(curEnd, i.end);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

export async function rotationFromFile(file: string, playbookFile: string): Promise<RotationResult> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim().startsWith('{'));
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const isEvents = records.some((r) => typeof r.event === 'string');
  const intervals: Interval[] = [];
  const spans: { start: number; end: number }[] = [];
  let open: number | undefined;
  for (const r of records) {
    if (isEvents) {
      const ts = Date.parse(String(r.ts));
      if (r.event === 'run-start') open = ts;
      if (r.event === 'run-end' && open !== undefined) (spans.push({ start: open, end: ts }), (open = undefined));
      if (r.event === 'task-end' && typeof r.durationMs === 'number' && r.status !== 'done-before')
        intervals.push({ start: ts - r.durationMs, end: ts, stage: String(r.stage), taskIndex: Number(r.taskIndex) });
    } else {
      if (r.t === 'run') open = Date.parse(String(r.startedAt));
      if (r.t === 'end' && open !== undefined) (spans.push({ start: open, end: Date.parse(String(r.at)) }), (open = undefined));
      if (r.t === 'step' && r.status !== 'started' && typeof r.durationMs === 'number') {
        const at = Date.parse(String(r.at));
        intervals.push({ start: at - r.durationMs, end: at, stage: String(r.stage), taskIndex: Number(r.taskIndex) });
      }
    }
  }
  if (spans.length === 0) throw new Error(`${file}: no finished run in it (no run-start/run-end or run/end records)`);
  // Task types by stage name and task index, from the playbook that ran.
  const playbook = await loadPlaybook(playbookFile);
  const types = new Map<string, string[]>(playbook.stages.map((s) => [s.spec.name, s.spec.tasks.map((t) => t.type)]));
  const typeOf = (i: Interval) => types.get(i.stage)?.[i.taskIndex] ?? 'unknown';
  const wallMs = spans.reduce((a, s) => a + (s.end - s.start), 0);
  const waitingMs = unionLength(intervals.filter((i) => WAITING_TYPES.has(typeOf(i))));
  const busyMs = unionLength(intervals);
  const byType: RotationResult['byType'] = {};
  for (const i of intervals) {
    const t = typeOf(i);
    byType[t] ??= { count: 0, summed_s: 0 };
    byType[t].count++;
    byType[t].summed_s += (i.end - i.start) / 1000;
  }
  const result: RotationResult = {
    source: file,
    format: isEvents ? 'events' : 'journal',
    playbook: playbook.spec.metadata.name,
    attempts: spans.length,
    wall_s: wallMs / 1000,
    waiting_s: waitingMs / 1000,
    work_s: (busyMs - waitingMs) / 1000,
    overhead_s: (wallMs - busyMs) / 1000,
    waiting_share: waitingMs / wallMs,
    work_share: (busyMs - waitingMs) / wallMs,
    overhead_share: (wallMs - busyMs) / wallMs,
    tasks: intervals.length,
    byType,
  };
  return result;
}
