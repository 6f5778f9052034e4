import { redactSecrets } from '../../core/redact.js';
import type { Reporter, RunEvent } from '../../engine/events.js';

/** `--output json`: one JSON object per event per line, and nothing else on stdout. */
export function createJsonReporter(write: (line: string) => void, now: () => Date = () => new Date()): Reporter {
  return {
    emit(event: RunEvent) {
      if (event.event === 'log' && event.level === 'debug') return;
      write(`${redactSecrets(JSON.stringify({ ts: now().toISOString(), ...event }))}\n`);
    },
    async close() {},
  };
}
