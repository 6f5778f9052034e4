import { KcarunError } from '../errors.js';

/** How long a gate waits and how sure it must be (see docs/health.md "Gates"). */
export interface PollOptions {
  timeoutSeconds: number;
  intervalSeconds: number;
  /** Consecutive successes needed: one lucky answer from a flapping component is not health. */
  successes: number;
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
  attempt: (streak: number) => Promise<void>,
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
      await attempt(streak);
      streak++;
      if (streak >= options.successes) return { attempts, seconds: (now() - start) / 1000 };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      streak = 0;
      lastError = err instanceof Error ? err.message : String(err);
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
