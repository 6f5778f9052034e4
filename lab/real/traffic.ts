/**
 * Traffic and verify for the real labs (`--layout kubeadm-real`, `binary-real`), run in the machine's
 * namespace as a user's clients would:
 *
 * - through the load balancer (the control-plane endpoint P.0.10:6443) with cp1's admin kubeconfig
 *   (kubeadm's admin.conf, or the binary layout's admin.kubeconfig), as kubectl and every client of an
 *   HA cluster do: these requests must never fail;
 * - straight to each node's apiserver (NODE_IP:6443) with that node's own admin kubeconfig: these show how
 *   long each apiserver was unavailable (its restarts, its local etcd's restarts).
 *
 * Each request is one GET or PUT of a ConfigMap in `default` over a new TLS connection (no retry, no
 * keep-alive: every connection proves the TLS setup of that moment), 10 s timeout. Credentials are
 * re-read from the node folders every second, so the clients follow the rotation the way a user who
 * takes the rotated admin.conf does. Any non-2xx answer, TLS or connection error, or timeout counts as
 * a failure. Per target: requests, failures, and unavailability windows (from the first failure after
 * a success to the next success).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { LabPaths } from '../lab-paths.js';
import type { LabState } from '../lab-state.js';
import { checkCertificates } from '../commands/verify.js';
import { nodeComponentErrors, type ComponentLogError } from './component-logs.js';
import { nodeFsAt, readNodeKubeconfig, type Creds } from './kubeconfig.js';
import { unavailabilityWindows, type UnavailabilityWindow } from '../unavailability.js';
import { RETRY_AFTER_MAX_RETRIES, retryAfterSeconds } from '../../src/tasks/shared/retry-after.js';

/** What the generator is told (traffic/plan.json). */
export interface RealTrafficPlan {
  intervalMs: number;
  /** `kubeconfig`: node-absolute path of the admin kubeconfig inside the node whose folder is `nodeRoot`. */
  targets: Array<{ name: string; url: string; nodeRoot: string; kubeconfig: string }>;
}

export interface RealTrafficCounters {
  startedAt: string;
  updatedAt: string;
  requests: number;
  failures: number;
  /** Per target; `retries`: responses the apiserver asked to have retried (Retry-After), each sent again. */
  byTarget: Record<string, { requests: number; failures: number; retries?: number }>;
  windows: UnavailabilityWindow[];
  /**
   * Per ConfigMap, the acknowledged PUT (any target) with the highest resourceVersion: what the
   * ConfigMap must hold at the end. Requests overlap (one is issued every interval per target,
   * whether or not the last one answered), so neither issue nor completion order says which write
   * etcd committed last; the modification revision in the response does (kube-apiserver's
   * resourceVersion is etcd's mod_revision for the object; the lab relies on that, clients must not).
   */
  lastWrites: Record<string, { value: string; revision: number }>;
  /** Per ConfigMap, the values of PUTs whose outcome is unknown (no answer, or an error): they may have been committed. */
  unacknowledged: Record<string, string[]>;
  dataMismatches: number;
}

/**
 * One HTTPS request on a fresh connection; resolves with status, body and the Retry-After header,
 * rejects on network/TLS errors.
 */
