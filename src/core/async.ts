/**
 * The one way kcarun waits and retries: sleep, a deadline around a piece of work, polling until a
 * condition holds (once, or N times in a row), and retry with backoff. The engine (task retries and
 * timeouts), the gates (wait-healthy, service-restart, `until:`) and the SSH transport (connect
 * backoff, channel-open retry) all go through here, so a timeout or an interrupt behaves the same
 * everywhere. Built on node:timers/promises and AbortSignal.timeout/any: every wait ends at once
 * when its signal aborts, with the signal's reason.
 */
import { setTimeout as timersSleep } from 'node:timers/promises';
import { KcarunError } from './errors.js';

/**
 * Waits `ms` milliseconds. Rejects with `signal.reason` (not node's generic AbortError) when the
 * signal aborts first, so an interrupt surfaces as the error that caused it.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw signal.reason;
  try {
    await timersSleep(ms, undefined, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/**
 * Runs `work` with a signal that aborts when `ms` milliseconds pass or `options.signal` aborts.
 * At the deadline the returned promise rejects with `options.timeoutError()` even if `work`
 * ignores its signal (a task stuck on a paused host must not hold the run; its late result is
 * dropped). When the outer signal aborts, `work` is told through its signal and awaited: it ends
 * itself (the transport kills the remote command first), so nothing is left running behind it.
 */
export async function withDeadline<T>(
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  options: { signal?: AbortSignal; timeoutError: () => Error },
): Promise<T> {
  const deadline = AbortSignal.timeout(Math.max(0, ms));
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let onDeadline: (() => void) | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    onDeadline = () => reject(options.timeoutError());
    deadline.addEventListener('abort', onDeadline, { once: true });
  });
  try {
    return await Promise.race([work(signal), timedOut]);
  } finally {
    deadline.removeEventListener('abort', onDeadline!);
  }
}

export interface RetryOptions {
  /** Attempts after the first one (0: no retry). */
  retries: number;
  /** Wait before the first retry, in milliseconds. */
  delayMs: number;
  /** Factor the wait grows by after each retry (default 2; 1 keeps it fixed). */
  factor?: number;
  /** Up to this fraction of the wait is added at random, so many hosts do not retry in step (default 0). */
  jitter?: number;
  /** Whether a failure is worth another attempt (default: every failure). */
  retryIf?: (err: unknown) => boolean;
  /** Told before each wait: the failure, the 1-based number of the attempt that failed, the wait in ms. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  /** An aborted signal stops the retries: the last failure is thrown (or the reason, mid-wait). */
  signal?: AbortSignal;
  random?: () => number;
}

/**
 * Calls `work` until it resolves, at most `retries + 1` times, waiting `delayMs`, then
 * `delayMs * factor`, ... between attempts. Rethrows the last failure when the retries are used
 * up, when `retryIf` says no, or when the signal has aborted.
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  let wait = options.delayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (attempt > options.retries || options.signal?.aborted || (options.retryIf && !options.retryIf(err))) throw err;
      const waitMs = wait + Math.floor(random() * wait * (options.jitter ?? 0));
      options.onRetry?.(err, attempt, waitMs);
      await sleep(waitMs, options.signal);
      wait *= options.factor ?? 2;
    }
  }
}

/**
 * Calls `probe` every `intervalMs` until it answers `{ done }`, and returns that value. Fails
 * with `timeoutError(lastState)` once `timeoutMs` has passed with the condition still unmet (the
 * probe always runs at least once). `now` is the clock (tests pass their own).
 */
export async function pollUntil<T>(
  probe: () => Promise<{ done: T } | { state: string }>,
  options: { timeoutMs: number; intervalMs: number; timeoutError: (lastState: string) => Error; signal?: AbortSignal; now?: () => number },
): Promise<T> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  for (;;) {
    const r = await probe();
    if ('done' in r) return r.done;
    if (now() >= deadline) throw options.timeoutError(r.state);
    await sleep(options.intervalMs, options.signal);
  }
}

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

class DeadlineCutOff extends Error {}

/**
 * What an attempt throws to say which probe failed, when one attempt checks several (a gate's
 * round runs all its probes at once): the E_TIMEOUT message then names that probe instead of
 * `what.probe`, and a probe whose own `timeoutSeconds` is shorter than the wait's ends the wait at
 * its own timeout when it is still failing then.
 */
export class ProbeFailure extends Error {
  constructor(
    readonly probe: string,
    message: string,
    readonly timeoutSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * Calls `attempt` every interval until it succeeds `successes` times in a row, or the timeout
 * passes. A failure resets the streak. `attempt` throws to fail; its message is kept as the last
 * error and ends up in the E_TIMEOUT message with the host and the probe name (a `ProbeFailure`
 * names its own probe). An attempt still running at the deadline is cut off (its signal aborts, so
 * the transport kills its command).
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
  let lastProbe = what.probe;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    attempts++;
    // When the attempt that just failed belongs to a probe with a shorter timeout, that is the one to meet.
    let giveUpAt = deadline;
    let timeoutSeconds = options.timeoutSeconds;
    try {
      const allowed = Math.max(deadline - now(), (options.minAttemptSeconds ?? 15) * 1000);
      await withDeadline(allowed, (sig) => attempt(streak, sig), {
        signal,
        timeoutError: () => new DeadlineCutOff(`an attempt was cut off after ${Math.round(allowed / 100) / 10} s, past the ${options.timeoutSeconds} s deadline`),
      });
      streak++;
      if (streak >= options.successes) return { attempts, seconds: (now() - start) / 1000 };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      streak = 0;
      const message = err instanceof Error ? err.message : String(err);
      // A cut-off attempt says less than the failure before it: keep that one and add the note.
      lastError = err instanceof DeadlineCutOff && lastError ? `${lastError} (then ${message})` : message;
      if (err instanceof ProbeFailure) {
        lastProbe = err.probe;
        if (err.timeoutSeconds !== undefined && err.timeoutSeconds < options.timeoutSeconds) {
          timeoutSeconds = err.timeoutSeconds;
          giveUpAt = start + err.timeoutSeconds * 1000;
        }
      }
    }
    if (now() + options.intervalSeconds * 1000 > giveUpAt) {
      const tail = lastError ? `last error: ${lastError}` : `only ${streak} of ${options.successes} consecutive successes`;
      throw new KcarunError(
        'E_TIMEOUT',
        `${what.host}: probe ${lastProbe} not healthy within ${timeoutSeconds} s (${options.successes} consecutive successes needed, ${attempts} attempts); ${tail}`,
        { host: what.host, probe: lastProbe, lastError },
      );
    }
    await sleep(options.intervalSeconds * 1000, signal);
  }
}

/**
 * The longest wait any task or gate accepts, in seconds: one day. Node's timers hold at most 2^31-1 ms
 * (~24.8 days) and fire a longer one after 1 ms (nodejs.org/api/timers.html), so a 30-day timeout
 * would give up at once; a day is far beyond any real rollout.
 */
export const MAX_WAIT_SECONDS = 86_400;
