/**
 * The etcd-only lab's traffic generator (started by `npm run lab -- traffic start`, runs on the host):
 * etcd writes through every member in turn, each read back through the next member (a mismatch is
 * lost data), with the files of the etcd client the layout names (lab/layouts/types.ts
 * `etcdClient`: the monitoring client's). They are read again each time that client's unit restarts
 * (its pid file changes; checked every 100 ms), so the generator holds the trust and certificate the
 * restarted client holds: kcarun restarts it after changing its files and moves on at once (without a
 * `service`, every second). A request whose member is not
 * there (connection refused, reset) is tried on the next member, and again for up to 5 s, as a
 * client with several endpoints and retries does; a TLS failure is never retried: that is what counts.
 * (Until issue 18 it also sent apiserver requests on the emulated kubeadm lab; the real labs have
 * their own generator, lab/real/traffic.ts.)
 */
import { appendFileSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { UnavailabilityWindow } from '../unavailability.js';
import { classifyError, errorMessage, pairMatches, parseFlags, requireFlag, tlsRequest } from '../shared/common.js';

/** A member to write through, and the etcd client files (node paths, read under `fsRoot`). */
export interface TrafficPlanNode {
  name: string;
  ip: string;
  client: { fsRoot: string; ca: string; cert: string; key: string; pidFile?: string };
}

export interface TrafficPlan {
  ratePerSecond: number;
  nodes: TrafficPlanNode[];
}

export interface TrafficCounters {
  startedAt: string;
  updatedAt: string;
  requests: number;
  failures: number;
  byTarget: Record<string, { requests: number; failures: number }>;
  /** Seconds (ISO, truncated) with their request and failure counts. */
  windows: Array<{ t: string; requests: number; failures: number }>;
  /** The last keys written to etcd with their values (verify reads them back). */
  lastWrites: Array<{ key: string; value: string }>;
  dataMismatches: number;
  /** No apiserver here: always empty (verify's shape is shared with the real labs'). */
  unavailability: UnavailabilityWindow[];
}

interface EtcdFiles {
  ca: string;
  cert: string;
  key: string;
}

function loadClientFiles(n: TrafficPlanNode): EtcdFiles {
  const c = n.client;
  const readIn = (p: string): string => readFileSync(join(c.fsRoot, p), 'utf8');
  return { ca: readIn(c.ca), cert: readIn(c.cert), key: readIn(c.key) };
}

const isRestarting = (err: unknown): boolean => classifyError('request', errorMessage(err)) === 'connection';

/** How long one request may take (a member that is down answers at once: refused, reset). */
const REQUEST_TIMEOUT_MS = 10_000;

export async function trafficMain(argv: string[]): Promise<void> {
  const flags = parseFlags(argv);
  const dir = requireFlag(flags, 'dir');
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as TrafficPlan;
  const counters: TrafficCounters = { startedAt: new Date().toISOString(), updatedAt: '', requests: 0, failures: 0, byTarget: {}, windows: [], lastWrites: [], dataMismatches: 0, unavailability: [] };
  const tls = new Map<string, EtcdFiles>();
  const refreshTls = (): void => {
    for (const n of plan.nodes) {
      try {
        const t = loadClientFiles(n);
        // A certificate whose key is not written yet: keep the previous pair until the write completes.
        if (tls.has(n.name) && !pairMatches(t.cert, t.key)) continue;
        tls.set(n.name, t);
      } catch (err) {
        appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target: `files:${n.name}`, error: errorMessage(err) })}\n`);
      }
    }
  };
  refreshTls();
  // The client's pid as last seen: a new one means it restarted with the files as they are now.
  const pidOf = (f: string): string => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return '';
    }
  };
  // Every client's pid file (one when all members' requests use one node's client, as etcd-only's do).
  const pidFiles = [...new Set(plan.nodes.map((n) => n.client.pidFile).filter((f): f is string => f !== undefined))];
  const seenPids = new Map(pidFiles.map((f) => [f, pidOf(f)]));
  const followRestarts = (): void => {
    if (!pidFiles.length) return refreshTls();
    let restarted = false;
    for (const f of pidFiles) {
      const pid = pidOf(f);
      if (pid !== seenPids.get(f)) restarted = true;
      seenPids.set(f, pid);
    }
    if (restarted) refreshTls();
  };

  const flush = (): void => {
    counters.updatedAt = new Date().toISOString();
    writeFileSync(join(dir, 'counters.json.tmp'), JSON.stringify(counters));
    renameSync(join(dir, 'counters.json.tmp'), join(dir, 'counters.json'));
  };

  // Requests under way: a stop waits for them (their outcome is counted) before the last flush.
  let inFlight = 0;
  async function count(target: string, fn: () => Promise<void>): Promise<void> {
    const second = new Date().toISOString().slice(0, 19);
    let w = counters.windows[counters.windows.length - 1];
    if (!w || w.t !== second) {
      w = { t: second, requests: 0, failures: 0 };
      counters.windows.push(w);
    }
    const t = (counters.byTarget[target] ??= { requests: 0, failures: 0 });
    counters.requests++;
    t.requests++;
    w.requests++;
    inFlight++;
    try {
      await fn();
    } catch (err) {
      counters.failures++;
      t.failures++;
      w.failures++;
      appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target, error: errorMessage(err) })}\n`);
    } finally {
      inFlight--;
    }
  }

  /** Member i first, then the next ones while the member is not there, again for up to 5 s. */
  async function withFallback<T>(start: number, fn: (n: TrafficPlanNode, t: EtcdFiles) => Promise<T>): Promise<T> {
    const deadline = Date.now() + 5000;
    let lastErr: unknown;
    for (;;) {
      for (let k = 0; k < plan.nodes.length; k++) {
        const n = plan.nodes[(start + k) % plan.nodes.length]!;
        const t = tls.get(plan.nodes[start]!.name);
        if (!t) throw new Error(`no TLS files for ${plan.nodes[start]!.name}`);
        try {
          return await fn(n, t);
        } catch (err) {
          lastErr = err;
          if (!isRestarting(err)) throw err;
        }
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  }

  const etcdCall = async (ip: string, t: EtcdFiles, path: string, body: unknown): Promise<Record<string, unknown>> => {
    const r = await tlsRequest(`https://${ip}:2379${path}`, t, { method: 'POST', body: JSON.stringify(body), timeoutMs: REQUEST_TIMEOUT_MS });
    if (r.status < 200 || r.status >= 300) throw new Error(`etcd ${ip}${path}: HTTP ${r.status} ${r.body.slice(0, 160)}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  let seq = 0;
  // An etcd write on member i, then read back through the next member (read-after-write across members).
  const writeAndReadBack = (i: number): Promise<void> =>
    count(`etcd-write:${plan.nodes[i]!.name}`, async () => {
      const key = `/kcarun-lab/traffic/${String(seq++).padStart(8, '0')}`;
      const value = `v-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      await withFallback(i, (n, t) => etcdCall(n.ip, t, '/v3/kv/put', { key: b64(key), value: b64(value) }));
      counters.lastWrites.push({ key, value });
      if (counters.lastWrites.length > 50) counters.lastWrites.shift();
      const j = (i + 1) % plan.nodes.length;
      await count(`etcd-read:${plan.nodes[j]!.name}`, async () => {
        const r = (await withFallback(j, (n, t) => etcdCall(n.ip, t, '/v3/kv/range', { key: b64(key) }))) as { kvs?: Array<{ value?: string }> };
        const got = r.kvs?.[0]?.value ? Buffer.from(r.kvs[0].value, 'base64').toString() : undefined;
        if (got !== value) {
          counters.dataMismatches++;
          throw new Error(`read ${key}: expected ${value}, got ${got ?? '(missing)'}`);
        }
      });
    });

  let tick = 0;
  const interval = 1000 / Math.max(0.1, plan.ratePerSecond);
  const timer = setInterval(() => void writeAndReadBack(tick++ % plan.nodes.length), interval);
  const filesTimer = setInterval(followRestarts, pidFiles.length ? 100 : 1000);
  const flushTimer = setInterval(flush, 1000);
  flush();
  const stop = (): void => {
    clearInterval(timer);
    clearInterval(filesTimer);
    clearInterval(flushTimer);
    // Let in-flight requests finish (each times out after REQUEST_TIMEOUT_MS at most) before the last flush.
    const deadline = Date.now() + REQUEST_TIMEOUT_MS + 500;
    const finish = setInterval(() => {
      if (inFlight > 0 && Date.now() < deadline) return;
      clearInterval(finish);
      flush();
      process.exit(0);
    }, 50);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