export function kubeRequest(url: string, creds: Creds, opts: { method?: string; body?: string; timeoutMs?: number } = {}): Promise<{ status: number; body: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? 'GET',
      ca: creds.ca,
      cert: creds.cert,
      key: creds.key,
      agent: false,
      timeout: opts.timeoutMs ?? 10_000,
      headers: opts.body ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Node-absolute path of the admin kubeconfig a real lab's nodes hold: kubeadm's admin.conf, or the binary layout's. */
export function adminKubeconfigPath(state: LabState): string {
  return state.layout === 'binary-real' ? '/etc/kubernetes/admin.kubeconfig' : '/etc/kubernetes/admin.conf';
}

/** The plan for a lab: the load balancer with cp1's admin kubeconfig, and each apiserver with its node's. */
export function realTrafficPlan(paths: LabPaths, state: LabState, intervalMs = 250): RealTrafficPlan {
  if (!state.real) throw new Error('not a real lab (kubeadm-real, binary-real)');
  return {
    intervalMs,
    targets: [
      { name: 'lb', url: `https://${state.real.endpoint}`, nodeRoot: paths.node(state.nodes[0]!.name).fs('/'), kubeconfig: adminKubeconfigPath(state) },
      ...state.nodes.map((n) => ({ name: `apiserver:${n.name}`, url: `https://${n.ip}:6443`, nodeRoot: paths.node(n.name).fs('/'), kubeconfig: adminKubeconfigPath(state) })),
    ],
  };
}

const CONFIGMAPS = 10;
/** How long the generator tries to create its ConfigMaps before it starts the traffic anyway (ms). */
const SETUP_MS = 15_000;
const cmPath = (i: number): string => `/api/v1/namespaces/default/configmaps/kcarun-traffic-${i}`;

/** The generator's main loop (lab/real/traffic-main.ts runs it detached); ends on SIGTERM after in-flight requests. */
export async function realTrafficMain(dir: string, onStop: (fn: () => void) => void): Promise<void> {
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as RealTrafficPlan;
  const counters: RealTrafficCounters = { startedAt: new Date().toISOString(), updatedAt: '', requests: 0, failures: 0, byTarget: {}, windows: [], lastWrites: {}, unacknowledged: {}, dataMismatches: 0 };
  const creds = new Map<string, Creds>();
  const refresh = (): void => {
    for (const t of plan.targets) {
      try {
        creds.set(t.name, readNodeKubeconfig(nodeFsAt(t.nodeRoot), t.kubeconfig));
      } catch (err) {
        // A file caught mid-write keeps the previous credentials; say so once per second at most.
        appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target: `file:${t.nodeRoot}${t.kubeconfig}`, error: (err as Error).message })}\n`);
      }
    }
  };
  refresh();
  // Every request's start time and outcome per target; the windows are computed from them in start
  // order (requests overlap: a slow success must not close a window that later requests opened).
  const samples = new Map<string, Array<{ t: number; ok: boolean }>>();
  const flush = (): void => {
    counters.windows = [];
    for (const [target, list] of samples) counters.windows.push(...unavailabilityWindows(target, list));
    counters.updatedAt = new Date().toISOString();
    writeFileSync(join(dir, 'counters.json.tmp'), JSON.stringify(counters));
    renameSync(join(dir, 'counters.json.tmp'), join(dir, 'counters.json'));
  };
  // The ConfigMaps the traffic updates exist first (PUT only updates); made through the load balancer,
  // for SETUP_MS at most. A cluster that cannot make them (down, as the field notes' order leaves it)
  // still gets its traffic, every request of it counted as failed: the generator never exits early
  // (it did, and a window meant to show a down cluster then saw no request at all: session 18).
  const first = plan.targets[0]!;
  const setupUntil = Date.now() + SETUP_MS;
  setup: for (let i = 0; i < CONFIGMAPS; i++) {
    for (;;) {
      try {
        const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `kcarun-traffic-${i}`, namespace: 'default' }, data: { value: 'created' } });
        const r = await kubeRequest(`${first.url}/api/v1/namespaces/default/configmaps`, creds.get(first.name)!, { method: 'POST', body });
        if (r.status === 201 || r.status === 409) break;
        throw new Error(`HTTP ${r.status} ${r.body.slice(0, 200)}`);
      } catch (err) {
        if (Date.now() >= setupUntil) {
          appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target: 'setup', error: `ConfigMaps kcarun-traffic-${i}..${CONFIGMAPS - 1} not created within ${SETUP_MS / 1000} s: ${(err as Error).message}` })}\n`);
          break setup;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  const seqs = new Map<string, number>();
  let seq = 0;
  let stopping = false;
  let inFlight = 0;
  const one = async (t: RealTrafficPlan['targets'][number]): Promise<void> => {
    const c = creds.get(t.name);
    const by = (counters.byTarget[t.name] ??= { requests: 0, failures: 0 });
    const n = seq++;
    // Each target alternates PUT and GET on its own count (targets are visited in a fixed order).
    const k = seqs.get(t.name) ?? 0;
    seqs.set(t.name, k + 1);
    const i = n % CONFIGMAPS;
    const put = k % 2 === 0;
    const value = `${t.name}-${n}-${Date.now()}`;
    const startedMs = Date.now();
    const started = new Date(startedMs).toISOString();
    const record = (ok: boolean): void => {
      let list = samples.get(t.name);
      if (!list) samples.set(t.name, (list = []));
      list.push({ t: startedMs, ok });
    };
    counters.requests++;
    by.requests++;
    inFlight++;
    try {
      if (!c) throw new Error('no credentials');
      const body = put ? JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `kcarun-traffic-${i}`, namespace: 'default' }, data: { value } }) : undefined;
      // As every client-go client does: a response the apiserver asks to have retried (503 from an
      // apiserver whose shutdown began, 429) is sent again after its Retry-After, up to 10 times
      // (src/tasks/shared/retry-after.ts); counted in `retries`, and a failure only if the last fails.
      let r = await kubeRequest(`${t.url}${cmPath(i)}`, c, { method: put ? 'PUT' : 'GET', body });
      // Not once the traffic is stopping: its last answer then stands (a failure, counted), so no
      // request outlives the stop's wait uncounted.
      for (let retries = 0, wait = retryAfterSeconds(r.status, r.retryAfter); wait !== undefined && retries < RETRY_AFTER_MAX_RETRIES && !stopping; retries++, wait = retryAfterSeconds(r.status, r.retryAfter)) {
        by.retries = (by.retries ?? 0) + 1;
        appendFileSync(join(dir, 'retries.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), target: t.name, method: put ? 'PUT' : 'GET', status: r.status, retryAfter: wait, message: r.body.slice(0, 200) })}\n`);
        await new Promise((res) => setTimeout(res, wait! * 1000));
        r = await kubeRequest(`${t.url}${cmPath(i)}`, c, { method: put ? 'PUT' : 'GET', body });
      }
      if (!(r.status >= 200 && r.status < 300)) throw new Error(`HTTP ${r.status} ${r.body.slice(0, 200)}`);
      if (put) {
        const revision = Number((JSON.parse(r.body) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion);
        const last = counters.lastWrites[`kcarun-traffic-${i}`];
        if (!Number.isSafeInteger(revision)) throw new Error(`PUT answered ${r.status} without a numeric resourceVersion`);
        if (!last || revision > last.revision) counters.lastWrites[`kcarun-traffic-${i}`] = { value, revision };
      }
      record(true);
    } catch (err) {
      counters.failures++;
      by.failures++;
      record(false);
      if (put) (counters.unacknowledged[`kcarun-traffic-${i}`] ??= []).push(value);
      appendFileSync(join(dir, 'failures.jsonl'), `${JSON.stringify({ ts: started, target: t.name, method: put ? 'PUT' : 'GET', error: (err as Error).message.slice(0, 300) })}\n`);
    } finally {
      inFlight--;
    }
  };
  const timer = setInterval(() => {
    for (const t of plan.targets) void one(t);
  }, plan.intervalMs);
  const filesTimer = setInterval(refresh, 1000);
  const flushTimer = setInterval(flush, 1000);
  flush();
  await new Promise<void>((resolve) => {
    onStop(() => {
      stopping = true;
      clearInterval(timer);
      clearInterval(filesTimer);
      clearInterval(flushTimer);
      const deadline = Date.now() + 12_000;
      const wait = (): void => {
        if (inFlight === 0 || Date.now() > deadline) {
          flush();
          resolve();
        } else setTimeout(wait, 100);
      };
      wait();
    });
  });
}

