/**
 * The lab's traffic generator (started by `npm run lab -- traffic start`, runs on the host): through
 * every node, etcd writes and reads with the apiserver's etcd client certificate, apiserver requests
 * as admin, as each kubelet and (kubeadm) through the front proxy, and apiserver -> kubelet proxying.
 * TLS files are re-read every second from each node's folder, so the generator follows a rotation the
 * way restarted clients do. A request that fails because its server is restarting (connection refused)
 * is retried once on another node, as a client behind a load balancer would; a TLS failure is not.
 *
 * Besides, once a second, one request straight to each node's apiserver as that node's admin, never
 * retried elsewhere: its failures are not in `failures` (no client behind a load balancer sees them)
 * but make `unavailability`, the windows each apiserver could not answer (issue 19: the seconds each
 * apiserver is unavailable during a rotation, kcarun's against a script's).
 */
import { appendFileSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { apiserverClientFiles } from './apiserver-flags.js';
import { join } from 'node:path';
import { unavailabilityWindows, type UnavailabilityWindow } from '../unavailability.js';
import { errorMessage, loadKubeconfig, pairMatches, parseFlags, requireFlag, tlsRequest, classifyError, type TlsClient } from './common.js';

/** Paths are node paths (e.g. /etc/kubernetes/admin.conf), read under the node's folder `fsRoot`. */
export interface TrafficPlanNode {
  name: string;
  ip: string;
  fsRoot: string;
  /** The apiserver's static pod manifest: its etcd and proxy client files are read from its flags. */
  apiserverManifest: string;
  adminKubeconfig: string;
  kubeletKubeconfig: string;
  /** Whether to send requests through the front proxy (the apiserver's --proxy-client-* files). */
  frontProxy: boolean;
  /** etcd alone: the etcd client files (node paths under `fsRoot`) instead of the apiserver's; no apiserver requests. */
  etcdOnly?: { fsRoot: string; ca: string; cert: string; key: string };
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
  /** The direct requests to each apiserver (target `apiserver:<node>`): counts and unavailability windows. */
  direct: Record<string, { requests: number; failures: number }>;
  unavailability: UnavailabilityWindow[];
}

interface NodeTls {
  etcd: { ca: string; cert: string; key: string };
  admin?: TlsClient;
  kubelet?: TlsClient;
  frontProxy?: { ca: string; cert: string; key: string };
}

function loadNodeTls(n: TrafficPlanNode): NodeTls {
  if (n.etcdOnly) {
    const e = n.etcdOnly;
    const readIn = (p: string): string => readFileSync(join(e.fsRoot, p), 'utf8');
    return { etcd: { ca: readIn(e.ca), cert: readIn(e.cert), key: readIn(e.key) } };
  }
  const resolve = (p: string): string => join(n.fsRoot, p);
  const read = (p: string): string => readFileSync(resolve(p), 'utf8');
  const files = apiserverClientFiles(n.apiserverManifest, resolve);
  const admin = loadKubeconfig(n.adminKubeconfig, resolve);
  return {
    etcd: { ca: read(files.etcd.ca), cert: read(files.etcd.cert), key: read(files.etcd.key) },
    admin,
    kubelet: loadKubeconfig(n.kubeletKubeconfig, resolve),
    frontProxy: n.frontProxy && files.proxyClient ? { ca: admin.ca, cert: read(files.proxyClient.cert), key: read(files.proxyClient.key) } : undefined,
  };
}

const isRestarting = (err: unknown): boolean => classifyError('request', errorMessage(err)) === 'connection';

/**
 * How long one request may take: 10 s, as the real lab's client (lab/real/traffic.ts). A server
 * that is down answers at once (refused, reset) and the request moves on to the next node; this
 * bounds a slow one. 3 s (until session 12) failed a request at load ~40, when all three emulated
 * apiservers were merely slow.
 */
const REQUEST_TIMEOUT_MS = 10_000;

/** tlsRequest with the generator's timeout. */
const request: typeof tlsRequest = (url, client, opts = {}) => tlsRequest(url, client, { timeoutMs: REQUEST_TIMEOUT_MS, ...opts });

export async function trafficMain(argv: string[]): Promise<void> {
  const flags = parseFlags(argv);
  const dir = requireFlag(flags, 'dir');
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as TrafficPlan;
  const counters: TrafficCounters = { startedAt: new Date().toISOString(), updatedAt: '', requests: 0, failures: 0, byTarget: {}, windows: [], lastWrites: [], dataMismatches: 0, direct: {}, unavailability: [] };
  const tls = new Map<string, NodeTls>();
  const refreshTls = (): void => {
    for (const n of plan.nodes) {
      try {
        const t = loadNodeTls(n);
        const pairs = [t.etcd, ...(t.admin ? [t.admin] : []), ...(t.kubelet ? [t.kubelet] : []), ...(t.frontProxy ? [t.frontProxy] : [])];
        // A certificate whose key is not written yet: keep the previous pair until the write completes.
        if (tls.has(n.name) && !pairs.every((p) => pairMatches(p.cert, p.key))) continue;
        tls.set(n.name, t);
      } catch (err) {
        appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target: `files:${n.name}`, error: errorMessage(err) })}\n`);
      }
    }
  };
  refreshTls();

  // Per direct target, every request's start time (ms) and outcome; windows are computed at each flush.
  const directSamples = new Map<string, Array<{ t: number; ok: boolean }>>();
  const flush = (): void => {
    counters.updatedAt = new Date().toISOString();
    counters.unavailability = [...directSamples].flatMap(([target, list]) => unavailabilityWindows(target, list));
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

  /**
   * Tries node i first with node i's credentials; when the server is not there (restarting: refused,
   * reset, 5xx), the next nodes, like a client behind a load balancer, and again for up to 5 s, like a
   * client with retries. A TLS or authentication failure is never retried: that is what counts.
   */
  async function withFallback<T>(start: number, fn: (n: TrafficPlanNode, t: NodeTls) => Promise<T>): Promise<T> {
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

  const ok = (what: string, r: { status: number; body: string }): void => {
    if (r.status < 200 || r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${r.body.slice(0, 160)}`);
  };
  const etcdCall = async (ip: string, t: NodeTls, path: string, body: unknown): Promise<Record<string, unknown>> => {
    const r = await request(`https://${ip}:2379${path}`, t.etcd, { method: 'POST', body: JSON.stringify(body) });
    ok(`etcd ${ip}${path}`, r);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  let seq = 0;
  const ops: Array<(i: number) => Promise<void>> = [
    // etcd write on node i, then read it back through the next node (read-after-write across members).
    (i) => count(`etcd-write:${plan.nodes[i]!.name}`, async () => {
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
    }),
    (i) => count(`apiserver-admin:${plan.nodes[i]!.name}`, async () => {
      const name = `traffic-${seq % 20}`;
      await withFallback(i, async (n, t) => {
        const base = `https://${n.ip}:6443/api/v1/namespaces/default/configmaps/${name}`;
        ok('PUT configmap', await request(base, t.admin!, { method: 'PUT', body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: { seq: String(seq) } }) }));
        ok('GET configmap', await request(base, t.admin!));
      });
    }),
    (i) => count(`apiserver-kubelet:${plan.nodes[i]!.name}`, async () => {
      const me = plan.nodes[i]!.name;
      await withFallback(i, async (n, t) => ok('GET node', await request(`https://${n.ip}:6443/api/v1/nodes/${me}`, t.kubelet!)));
    }),
    (i) => count(`apiserver-to-kubelet:${plan.nodes[i]!.name}`, async () => {
      const me = plan.nodes[i]!.name;
      await withFallback(i, async (n, t) => ok('GET node proxy', await request(`https://${n.ip}:6443/api/v1/nodes/${me}/proxy/healthz`, t.admin!)));
    }),
    (i) => {
      if (!plan.nodes[i]!.frontProxy) return Promise.resolve();
      if (!tls.get(plan.nodes[i]!.name)?.frontProxy) return Promise.resolve();
      return count(`apiserver-front-proxy:${plan.nodes[i]!.name}`, async () => {
        await withFallback(i, async (n, t) => {
          const fp = t.frontProxy!;
          ok('GET via front proxy', await request(`https://${n.ip}:6443/api/v1/namespaces/default/configmaps/kube-root-ca.crt`, { ca: t.admin!.ca, cert: fp.cert, key: fp.key }, { headers: { 'X-Remote-User': 'lab-aggregated-api' } }));
        });
      });
    },
  ];
  // etcd alone: only the etcd writes and reads.
  if (plan.nodes.some((n) => n.etcdOnly)) ops.splice(1);

  // The direct probes: one at a time per apiserver (a probe still waiting skips its turn, so a hung
  // server is one failure per timeout, not a pile of them).
  const probing = new Set<string>();
  const probeDirect = (): void => {
    for (const n of plan.nodes) {
      const admin = tls.get(n.name)?.admin;
      if (n.etcdOnly || !admin || probing.has(n.name)) continue;
      const target = `apiserver:${n.name}`;
      const t = Date.now();
      probing.add(n.name);
      inFlight++;
      void request(`https://${n.ip}:6443/api/v1/namespaces/default`, admin)
        .then((r) => r.status >= 200 && r.status < 300, () => false)
        .then((ok) => {
          const c = (counters.direct[target] ??= { requests: 0, failures: 0 });
          c.requests++;
          if (!ok) c.failures++;
          let list = directSamples.get(target);
          if (!list) directSamples.set(target, (list = []));
          list.push({ t, ok });
        })
        .finally(() => {
          probing.delete(n.name);
          inFlight--;
        });
    }
  };

  let tick = 0;
  const interval = 1000 / Math.max(0.1, plan.ratePerSecond);
  const timer = setInterval(() => {
    const i = tick % plan.nodes.length;
    const op = ops[Math.floor(tick / plan.nodes.length) % ops.length]!;
    tick++;
    void op(i);
  }, interval);
  const filesTimer = setInterval(refreshTls, 1000);
  const directTimer = setInterval(probeDirect, 1000);
  const flushTimer = setInterval(flush, 1000);
  flush();
  const stop = (): void => {
    clearInterval(timer);
    clearInterval(filesTimer);
    clearInterval(directTimer);
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
