/** The one async toolkit (src/core/async.ts): what the engine, the gates and the transport rely on. */
import { describe, expect, it } from 'vitest';
import { pollUntil, retry, sleep, withDeadline } from '../../src/core/async.js';

describe('sleep', () => {
  it('rejects with the signal reason (not a generic AbortError) when interrupted', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(60_000, ac.signal);
    setTimeout(() => ac.abort(new Error('SIGINT twice')), 10);
    await expect(p).rejects.toThrow('SIGINT twice');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('withDeadline', () => {
  it('fails with the caller error at the deadline even when the work ignores its signal, and aborts that signal', async () => {
    let seen: AbortSignal | undefined;
    const err = await withDeadline(50, (signal) => ((seen = signal), new Promise<never>(() => undefined)), { timeoutError: () => new Error('timed out after 0.05 s') }).catch((e: Error) => e);
    expect((err as Error).message).toBe('timed out after 0.05 s');
    expect(seen?.aborted).toBe(true);
  });

  it('passes an outer abort to the work and waits for the work to end itself', async () => {
    const ac = new AbortController();
    const order: string[] = [];
    const p = withDeadline(
      60_000,
      (signal) =>
        new Promise<string>((resolve) =>
          signal.addEventListener('abort', () => {
            order.push('work saw abort');
            setTimeout(() => resolve('cleaned up'), 20);
          }),
        ),
      { signal: ac.signal, timeoutError: () => new Error('deadline') },
    );
    ac.abort(new Error('stop'));
    expect(await p).toBe('cleaned up');
    expect(order).toEqual(['work saw abort']);
  });
});

describe('retry', () => {
  it('waits delay, delay*factor, ... between attempts and reports each retry', async () => {
    const waits: number[] = [];
    let calls = 0;
    const value = await retry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'ok';
      },
      { retries: 5, delayMs: 5, factor: 3, onRetry: (_e, attempt, waitMs) => waits.push(attempt, waitMs) },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toEqual([1, 5, 2, 15]);
  });

  it('rethrows the last failure once the retries are used up, or at once when retryIf says no', async () => {
    let calls = 0;
    await expect(retry(async (a) => ((calls++, Promise.reject(new Error(`fail ${a}`)))), { retries: 2, delayMs: 1 })).rejects.toThrow('fail 3');
    expect(calls).toBe(3);
    calls = 0;
    await expect(retry(async () => ((calls++, Promise.reject(new Error('bad input')))), { retries: 5, delayMs: 1, retryIf: () => false })).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });

  it('adds at most the jitter fraction to each wait', async () => {
    const waits: number[] = [];
    await retry(async (a) => (a < 3 ? Promise.reject(new Error('x')) : 1), { retries: 3, delayMs: 8, jitter: 0.25, random: () => 0.999, onRetry: (_e, _a, w) => waits.push(w) });
    expect(waits).toEqual([9, 19]);
  });
});

describe('pollUntil', () => {
  it('returns the done value, or fails with the last state seen once the timeout passed', async () => {
    let n = 0;
    expect(await pollUntil(async () => (++n < 3 ? { state: `n=${n}` } : { done: n }), { timeoutMs: 5000, intervalMs: 1, timeoutError: (s) => new Error(s) })).toBe(3);
    let clock = 0;
    const err = await pollUntil(async () => ((clock += 40), { state: `at ${clock}` }), {
      timeoutMs: 100,
      intervalMs: 1,
      now: () => clock,
      timeoutError: (last) => new Error(`not within 0.1 s (last: ${last})`),
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('not within 0.1 s (last: at 120)');
  });
});