export interface RealVerifyResult {
  requests: number;
  failures: number;
  /** Failures through the load balancer: what the clients of the cluster saw. */
  lbFailures: number;
  failuresByTarget: Record<string, number>;
  requestsByTarget: Record<string, number>;
  /** Per target, the responses the apiserver asked to have retried (Retry-After) and the traffic sent again, as client-go does (retries.jsonl says when and why). */
  retriesByTarget: Record<string, number>;
  /**
   * The load balancer's retried answers other than an apiserver's graceful shutdown (503 "apiserver
   * is shutting down"), as retries.jsonl lines: a 504 from an etcd timeout or a 429 also carry
   * Retry-After, and a client rides through them too, but they mean an apiserver served without its
   * etcd or was overloaded, which a rotation must not cause; the e2e files expect none.
   */
  lbRetriesOtherThanShutdown: string[];
  /** Per target, each span during which its requests failed. */
  unavailability: UnavailabilityWindow[];
  allCertsOnNewCA: boolean;
  leavesOnOldCa: string[];
  filesTrustingOldCa: string[];
  dataIntact: boolean;
  dataProblems: string[];
  since: string;
  /** TLS and authentication errors in the real components' logs since `since` (component-logs.ts). */
  componentLogErrors: number;
  componentLogErrorsByComponent: Record<string, number>;
  /** The first 10 such lines. */
  componentLogSamples: ComponentLogError[];
}

