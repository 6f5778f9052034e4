import { KcarunError, stderrTail } from '../../core/errors.js';
import type { ExecResult } from '../../transport/types.js';
import type { TaskContext } from '../define.js';

/**
 * Runs a command on the task's host (with the task's `become`) and resolves with its result when it
 * exits 0. Errors: E_REMOTE_EXIT "command exited N: COMMAND" with the last lines of its stderr.
 */
export async function mustRun(ctx: TaskContext<{ become?: boolean }>, command: string): Promise<ExecResult> {
  const res = await ctx.transport.exec(command, { become: ctx.params.become, signal: ctx.signal });
  if (res.rc !== 0) {
    const tail = stderrTail(res.stderr);
    throw new KcarunError('E_REMOTE_EXIT', `command exited ${res.rc}: ${command}${tail ? `\n${tail}` : ''}`, { host: ctx.host.name, command, exitCode: res.rc, stderrTail: tail });
  }
  return res;
}
