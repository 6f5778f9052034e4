/**
 * The one error type kcarun throws on purpose. Every error has a stable `code` that scripts can
 * match on, and the context an operator needs to act (file position, host, command, exit code).
 * Only src/cli.ts turns errors into exit codes (see exitCodeFor).
 */
export type ErrorCode =
  | 'E_YAML' // a file is not valid YAML
  | 'E_SCHEMA' // a playbook/inventory does not fit its schema, or is semantically wrong
  | 'E_USAGE' // bad command-line usage
  | 'E_UNDEFINED_VAR' // a template names a variable that does not exist
  | 'E_TEMPLATE' // a template could not be rendered
  | 'E_UNREACHABLE' // could not connect to a host
  | 'E_HOST_KEY' // host key unknown or changed
  | 'E_AUTH' // authentication failed
  | 'E_REMOTE_EXIT' // a command ran and exited with an unexpected code
  | 'E_TIMEOUT' // a task exceeded its timeout
  | 'E_TASK' // a task failed for a reason of its own
  | 'E_ASSERT' // an assert task's condition was false
  | 'E_LOCKED' // another run holds the state dir's lock
  | 'E_RESUME' // the journal cannot be resumed (changed playbook, missing journal)
  | 'E_STATE' // the state dir is unreadable or inconsistent
  | 'E_STATE_DIR' // the state dir cannot be used or trusted (not ours, others can write it, a symlink, not a directory, a corrupt journal): refused before any host is touched
  | 'E_PKI' // a certificate/key problem
  | 'E_PREFLIGHT' // preflight found problems
  | 'E_INTERRUPTED' // SIGINT/SIGTERM
  | 'E_ROLLBACK' // a rollback step failed
  | 'E_DRY_RUN' // a dry run cannot plan a step (it reads what only the run makes), or a plan tried to write
  | 'E_RUN_FAILED'; // a run failed (after rollback)

/** Where in a source file something is, 1-based, as editors show it. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

export interface ErrorContext {
  position?: SourcePosition;
  host?: string;
  command?: string;
  exitCode?: number;
  /** Last lines of stderr of a failed remote command. */
  stderrTail?: string;
  [key: string]: unknown;
}

export class KcarunError extends Error {
  override readonly name: string = 'KcarunError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }
}

/** Several problems found at once (validation, preflight): reported together, never one by one. */
export class KcarunErrorList extends KcarunError {
  override readonly name = 'KcarunErrorList';
  readonly errors: KcarunError[];

  constructor(code: ErrorCode, summary: string, errors: KcarunError[]) {
    super(code, `${summary}\n${errors.map((e) => `  ${formatError(e)}`).join('\n')}`);
    this.errors = errors;
  }
}

export function formatPosition(p: SourcePosition): string {
  return `${p.file}:${p.line}:${p.col}`;
}

/** One line for an operator: `FILE:LINE:COL: message` or `host: message`. */
export function formatError(err: KcarunError): string {
  const { position, host } = err.context;
  if (position) return `${formatPosition(position)}: ${err.message}`;
  if (host && !err.message.startsWith(`${host}:`)) return `${host}: ${err.message}`;
  return err.message;
}

/** The documented exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  runFailed: 1,
  invalidInput: 2,
  locked: 3,
  interrupted: 130,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof KcarunError)) return EXIT.runFailed;
  switch (err.code) {
    case 'E_YAML':
    case 'E_SCHEMA':
    case 'E_USAGE':
    case 'E_UNDEFINED_VAR':
    case 'E_TEMPLATE':
    case 'E_RESUME':
    case 'E_STATE_DIR':
      return EXIT.invalidInput;
    case 'E_LOCKED':
      return EXIT.locked;
    case 'E_INTERRUPTED':
      return EXIT.interrupted;
    default:
      return EXIT.runFailed;
  }
}

/**
 * The last non-empty lines of a command's stderr, for a message or ErrorContext.stderrTail: `lines`
 * of them (default 5), joined with `separator` ('\n'; ' | ' keeps a message on one line), without
 * the lines `skip` calls noise (e.g. etcdctl's JSON info logs).
 */
export function stderrTail(stderr: string, options: { lines?: number; separator?: string; skip?: (line: string) => boolean } = {}): string {
  return stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '' && !options.skip?.(l))
    .slice(-(options.lines ?? 5))
    .join(options.separator ?? '\n');
}
