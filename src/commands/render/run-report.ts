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
  // `files`: the host files the step changed, by path (what a dry run's planned changes compare with).
  const changes = ends.filter((e) => e.changed).map((e) => ({ stage: e.stage, host: e.host, task: e.task, summary: e.summary ?? '', ...(e.files?.length ? { files: e.files } : {}) }));
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
  const marks = ends
    .filter((e) => e.status !== 'done-before' && e.status !== 'skipped' && (e.type === 'service-restart' || e.type === 'wait-healthy' || e.type === 'kube-wait'))
    .map((e) => ({ host: e.host, t: e.t, kind: e.type === 'service-restart' ? ('restart' as const) : ('gate' as const), ok: e.status !== 'failed', label: `${e.task} (${e.stage})${e.summary ? `: ${e.summary}` : ''}${e.error ? `: ${e.error.message}` : ''}` }));
  await writeFileAtomic(join(dir, 'timeline.svg'), redactSecrets(timelineSvg([...spans.values()], marks, start.t, end.t)), 0o600);
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

/** A restart or a health gate on a host, at the time it ended. */
interface Mark {
  host: string;
  t: number;
  kind: 'restart' | 'gate';
  ok: boolean;
  label: string;
}

/**
 * The rotation's phases, from the stock playbooks' stage names (docs/rotation.md): trust, switch and
 * finalize each get one hue, the stages within a phase alternate two shades of it. Stages of other
 * playbooks fall into "other" unless their name starts with a phase's word.
 */
const PHASES: { name: string; match: RegExp; colors: [string, string] }[] = [
  { name: 'preflight', match: /^(detect|preflight|backup)\b/, colors: ['#9e9e9e', '#bdbdbd'] },
  { name: 'prepare', match: /^(prepare|distribute|renew-(detect|fetch|prepare)|offline-(confirm|backup|prepare))\b/, colors: ['#8e7cc3', '#b4a7d6'] },
  { name: 'trust', match: /^trust\b/, colors: ['#1c64b4', '#5b9bd5'] },
  { name: 'switch', match: /^(switch|renew|offline)\b/, colors: ['#d46a00', '#f0a04b'] },
  { name: 'finalize', match: /^(finalize|post-check)\b/, colors: ['#38761d', '#7cb85f'] },
];
const OTHER_PHASE = { name: 'other', colors: ['#607d8b', '#90a4ae'] as [string, string] };

function phaseOf(stage: string): { name: string; colors: [string, string] } {
  return PHASES.find((p) => p.match.test(stage)) ?? OTHER_PHASE;
}

/** A step of 1, 2 or 5 times a power of ten seconds giving about `target` ticks over `seconds`. */
function tickStep(seconds: number, target = 10): number {
  const raw = Math.max(seconds, 0.001) / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
}

