import { KcarunError, KcarunErrorList, formatError } from '../../core/errors.js';
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

/** One problem of an `error` line: where it is (FILE:LINE:COL, or the host) when known. */
interface JsonProblem {
  code: string;
  message: string;
  file?: string;
  line?: number;
  col?: number;
  host?: string;
}

/**
 * `--output json`: a failure reported as an error rather than through the run's events (invalid
 * input, a bad option, the lock, a refused resume: everything src/cli.ts catches) as one line
 *   {"ts", "event": "error", "code", "exitCode", "message", "errors": [{code, message, file?, line?, col?, host?}]}
 * `message` is the line stderr shows; `errors` has one entry per problem (validation reports all).
 * `exitCode` is given by the caller: only the CLI maps errors to exit codes.
 */
export function jsonErrorLine(err: unknown, exitCode: number, now: () => Date = () => new Date()): string {
  const problem = (e: KcarunError): JsonProblem => {
    const { position, host } = e.context;
    return { code: e.code, message: e.message, ...(position ? { file: position.file, line: position.line, col: position.col } : {}), ...(host ? { host } : {}) };
  };
  const line =
    err instanceof KcarunErrorList
      ? { code: err.code, message: err.message.split('\n')[0]!, errors: err.errors.map(problem) }
      : err instanceof KcarunError
        ? { code: err.code, message: formatError(err), errors: [problem(err)] }
        : // Not ours: the message only; the stack stays on stderr.
          { code: 'E_INTERNAL', message: `internal error: ${(err as Error)?.message ?? String(err)}`, errors: [] };
  return `${redactSecrets(JSON.stringify({ ts: now().toISOString(), event: 'error', code: line.code, exitCode, message: line.message, errors: line.errors }))}\n`;
}
