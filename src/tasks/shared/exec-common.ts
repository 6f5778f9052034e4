import { Type, type Static } from '@sinclair/typebox';
import { retry } from '../../core/async.js';
import { KcarunError, stderrTail } from '../../core/errors.js';
import { shellJoin, shellQuote } from '../../core/shell.js';
import type { ExecResult } from '../../transport/types.js';
import { unknownUntilRun, type TaskContext, type TaskOutcome, type TaskPlan } from '../define.js';
import { safeRegExp } from '../../core/safe-regex.js';

/**
 * Params shared by `local-exec` and `ssh-exec`. A string `command` is a shell line whose `{{ }}`
 * values the templater shell-quotes (the `x-shell` mark); an argv list is quoted word by word.
 */
export const ExecParamsSchema = {
  command: Type.Union([Type.String({ minLength: 1, 'x-shell': true }), Type.Array(Type.String(), { minItems: 1 })], {
    description: 'A shell command line, or an argv list (each word quoted).',
  }),
  env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
  cwd: Type.Optional(Type.String()),
  stdin: Type.Optional(Type.String()),
  expectRc: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { minItems: 1, description: 'Exit codes that count as success (default [0]).' })),
  creates: Type.Optional(Type.String({ description: 'Skip (changed=false) when this path exists.' })),
  removes: Type.Optional(Type.String({ description: 'The file the command removes: skip (changed=false) when it does not exist; a dry run plans its removal.' })),
  unless: Type.Optional(Type.String({ minLength: 1, 'x-shell': true, description: 'Skip (changed=false) when this command exits 0.' })),
  until: Type.Optional(
    Type.Object(
      {
        rc: Type.Optional(Type.Integer({ description: 'Done when the command exits with this code (default 0).' })),
        stdoutMatches: Type.Optional(Type.String({ description: 'Done when stdout matches this regular expression.' })),
        attempts: Type.Optional(Type.Integer({ minimum: 1, default: 10 })),
        delaySeconds: Type.Optional(Type.Number({ minimum: 0, default: 2 })),
      },
      { additionalProperties: false },
    ),
  ),
  changedWhen: Type.Optional(Type.String({ description: 'changed=true only when stdout matches this regular expression (default: always changed).' })),
  readOnly: Type.Optional(
    Type.Boolean({
      description:
        'The command only reads (a scan, a query): a dry run runs it for real and registers its real output, so later `when:`s decide as in the run. Default false: a dry run only shows the command.',
    }),
  ),
};

const ExecParams = Type.Object(ExecParamsSchema);
export type ExecParams = Static<typeof ExecParams> & { become?: boolean };

export function commandLine(command: string | string[]): string {
  return typeof command === 'string' ? command : shellJoin(command);
}

export function checkExpectedExit(host: string, command: string, res: ExecResult, expected: number[]): void {
  if (expected.includes(res.rc)) return;
  const tail = stderrTail(res.stderr);
  throw new KcarunError(
    'E_REMOTE_EXIT',
    `command exited ${res.rc} (expected ${expected.join(' or ')}): ${command}${tail ? `\n${tail}` : ''}`,
    { host, command, exitCode: res.rc, stderrTail: tail },
  );
}

