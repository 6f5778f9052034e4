/**
 * wait-healthy's gate over real HTTPS listeners (curl on this machine through the local transport,
 * a certificate made with the openssl CLI): the probes of one gate run at once in each round, and
 * the gate is stable only after N rounds in a row in which every probe passed together.
 * No timings are asserted: concurrency is read from the servers' own request records (each round's
 * requests overlap: each server holds its answer until its partner got the same round's request),
 * and the rounds from the number of requests each server saw.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KcarunError } from '../../../src/core/errors.js';
import { waitHealthyTask } from '../../../src/tasks/wait-healthy/index.js';
import type { WaitHealthyParams } from '../../../src/tasks/wait-healthy/schema.js';
import { makeHost, makeTaskContext, makeTempDir } from '../../helpers/task-context.js';

const run = promisify(execFile);

interface Seen {
  start: number;
  end: number;
  status: number;
}

/**
 * An HTTPS endpoint that answers each request with the status its script gives for that request
 * (1-based). Paired with a partner, it holds its n-th answer until the partner has received its own
 * n-th request (at most 5 s): probes run at once always overlap then, however late one of them
 * starts on a busy machine, while probes run one after another never do (the first is answered at
 * the 5 s limit, before the second is sent).
 */
class Endpoint {
  readonly seen: Seen[] = [];
  partner?: Endpoint;
  private server!: Server;
  constructor(private readonly script: (n: number) => number) {}
  async start(cert: Buffer, key: Buffer): Promise<void> {
    this.server = createServer({ cert, key }, async (_req, res) => {
      const start = performance.now();
      const n = this.seen.length + 1;
      const status = this.script(n);
      const record: Seen = { start, end: Number.NaN, status };
      this.seen.push(record);
      for (let waited = 0; this.partner && this.partner.seen.length < n && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      record.end = performance.now();
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'not ready');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }
  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}/readyz`;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const overlap = (a: Seen, b: Seen): boolean => a.start < b.end && b.start < a.end;

describe('wait-healthy: the probes of a gate run at once, in rounds', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let cert: Buffer;
  let key: Buffer;
  let ca: string;
  const endpoints: Endpoint[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kcarun-gate-');
    ca = join(tmp.dir, 'server.crt');
    const keyFile = join(tmp.dir, 'server.key');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=gate-test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', ca]);
    cert = await readFile(ca);
    key = await readFile(keyFile);
  });
  afterAll(async () => {
    await Promise.all(endpoints.map((e) => e.stop()));
    await tmp.cleanup();
  });

  async function endpoint(script: (n: number) => number): Promise<Endpoint> {
    const e = new Endpoint(script);
    await e.start(cert, key);
    endpoints.push(e);
    return e;
  }

  async function gate(params: WaitHealthyParams) {
    const ctx = await makeTaskContext({ params, stateDir: join(tmp.dir, `state-${endpoints.length}`), host: makeHost('cp1') });
    return waitHealthyTask.run(ctx);
  }

  const https = (e: Endpoint, name: string) => ({ kind: 'https' as const, name, url: e.url, cacert: ca });

  it('asks every probe in every round, concurrently, and is stable after N rounds in which all passed', async () => {
    const early = await endpoint(() => 200);
    const late = await endpoint((n) => (n <= 2 ? 503 : 200)); // becomes healthy in the third round
    early.partner = late;
    late.partner = early;
    const res = await gate({ intervalSeconds: 0.05, timeoutSeconds: 60, successes: 2, probes: [https(early, 'early'), https(late, 'late')] });

    // Rounds 1-2 fail (late answers 503), rounds 3-4 pass together: 4 rounds, each server asked once per round.
    expect(late.seen.map((s) => s.status)).toEqual([503, 503, 200, 200]);
    expect(early.seen.map((s) => s.status)).toEqual([200, 200, 200, 200]);
    expect(res.output).toMatchObject({ rounds: 4, probes: [{ probe: 'early', attempts: 4 }, { probe: 'late', attempts: 4 }] });
    // Run one after another, the probes of a round could not overlap (see Endpoint); here every round's two
    // requests do, so a gate lasts about as long as its slowest probe, not the sum of them.
    for (let i = 0; i < 4; i++) expect(overlap(early.seen[i]!, late.seen[i]!), `round ${i + 1}`).toBe(true);
    // Healthy-from is the start of each probe's last run of successes: the late one from round 3 on.
    const probes = (res.output as { probes: Array<{ healthyAfterSeconds: number }> }).probes;
    expect(probes[0]!.healthyAfterSeconds).toBeLessThan(probes[1]!.healthyAfterSeconds);
  });

  it('never passes two probes that are healthy only in turn (each alone would pass 2 in a row)', async () => {
    // Rounds: (ok, fail) (ok, ok) (fail, ok) (ok, fail) (ok, ok) (fail, ok) ...: no two all-ok rounds in a row.
    const a = await endpoint((n) => (n % 3 === 0 ? 503 : 200));
    const b = await endpoint((n) => (n % 3 === 1 ? 503 : 200));
    const err = await gate({ intervalSeconds: 0.05, timeoutSeconds: 2, successes: 2, probes: [https(a, 'a'), https(b, 'b')] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    const e = err as KcarunError;
    expect(e.code).toBe('E_TIMEOUT');
    // Named: the probe that failed in the last failing round, and its own error.
    expect(e.message).toMatch(/^cp1: probe [ab] not healthy within 2 s \(2 consecutive successes needed, \d+ attempts\); last error: https:\/\/127\.0\.0\.1:\d+\/readyz answered HTTP 503 \(expected 200\): not ready$/);
    expect(a.seen.length).toBe(b.seen.length);
    const rounds = a.seen.map((s, i) => [s.status, b.seen[i]!.status] as const);
    const lastBad = rounds.filter(([x, y]) => x !== 200 || y !== 200).at(-1)!;
    expect(e.message.startsWith(`cp1: probe ${lastBad[0] !== 200 ? 'a' : 'b'} not healthy`)).toBe(true);
  });

  it('ends at a failing probe\'s own shorter timeout, naming it and why', async () => {
    const fine = await endpoint(() => 200);
    const down = await endpoint(() => 503);
    const err = (await gate({
      intervalSeconds: 0.05,
      successes: 1,
      probes: [
        { ...https(fine, 'fine'), timeoutSeconds: 120 },
        { ...https(down, 'down'), timeoutSeconds: 0.5 },
      ],
    }).catch((e: unknown) => e)) as KcarunError;
    expect(err).toBeInstanceOf(KcarunError);
    expect(err.message).toMatch(/^cp1: probe down not healthy within 0\.5 s \(1 consecutive successes needed, \d+ attempts\); last error: https:\/\/127\.0\.0\.1:\d+\/readyz answered HTTP 503/);
    expect(fine.seen.length).toBe(down.seen.length);
  });

  it('names every probe that failed in the last round', async () => {
    const x = await endpoint(() => 500);
    const y = await endpoint(() => 404);
    const err = (await gate({ intervalSeconds: 0.05, timeoutSeconds: 0.4, successes: 1, probes: [https(x, 'x'), https(y, 'y')] }).catch((e: unknown) => e)) as KcarunError;
    expect(err.message).toMatch(/^cp1: probe x, y not healthy within 0\.4 s .*; last error: x: https:\/\/\S+ answered HTTP 500 \(expected 200\): not ready; y: https:\/\/\S+ answered HTTP 404 \(expected 200\): not ready$/);
  });
});
