import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../transport/local.js';
import { redactSecrets } from '../../core/redact.js';
import type { Reporter, RunEvent } from '../../engine/events.js';

/** Task types whose result is a health verdict: listed on their own in the report. */
const GATE_TYPES = new Set(['wait-healthy', 'kube-wait', 'preflight', 'cert-check', 'etcd-snapshot']);

interface Span {
  stage: string;
  host: string;
  start: number;
  end: number;
}

/**
 * Records a run's events and, when the run ends, writes its report into the state dir:
 * report/report.json (everything), report/report.md (for people: what changed on which host, each
 * stage's duration, every health gate's result) and report/timeline.svg (stages per host over
 * time). Wraps the display reporter; the report is the same whatever the output mode.
 */
export function withRunReport(inner: Reporter, stateDir: string, now: () => number = Date.now): Reporter {
  const events: (RunEvent & { t: number })[] = [];
  return {
    emit(event) {
      events.push({ ...event, t: now() });
      inner.emit(event);
    },
    async close() {
      await inner.close();
      if (events.some((e) => e.event === 'run-end')) await writeReport(stateDir, events);
    },
  };
}

async function writeReport(stateDir: string, events: (RunEvent & { t: number })[]): Promise<void> {
  const start = events.find((e) => e.event === 'run-start') as Extract<RunEvent, { event: 'run-start' }> & { t: number };
  const end = events.find((e) => e.event === 'run-end') as Extract<RunEvent, { event: 'run-end' }> & { t: number };
  const stages = events.filter((e): e is Extract<RunEvent, { event: 'stage-end' }> & { t: number } => e.event === 'stage-end');
  const ends = events.filter((e): e is Extract<RunEvent, { event: 'task-end' }> & { t: number } => e.event === 'task-end');
  const changes = ends.filter((e) => e.changed).map((e) => ({ stage: e.stage, host: e.host, task: e.task, summary: e.summary ?? '' }));
  const gates = ends
    .filter((e) => GATE_TYPES.has(e.type) && e.status !== 'done-before' && e.status !== 'skipped')
    .map((e) => ({ stage: e.stage, host: e.host, task: e.task, type: e.type, ok: e.status !== 'failed', durationMs: e.durationMs, result: e.error?.message ?? e.summary ?? '' }));
  // ca-generate summaries carry the kubeadm join hashes (old and new): kept on their own so that
  // whoever re-writes join commands finds them without reading every change.
  const cas = ends
    .filter((e) => e.type === 'ca-generate' && e.status !== 'failed' && e.status !== 'skipped' && e.summary)
    .map((e) => ({ stage: e.stage, host: e.host, task: e.task, summary: e.summary ?? '' }));
  const spans = new Map<string, Span>();
  for (const e of ends) {
    if (e.status === 'done-before' || e.status === 'skipped') continue;
    const key = `${e.stage}\u0000${e.host}`;
    const span = spans.get(key) ?? { stage: e.stage, host: e.host, start: e.t - e.durationMs, end: e.t };
    span.start = Math.min(span.start, e.t - e.durationMs);
    span.end = Math.max(span.end, e.t);
    spans.set(key, span);
  }
  const report = {
    playbook: start.playbook,
    version: start.version,
    runId: start.runId,
    startedAt: new Date(start.t).toISOString(),
    endedAt: new Date(end.t).toISOString(),
    status: end.status,
    durationMs: end.durationMs,
    stages: stages.map((s) => ({ name: s.stage, status: s.status, durationMs: s.durationMs, message: s.message })),
    changes,
    gates,
    cas,
  };
  const dir = join(stateDir, 'report');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The report leaves kcarun like its output does: through the one redactor.
  await writeFileAtomic(join(dir, 'report.json'), redactSecrets(`${JSON.stringify(report, null, 2)}\n`), 0o600);
  await writeFileAtomic(join(dir, 'report.md'), redactSecrets(markdown(report)), 0o600);
  await writeFileAtomic(join(dir, 'timeline.svg'), redactSecrets(timelineSvg([...spans.values()], start.t, end.t)), 0o600);
}

function markdown(r: {
  playbook: string; version: string; runId: string; startedAt: string; status: string; durationMs: number;
  stages: { name: string; status: string; durationMs: number; message?: string }[];
  changes: { stage: string; host: string; task: string; summary: string }[];
  gates: { stage: string; host: string; task: string; ok: boolean; durationMs: number; result: string }[];
  cas: { stage: string; host: string; task: string; summary: string }[];
}): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `# ${r.playbook} ${r.version} — ${r.status}`,
    '',
    `Run ${r.runId}, started ${r.startedAt}, ${(r.durationMs / 1000).toFixed(1)} s. Timeline: [timeline.svg](timeline.svg).`,
    '',
    '## Stages',
    '| stage | status | duration |',
    '|---|---|---|',
    ...r.stages.map((s) => `| ${s.name} | ${s.status}${s.message ? `: ${cell(s.message)}` : ''} | ${(s.durationMs / 1000).toFixed(1)} s |`),
    '',
    `## Changes (${r.changes.length})`,
    '| stage | host | task | what |',
    '|---|---|---|---|',
    ...r.changes.map((c) => `| ${c.stage} | ${c.host} | ${cell(c.task)} | ${cell(c.summary)} |`),
    '',
    `## Health gates (${r.gates.length})`,
    '| stage | host | gate | result | duration |',
    '|---|---|---|---|---|',
    ...r.gates.map((g) => `| ${g.stage} | ${g.host} | ${cell(g.task)} | ${g.ok ? 'passed' : 'FAILED'}: ${cell(g.result)} | ${(g.durationMs / 1000).toFixed(1)} s |`),
    '',
  ];
  if (r.cas.length > 0) {
    lines.push(
      `## CAs and kubeadm join hashes (${r.cas.length})`,
      'kubeadm join commands that pin an old CA\'s `--discovery-token-ca-cert-hash` stop working after finalize: use the new hash.',
      '',
      '| stage | task | CA |',
      '|---|---|---|',
      ...r.cas.map((c) => `| ${c.stage} | ${cell(c.task)} | ${cell(c.summary)} |`),
      '',
    );
  }
  return lines.join('\n');
}

function timelineSvg(spans: Span[], t0: number, t1: number): string {
  const hosts = [...new Set(spans.map((s) => s.host))];
  const stages = [...new Set(spans.map((s) => s.stage))];
  const width = 1000;
  const left = 120;
  const rowH = 26;
  const top = 30;
  const height = top + hosts.length * rowH + 20 + Math.ceil(stages.length / 4) * 16;
  const x = (t: number) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - 10);
  const color = (stage: string) => `hsl(${(stages.indexOf(stage) * 47) % 360}, 60%, 55%)`;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="16">stages per host over ${((t1 - t0) / 1000).toFixed(1)} s</text>`,
    ...hosts.map((h, i) => `<text x="4" y="${top + i * rowH + 16}">${esc(h)}</text>`),
    ...spans.map((s) => {
      const i = hosts.indexOf(s.host);
      const w = Math.max(1, x(s.end) - x(s.start));
      return `<rect x="${x(s.start).toFixed(1)}" y="${top + i * rowH + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${color(s.stage)}"><title>${esc(s.stage)} on ${esc(s.host)}: ${((s.end - s.start) / 1000).toFixed(1)} s</title></rect>`;
    }),
    ...stages.map((st, i) => {
      const lx = left + (i % 4) * 220;
      const ly = top + hosts.length * rowH + 14 + Math.floor(i / 4) * 16;
      return `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color(st)}"/><text x="${lx + 14}" y="${ly}">${esc(st)}</text>`;
    }),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
