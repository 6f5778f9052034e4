import { redactSecrets } from '../../core/redact.js';
import { terminalText } from '../../core/terminal.js';
import type { Reporter, RunEvent } from '../../engine/events.js';

/** Line output for logs, cron and CI (stdout not a TTY, or CI=true): one line per thing that happened. */
export function createPlainReporter(write: (text: string) => void, options: { verbose?: boolean; showDiff?: boolean } = {}): Reporter {
  // Host output and playbook text may hold escapes and newlines: shown, never obeyed (core/terminal.ts).
  const line = (s: string) => write(`${terminalText(redactSecrets(s), { newlines: 'indent' })}\n`);
  return {
    emit(e: RunEvent) {
      switch (e.event) {
        case 'run-start':
          line(`kcarun: ${e.playbook} ${e.version}${e.dryRun ? ' (dry run: nothing will change)' : ''}${e.resumed ? ' (resumed)' : ''} — ${e.stages.length} stage(s)`);
          break;
        case 'stage-start':
          if (e.batches.length) line(`== ${e.stage} on ${e.hosts.join(', ')}${e.batches.length > 1 ? ` in ${e.batches.length} batches: ${e.batches.map((b) => `[${b.join(' ')}]`).join(' ')}` : ''}`);
          break;
        case 'task-end': {
          const status = e.ignored ? 'failed (ignored)' : e.status;
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
        case 'run-end':
          line(`run ${e.status} in ${seconds(e.durationMs)}: ${e.changed} changed, ${e.failed} failed${e.message ? ` — ${e.message}` : ''}`);
          break;
        default:
          break;
      }
    },
    async close() {},
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
