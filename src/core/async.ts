import { KcarunError } from './errors.js';

/** How long a gate waits and how sure it must be (see docs/health.md "Gates"). */
export interface PollOptions {
  timeoutSeconds: number;
  intervalSeconds: number;
  /** Consecutive successes needed: one lucky answer from a flapping component is not health. */
  successes: number;
  /**
   * An attempt still running at the deadline is cut off, but never before it has had this long
   * (default 15 s): a slow answer (etcdctl's dial timeout) says more than "still running".
   */
  minAttemptSeconds?: number;
}

export interface PollFailure {
  host: string;
  probe: string;
}

/**
 * Calls `attempt` every interval until it succeeds `successes` times in a row, or the timeout
 * passes. A failure resets the streak. `attempt` throws to fail; its message is kept as the last
 * error and ends up in the E_TIMEOUT message with the host and the probe name.
 */
export async function pollUntilStable(
  what: PollFailure,
  options: PollOptions,
  attempt: (streak: number, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
  now: () => number = Date.now,
): Promise<{ attempts: number; seconds: number }> {
  const start = now();
  const deadline = start + options.timeoutSeconds * 1000;
  let streak = 0;
  let attempts = 0;
  let lastError = '';
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    attempts++;
    try {
      const startedAt = now();
      const allowed = Math.max(deadline - startedAt, (options.minAttemptSeconds ?? 15) * 1000);
      await boundedAttempt(allowed, options.timeoutSeconds, (sig) => attempt(streak, sig), signal);
      streak++;
      if (streak >= options.successes) return { attempts, seconds: (now() - start) / 1000 };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      streak = 0;
      const message = err instanceof Error ? err.message : String(err);
      // A cut-off attempt says less than the failure before it: keep that one and add the note.
      lastError = err instanceof DeadlineCutOff && lastError ? `${lastError} (then ${message})` : message;
    }
    if (now() + options.intervalSeconds * 1000 > deadline) {
      const tail = lastError ? `last error: ${lastError}` : `only ${streak} of ${options.successes} consecutive successes`;
      throw new KcarunError(
        'E_TIMEOUT',
        `${what.host}: probe ${what.probe} not healthy within ${options.timeoutSeconds} s (${options.successes} consecutive successes needed, ${attempts} attempts); ${tail}`,
        { host: what.host, probe: what.probe, lastError },
      );
    }
    await delay(options.intervalSeconds * 1000, signal);
  }
}

class DeadlineCutOff extends Error {}

/**
 * One attempt, cut off at the gate's deadline: a probe stuck on a paused host must not hold the
 * gate past its timeout. The attempt's signal aborts its remote command (the transport kills it).
 */
async function boundedAttempt(allowedMs: number, timeoutSeconds: number, run: (signal: AbortSignal) => Promise<void>, outer?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DeadlineCutOff(`an attempt was cut off after ${Math.round(allowedMs / 100) / 10} s, past the ${timeoutSeconds} s deadline`);
      ac.abort(err);
      reject(err);
    }, Math.max(0, allowedMs));
  });
  try {
    await Promise.race([run(ac.signal), cutOff]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