/**
 * The real lab's verify: the traffic counters; the TLS and authentication errors in the components'
 * logs since the traffic started (component-logs.ts); every leaf certificate and every trusted CA in each
 * node's /etc/kubernetes and /var/lib/kubelet against the CAs the lab made (DIR/pki/original-cas; the
 * kubelet's self-signed serving certificate is no leaf of theirs and never listed); and the data the
 * traffic wrote (each ConfigMap's acknowledged write with the highest resourceVersion, through any
 * target), read back through the load balancer with cp1's current admin.conf.
 */
export async function realVerify(paths: LabPaths, state: LabState): Promise<RealVerifyResult> {
  if (!state.real) throw new Error('not a real lab (kubeadm-real, binary-real)');
  const file = join(paths.trafficDir, 'counters.json');
  const counters = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RealTrafficCounters) : undefined;
  const certs = checkCertificates(paths, state);
  const problems: string[] = [];
  if (counters) {
    const creds = readNodeKubeconfig((p) => paths.node(state.nodes[0]!.name).fs(p), adminKubeconfigPath(state));
    for (const [name, { value, revision }] of Object.entries(counters.lastWrites)) {
      try {
        const r = await kubeRequest(`https://${state.real.endpoint}/api/v1/namespaces/default/configmaps/${name}`, creds);
        const got = r.status === 200 ? (JSON.parse(r.body) as { data?: Record<string, string> }).data?.['value'] : undefined;
        // A PUT that failed on the client's side may still have been committed after the last acknowledged one.
        const maybe = counters.unacknowledged?.[name] ?? [];
        if (r.status !== 200 || !got || (got !== value && !maybe.includes(got))) problems.push(`${name}: expected ${value} (resourceVersion ${revision}), got ${r.status === 200 ? got : `HTTP ${r.status}`}`);
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
  }
  const failuresByTarget: Record<string, number> = {};
  const requestsByTarget: Record<string, number> = {};
  const retriesByTarget: Record<string, number> = {};
  for (const [t, c] of Object.entries(counters?.byTarget ?? {})) {
    failuresByTarget[t] = c.failures;
    requestsByTarget[t] = c.requests;
    if (c.retries) retriesByTarget[t] = c.retries;
  }
  const since = counters?.startedAt ?? state.readyAt ?? state.createdAt;
  const logErrors = state.nodes.flatMap((n) => nodeComponentErrors(n.name, paths.node(n.name).fs('/var/log/pods'), paths.node(n.name).logs, new Date(since)));
  const componentLogErrorsByComponent: Record<string, number> = {};
  for (const e of logErrors) componentLogErrorsByComponent[e.component] = (componentLogErrorsByComponent[e.component] ?? 0) + 1;
  return {
    requests: counters?.requests ?? 0,
    failures: counters?.failures ?? 0,
    lbFailures: counters?.byTarget['lb']?.failures ?? 0,
    failuresByTarget,
    requestsByTarget,
    retriesByTarget,
    lbRetriesOtherThanShutdown: lbRetriesOtherThanShutdown(paths),
    unavailability: counters?.windows ?? [],
    allCertsOnNewCA: certs.leavesOnOldCa.length === 0,
    leavesOnOldCa: certs.leavesOnOldCa,
    filesTrustingOldCa: certs.filesTrustingOldCa,
    dataIntact: problems.length === 0 && (counters?.dataMismatches ?? 0) === 0,
    dataProblems: problems.slice(0, 20),
    since,
    componentLogErrors: logErrors.length,
    componentLogErrorsByComponent,
    componentLogSamples: logErrors.slice(0, 10),
  };
}

/** retries.jsonl's load-balancer lines whose answer was not a 503 "apiserver is shutting down" (RealVerifyResult). */
function lbRetriesOtherThanShutdown(paths: LabPaths): string[] {
  const file = join(paths.trafficDir, 'retries.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"target":"lb"'))
    .filter((l) => {
      try {
        const r = JSON.parse(l) as { status: number; message: string };
        return !(r.status === 503 && r.message.includes('apiserver is shutting down'));
      } catch {
        return false; // a line still being written
      }
    });
}
