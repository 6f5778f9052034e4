import { redactSecrets } from '../../core/redact.js';
import { terminalText } from '../../core/terminal.js';
import type { Reporter, RunEvent } from '../../engine/events.js';

/** Line output for logs, cron and CI (stdout not a TTY, or CI=true): one line per thing that happened. */
export function createPlainReporter(write: (text: string) => void, options: { verbose?: boolean; showDiff?: boolean } = {}): Reporter {
  // Host output and playbook text may hold escapes and newlines: shown, never obeyed (core/terminal.ts).
  const line = (s: string) => write(`${terminalText(redactSecrets(s), { newlines: 'indent' })}\n`);
  let dryRun = false;
  return {
    emit(e: RunEvent) {
      switch (e.event) {
        case 'run-start':
          dryRun = e.dryRun;
          line(`kcarun: ${e.playbook} ${e.version}${e.dryRun ? ' (dry run: nothing will change)' : ''}${e.resumed ? ' (resumed)' : ''} — ${e.stages.length} stage(s)`);
          break;
        case 'stage-start':
          if (e.batches.length) line(`== ${e.stage} on ${e.hosts.join(', ')}${e.batches.length > 1 ? ` in ${e.batches.length} batches: ${e.batches.map((b) => `[${b.join(' ')}]`).join(' ')}` : ''}`);
          if (e.batches.length && e.leader?.note) line(`   order: ${e.leader.note}`);
          break;
        case 'task-end': {
          const status = e.ignored ? 'failed (ignored)' : dryRun && e.status === 'changed' ? 'would change' : dryRun && e.status === 'failed' ? 'would fail' : e.status;
          const detail = e.error ? `: ${e.error.message}` : e.summary ? `: ${e.summary}` : '';
          line(`  ${e.host.padEnd(10)} ${e.task} ... ${status} (${seconds(e.durationMs)})${detail}`);
          if (e.diff && (options.showDiff ?? true)) line(e.diff.replace(/^/gm, '      ').trimEnd());
          break;
        }
        case 'stage-end':
          if (e.status === 'skipped' || e.status === 'done-before') line(`== ${e.stage}: ${e.status === 'skipped' ? 'skipped' : 'already done'}${e.message ? ` (${e.message})` : ''}`);
          else line(`== ${e.stage}: ${e.status} (${seconds(e.durationMs)})${e.status === 'failed' && e.message ? `: ${e.message}` : ''}`);
          break;
        case 'rollback-start':
          line(`<< rolling back stage ${e.stage}: ${e.steps} completed step(s), newest first`);
          break;
        case 'rollback-step':
          line(`  ${e.host.padEnd(10)} undo ${e.task} ... ${e.status}${e.error ? `: ${e.error.message}` : ''}`);
          break;
        case 'rollback-end':
          line(`<< rollback of ${e.stage}: ${e.status === 'ok' ? 'complete' : 'INCOMPLETE — see the failed undo steps above'}`);
          break;
        case 'log':
          if (e.level !== 'debug' || options.verbose) line(`  ${e.level === 'warn' ? 'WARNING ' : ''}${e.host ? `${e.host}: ` : ''}${e.message}`);
          break;
        case 'plan-summary':
          for (const l of planSummaryLines(e)) line(l);
          break;
        case 'run-end':
          line(runEndLine(e, dryRun));
          break;
        default:
          break;
      }
    },
    async close() {},
  };
}

/** The last line of a run; a dry run's counts are of steps that would change something. */
export function runEndLine(e: Extract<RunEvent, { event: 'run-end' }>, dryRun: boolean): string {
  if (dryRun) {
    return `dry run ${e.status === 'planned' ? 'complete' : 'incomplete'} in ${seconds(e.durationMs)}: ${e.changed} step(s) would change something, ${e.failed} would fail${e.message ? ` — ${e.message}` : ''}`;
  }
  return `run ${e.status} in ${seconds(e.durationMs)}: ${e.changed} changed, ${e.failed} failed${e.message ? ` — ${e.message}` : ''}`;
}

/** A dry run's summary for people: per host, the files that would change, then the restarts per component. */
export function planSummaryLines(e: Extract<RunEvent, { event: 'plan-summary' }>): string[] {
  const lines = [`Plan summary${e.complete ? '' : ' (up to where the run would stop)'}:`];
  if (e.hosts.length === 0) lines.push('  no host would change');
  for (const h of e.hosts) {
    const restarts = h.restarts.map((r) => `${r.component} x${r.count}`).join(', ');
    lines.push(`  ${h.host}: ${h.files.length} file(s) would change${restarts ? `; restarts: ${restarts}` : ''}${h.gates ? `; ${h.gates} health gate(s)` : ''}`);
    for (const f of h.files) lines.push(`    ${f.kind.padEnd(9)} ${f.path} (+${f.added} -${f.removed}${f.steps > 1 ? `, ${f.steps} steps` : ''})`);
  }
  return lines;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