/** Seconds on a short run's axis, m:ss on one of a minute or more (one format per axis). */
function formatTick(s: number, minutes: boolean): string {
  if (!minutes) return `${Number(s.toFixed(3))} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return `${m}:${String(rest).padStart(2, '0')}`;
}

/**
 * The run over time, for people: a band of phases (trust / switch / finalize in their own colours)
 * over a time axis, one row per host with a bar per stage (hover: its name and duration), a red
 * triangle where a component restarted, a diamond where a health gate passed (green) or failed
 * (red), and a legend.
 */
function timelineSvg(spans: Span[], marks: Mark[], t0: number, t1: number): string {
  const hosts = [...new Set([...spans.map((s) => s.host), ...marks.map((m) => m.host)])];
  const stages = [...new Set(spans.map((s) => s.stage))];
  const width = 1200;
  const left = 140;
  const right = 20;
  const rowH = 30;
  const phaseTop = 34;
  const phaseH = 22;
  const stageTop = phaseTop + phaseH + 2;
  const stageH = 16;
  const axisY = stageTop + stageH + 24;
  const top = axisY + 8;
  const legendY = top + hosts.length * rowH + 26;
  const height = legendY + 40;
  const span = Math.max(1, t1 - t0);
  const x = (t: number) => left + ((t - t0) / span) * (width - left - right);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const colorOf = (stage: string) => {
    const phase = phaseOf(stage);
    const sameStages = stages.filter((st) => phaseOf(st).name === phase.name);
    return phase.colors[sameStages.indexOf(stage) % 2]!;
  };

  // Phase band: each phase from its first stage's start to its last stage's end.
  const phases = new Map<string, { start: number; end: number; color: string }>();
  for (const s of spans) {
    const p = phaseOf(s.stage);
    const cur = phases.get(p.name);
    phases.set(p.name, { start: Math.min(cur?.start ?? s.start, s.start), end: Math.max(cur?.end ?? s.end, s.end), color: p.colors[0] });
  }
  // Stage band: each stage from its first bar's start to its last bar's end, named where it fits.
  const stageExtent = stages.map((st) => {
    const own = spans.filter((s) => s.stage === st);
    return { stage: st, start: Math.min(...own.map((s) => s.start)), end: Math.max(...own.map((s) => s.end)) };
  });
  const step = tickStep(span / 1000);
  const minutes = span >= 60_000;
  const ticks: number[] = [];
  for (let s = 0; s <= span / 1000 + 1e-9; s += step) ticks.push(s);

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Run timeline: ${esc(secs(span))}, ${hosts.length} host(s), ${stages.length} stage(s)</text>`,
    `<text x="4" y="${phaseTop + 15}" font-weight="bold">phase</text>`,
    ...[...phases.entries()].map(([name, p]) => {
      const w = Math.max(2, x(p.end) - x(p.start));
      return `<g><rect x="${x(p.start).toFixed(1)}" y="${phaseTop}" width="${w.toFixed(1)}" height="${phaseH}" fill="${p.color}" opacity="0.9"/>${w > 40 ? `<text x="${(x(p.start) + 4).toFixed(1)}" y="${phaseTop + 15}" fill="#ffffff" font-weight="bold">${esc(name)}</text>` : ''}</g>`;
    }),
    `<text x="4" y="${stageTop + 12}" font-size="11">stage</text>`,
    ...stageExtent.map((st) => {
      const w = Math.max(1, x(st.end) - x(st.start));
      const fits = w > 6.2 * st.stage.length + 4;
      return `<g><rect x="${x(st.start).toFixed(1)}" y="${stageTop}" width="${w.toFixed(1)}" height="${stageH}" fill="${colorOf(st.stage)}" stroke="#ffffff" stroke-width="0.5"/>${fits ? `<text x="${(x(st.start) + 2).toFixed(1)}" y="${stageTop + 12}" font-size="10" fill="#ffffff">${esc(st.stage)}</text>` : ''}</g>`;
    }),
    // Time axis with grid lines through the host rows.
    `<line x1="${left}" y1="${axisY}" x2="${width - right}" y2="${axisY}" stroke="#333333"/>`,
    ...ticks.map((s) => {
      const tx = x(t0 + s * 1000).toFixed(1);
      return `<line x1="${tx}" y1="${axisY - 4}" x2="${tx}" y2="${top + hosts.length * rowH}" stroke="#dddddd"/><line x1="${tx}" y1="${axisY - 4}" x2="${tx}" y2="${axisY}" stroke="#333333"/><text x="${tx}" y="${axisY - 7}" text-anchor="middle" font-size="10">${esc(formatTick(s, minutes))}</text>`;
    }),
    ...hosts.map((h, i) => `<text x="4" y="${top + i * rowH + 19}">${esc(h)}</text><line x1="${left}" y1="${top + (i + 1) * rowH}" x2="${width - right}" y2="${top + (i + 1) * rowH}" stroke="#eeeeee"/>`),
    ...spans.map((s) => {
      const i = hosts.indexOf(s.host);
      const w = Math.max(1, x(s.end) - x(s.start));
      const label = w > 8 * s.stage.length ? `<text x="${(x(s.start) + 3).toFixed(1)}" y="${top + i * rowH + 19}" font-size="10" fill="#ffffff" pointer-events="none">${esc(s.stage)}</text>` : '';
      return `<rect x="${x(s.start).toFixed(1)}" y="${top + i * rowH + 5}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${colorOf(s.stage)}" stroke="#ffffff" stroke-width="0.5"><title>${esc(s.stage)} on ${esc(s.host)}: ${secs(s.end - s.start)}</title></rect>${label}`;
    }),
    ...marks.map((m) => {
      const i = hosts.indexOf(m.host);
      const mx = x(m.t);
      if (m.kind === 'restart') {
        const y = top + i * rowH + 2;
        return `<polygon points="${(mx - 5).toFixed(1)},${y} ${(mx + 5).toFixed(1)},${y} ${mx.toFixed(1)},${y + 9}" fill="${m.ok ? '#b00020' : '#000000'}"><title>restart: ${esc(m.label)}</title></polygon>`;
      }
      const y = top + (i + 1) * rowH - 6;
      return `<polygon points="${mx.toFixed(1)},${y - 5} ${(mx + 5).toFixed(1)},${y} ${mx.toFixed(1)},${y + 5} ${(mx - 5).toFixed(1)},${y}" fill="${m.ok ? '#0a8a0a' : '#d00000'}" stroke="#ffffff" stroke-width="0.8"><title>gate ${m.ok ? 'passed' : 'FAILED'}: ${esc(m.label)}</title></polygon>`;
    }),
  ];
  // Legend: the phases present, then the markers.
  let lx = left;
  for (const [name, p] of phases) {
    parts.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${p.color}"/><text x="${lx + 16}" y="${legendY}">${esc(name)}</text>`);
    lx += 24 + name.length * 7 + 12;
  }
  parts.push(
    `<polygon points="${lx},${legendY - 10} ${lx + 10},${legendY - 10} ${lx + 5},${legendY - 1}" fill="#b00020"/><text x="${lx + 14}" y="${legendY}">restart</text>`,
    `<polygon points="${lx + 80},${legendY - 10} ${lx + 85},${legendY - 5} ${lx + 80},${legendY} ${lx + 75},${legendY - 5}" fill="#0a8a0a"/><text x="${lx + 90}" y="${legendY}">health gate passed</text>`,
    `<polygon points="${lx + 230},${legendY - 10} ${lx + 235},${legendY - 5} ${lx + 230},${legendY} ${lx + 225},${legendY - 5}" fill="#d00000"/><text x="${lx + 240}" y="${legendY}">gate failed</text>`,
    `<text x="${left}" y="${legendY + 22}" font-size="10" fill="#555555">bars: one per stage and host (hover for name and duration); shades alternate between the stages of a phase</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