/** Runs an exec task on whatever transport the context has (local or SSH). */
export async function runExec(ctx: TaskContext<ExecParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const opts = { cwd: p.cwd, env: p.env, become: p.become, signal: ctx.signal };
  if (p.creates !== undefined && (await ctx.transport.stat(p.creates, { become: p.become })) !== null) {
    return { changed: false, summary: `skipped: ${p.creates} exists`, output: { skipped: true, stdout: '', stderr: '', rc: 0 } };
  }
  if (p.removes !== undefined && (await ctx.transport.stat(p.removes, { become: p.become })) === null) {
    return { changed: false, summary: `skipped: ${p.removes} does not exist`, output: { skipped: true, stdout: '', stderr: '', rc: 0 } };
  }
  if (p.unless !== undefined && (await ctx.transport.exec(p.unless, opts)).rc === 0) {
    return { changed: false, summary: 'skipped: `unless` command succeeded', output: { skipped: true, stdout: '', stderr: '', rc: 0 } };
  }
  const command = commandLine(p.command);
  const until = p.until;
  const attempts = until ? (until.attempts ?? 10) : 1;
  const res = await retry(
    async (attempt) => {
      const r = await ctx.transport.exec(command, { ...opts, stdin: p.stdin });
      if (!until || untilMet(until, r)) return r;
      if (attempt === attempts) {
        throw new KcarunError(
          'E_TASK',
          `condition not met after ${attempts} attempts (last rc=${r.rc}): ${command}`,
          { host: ctx.host.name, command, exitCode: r.rc, stderrTail: stderrTail(r.stderr) },
        );
      }
      throw new UntilNotMet(r, attempt);
    },
    {
      retries: attempts - 1,
      delayMs: (until?.delaySeconds ?? 2) * 1000,
      factor: 1,
      retryIf: (err) => err instanceof UntilNotMet,
      onRetry: (err) => ctx.log.debug(`until not met (rc=${(err as UntilNotMet).res.rc}), attempt ${(err as UntilNotMet).attempt}/${attempts}`),
      signal: ctx.signal,
    },
  );
  checkExpectedExit(ctx.host.name, command, res, p.expectRc ?? [0]);
  const changed = p.readOnly ? false : p.changedWhen === undefined ? true : safeRegExp(p.changedWhen).test(res.stdout);
  return {
    changed,
    output: { stdout: res.stdout, stderr: res.stderr, rc: res.rc },
    summary: `rc=${res.rc}`,
    // The files `creates:` and `removes:` name are the ones the command makes or removes.
    ...(changed && (p.creates !== undefined || p.removes !== undefined) ? { files: [p.creates, p.removes].filter((f): f is string => f !== undefined) } : {}),
  };
}

/**
 * A read-only command (`readOnly: true`) runs for real and registers its output. Any other is only
 * shown; a `creates:` guard is checked (a stat), and the file it names is planned as made by the
 * command, with content unknown until the run. Its output is a placeholder (rc: the expected one).
 */
export async function planExec(ctx: TaskContext<ExecParams>): Promise<TaskPlan> {
  if (ctx.params.readOnly) {
    const o = await runExec(ctx);
    return { changed: false, summary: `ran (read-only): ${o.summary ?? ''}`, output: o.output };
  }
  const p = ctx.params;
  const placeholder = { stdout: unknownUntilRun('stdout'), stderr: unknownUntilRun('stderr'), rc: (p.expectRc ?? [0])[0] };
  if (p.creates !== undefined && (await ctx.transport.stat(p.creates, { become: p.become })) !== null) {
    return { changed: false, summary: `skipped: ${p.creates} exists`, output: { skipped: true, stdout: '', stderr: '', rc: 0 } };
  }
  if (p.removes !== undefined && (await ctx.transport.stat(p.removes, { become: p.become })) === null) {
    return { changed: false, summary: `skipped: ${p.removes} does not exist`, output: { skipped: true, stdout: '', stderr: '', rc: 0 } };
  }
  const command = commandLine(ctx.params.command);
  const prefix = ctx.params.become ? 'sudo ' : '';
  const guards = [
    ctx.params.creates !== undefined ? `unless ${shellQuote(ctx.params.creates)} exists` : '',
    ctx.params.unless !== undefined ? `unless \`${ctx.params.unless}\` succeeds` : '',
  ].filter(Boolean);
  return {
    changed: true,
    summary: `would run: ${prefix}${command}${guards.length ? ` (${guards.join(', ')})` : ''}`,
    commands: [`${prefix}${command}`],
    output: placeholder,
    files: [
      ...(p.creates !== undefined ? [{ path: p.creates, kind: 'create' as const, content: null }] : []),
      ...(p.removes !== undefined ? [{ path: p.removes, kind: 'delete' as const, content: null, removed: 1 }] : []),
    ],
  };
}

function untilMet(until: NonNullable<ExecParams['until']>, res: ExecResult): boolean {
  if (until.stdoutMatches !== undefined) return safeRegExp(until.stdoutMatches, 'm').test(res.stdout);
  return res.rc === (until.rc ?? 0);
}

/** One `until:` attempt whose condition was not met yet (retried; never leaves runExec). */
class UntilNotMet extends Error {
  constructor(
    readonly res: ExecResult,
    readonly attempt: number,
  ) {
    super(`until not met (rc=${res.rc})`);
  }
}
