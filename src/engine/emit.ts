import { redactSecrets } from '../core/redact.js';
import type { TaskLogger } from '../core/types.js';
import type { RunEvent } from './events.js';

export type Emit = (event: RunEvent) => void;

/** A task's logger: every line becomes a `log` event of its stage (and host), secrets redacted. */
export function stageLogger(emit: Emit, stage: string, host?: string): TaskLogger {
  return {
    info: (message) => emit({ event: 'log', level: 'info', message: redactSecrets(message), host, stage }),
    warn: (message) => emit({ event: 'log', level: 'warn', message: redactSecrets(message), host, stage }),
    debug: (message) => emit({ event: 'log', level: 'debug', message: redactSecrets(message), host, stage }),
  };
}
