import { pollUntil, sleep } from '../../core/async.js';
import { KcarunError, stderrTail } from '../../core/errors.js';
import { shellQuote } from '../../core/shell.js';
import type { ExecResult } from '../../transport/types.js';
import type { TaskContext } from '../define.js';

/**
 * The running containers named `name` on the host (`crictl ps --name NAME -q`), as ids. crictl gives
 * up on a runtime that does not answer within its 2 s connect timeout (seen on a loaded node:
 * "validate CRI v1 runtime API ... context deadline exceeded"), so a failed call is tried again,
 * 3 times 1 s apart. Errors: E_REMOTE_EXIT naming crictl's last stderr lines.
 */
export async function runningContainerIds(ctx: TaskContext<{ become?: boolean }>, name: string): Promise<string[]> {
  let r: ExecResult | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await sleep(1000, ctx.signal);
    r = await ctx.transport.exec(`crictl ps --name ${shellQuote(name)} -q`, { become: ctx.params.become, signal: ctx.signal });
    if (r.rc === 0) return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }
  throw new KcarunError('E_REMOTE_EXIT', `crictl ps failed 3 times (rc=${r!.rc}): ${stderrTail(r!.stderr, { lines: 2, separator: ' | ' })}`, { host: ctx.host.name, exitCode: r!.rc });
}

/**
 * Polls the running containers named `name` until `pick(ids)` returns a value (not undefined), every
 * `pollSeconds` for up to `timeoutSeconds`. A runtime too slow to answer is polled again, not fatal.
 * Errors: E_TIMEOUT "`what` did not happen within N s (last: ...)" naming the containers seen last.
 */
export async function waitForContainers<T>(
  ctx: TaskContext<{ become?: boolean; timeoutSeconds?: number; pollSeconds?: number }>,
  name: string,
  what: string,
  pick: (ids: string[]) => T | undefined,
): Promise<T> {
  const seconds = ctx.params.timeoutSeconds ?? 120;
  return pollUntil<T>(
    async () => {
      let ids: string[];
      try {
        ids = await runningContainerIds(ctx, name);
      } catch (err) {
        return { state: (err as Error).message };
      }
      const picked = pick(ids);
      return picked !== undefined ? { done: picked } : { state: ids.length ? `running: ${ids.join(',')}` : 'no container running' };
    },
    {
      timeoutMs: seconds * 1000,
      intervalMs: (ctx.params.pollSeconds ?? 1) * 1000,
      signal: ctx.signal,
      timeoutError: (last) => new KcarunError('E_TIMEOUT', `${what} did not happen within ${seconds} s (last: ${last})`, { host: ctx.host.name }),
    },
  );
}
