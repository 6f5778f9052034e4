/**
 * A response kube-apiserver asks to have retried (503 "apiserver is shutting down" with Retry-After: 1,
 * k8s.io/apiserver pkg/server/filters/waitgroup.go; 429 from API priority and fairness) is retried
 * by every client-go client, so it is not a failure a cluster's user sees. kcarun's own client
 * (src/tasks/shared/kube-api-client.ts) and the real lab's traffic (lab/real/traffic.ts) follow
 * client-go's rule (src/tasks/shared/retry-after.ts), against a real HTTPS server here: retried after
 * the seconds named, at most 10 times; a 5xx without Retry-After stays a failure. Found on the real
 * kubeadm cluster (session 23): one PUT through the load balancer met an apiserver whose shutdown had
 * just begun.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realTrafficMain, type RealTrafficCounters, type RealTrafficPlan } from '../../lab/real/traffic.js';
import { KubeApiClient } from '../../src/tasks/shared/kube-api-client.js';
import { retryAfterSeconds } from '../../src/tasks/shared/retry-after.js';
import { apiserverStandIns } from '../helpers/apiserver-stand-in.js';

const stand = apiserverStandIns('retry-after');
const { key, crt } = stand;
const root = mkdtempSync(join(tmpdir(), 'kcarun-retry-after-'));
afterAll(async () => {
  await stand.close();
  rmSync(root, { recursive: true, force: true });
});

/**
 * An apiserver stand-in: the first `refuse` requests to a ConfigMap get 503 (with `Retry-After:
 * retryAfter` unless undefined), later ones succeed; POSTs (the traffic's setup) always succeed.
 * Returns its URL and the statuses it sent, in order.
 */
async function apiserver(refuse: number, retryAfter: string | undefined): Promise<{ url: string; sent: number[] }> {
  const sent: number[] = [];
  let revision = 100;
  const url = await stand.serve((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') return void res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      if (sent.filter((s) => s === 503).length < refuse) {
        sent.push(503);
        res.writeHead(503, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
        return void res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'apiserver is shutting down', reason: 'ServiceUnavailable', code: 503 }));
      }
      sent.push(200);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { resourceVersion: String(++revision) }, data: { value: 'x' } }));
    });
  });
  return { url, sent };
}

const client = (url: string): KubeApiClient => new KubeApiClient({ server: url, ca: readFileSync(crt), cert: readFileSync(crt), key: readFileSync(key) });

describe('Retry-After, as client-go honours it', () => {
  it('the rule: 429 or 5xx with whole seconds; anything else is final', () => {
    expect(retryAfterSeconds(503, '1')).toBe(1);
    expect(retryAfterSeconds(429, '0')).toBe(0);
    expect(retryAfterSeconds(500, ['2'])).toBe(2);
    expect(retryAfterSeconds(503, '3600')).toBe(10);
    expect(retryAfterSeconds(503, undefined)).toBeUndefined();
    expect(retryAfterSeconds(503, 'Wed, 21 Oct 2026 07:28:00 GMT')).toBeUndefined();
    expect(retryAfterSeconds(409, '1')).toBeUndefined();
    expect(retryAfterSeconds(200, '1')).toBeUndefined();
  });

  it("kcarun's client sends the request again after the seconds named, and gives the last answer after 10 retries", async () => {
    const once = await apiserver(1, '1');
    const t0 = Date.now();
    expect((await client(once.url).request('GET', '/api/v1/namespaces/default/configmaps/a')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(once.sent).toEqual([503, 200]);

    const always = await apiserver(100, '0');
    const r = await client(always.url).request('PUT', '/api/v1/namespaces/default/configmaps/a', { data: {} });
    expect(r.status).toBe(503);
    expect(always.sent).toHaveLength(11);

    const bare = await apiserver(1, undefined);
    expect((await client(bare.url).request('GET', '/api/v1/namespaces/default/configmaps/a')).status).toBe(503);
    expect(bare.sent).toEqual([503]);
  });

  it("the real lab's traffic retries what the apiserver asks to have retried, counts it in retries and not as a failure; a bare 503 is a failure", async () => {
    const nodeRoot = join(root, 'fs');
    mkdirSync(join(nodeRoot, 'etc/kubernetes'), { recursive: true });
    const b64 = (f: string): string => readFileSync(f).toString('base64');
    writeFileSync(
      join(nodeRoot, 'etc/kubernetes/admin.conf'),
      `apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: { server: "https://127.0.0.1:1", certificate-authority-data: ${b64(crt)} }\n` +
        `users:\n- name: admin\n  user: { client-certificate-data: ${b64(crt)}, client-key-data: ${b64(key)} }\ncontexts:\n- name: c\n  context: { cluster: k, user: admin }\ncurrent-context: c\n`,
    );
    const shutting = await apiserver(2, '1');
    const broken = await apiserver(2, undefined);
    const dir = join(root, 'traffic');
    mkdirSync(dir);
    const plan: RealTrafficPlan = {
      intervalMs: 250,
      targets: [
        { name: 'lb', url: shutting.url, nodeRoot, kubeconfig: '/etc/kubernetes/admin.conf' },
        { name: 'apiserver:cp1', url: broken.url, nodeRoot, kubeconfig: '/etc/kubernetes/admin.conf' },
      ],
    };
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    await realTrafficMain(dir, (stop) => setTimeout(stop, 3000));
    const counters = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as RealTrafficCounters;
    expect(counters.byTarget['lb']?.requests).toBeGreaterThanOrEqual(8);
    expect(counters.byTarget['lb']?.failures).toBe(0);
    expect(counters.byTarget['lb']?.retries).toBe(2);
    expect(counters.byTarget['apiserver:cp1']?.failures).toBe(2);
    expect(counters.byTarget['apiserver:cp1']?.retries ?? 0).toBe(0);
    const retries = readFileSync(join(dir, 'retries.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { target: string; status: number; retryAfter: number; message: string });
    expect(retries.map((r) => [r.target, r.status, r.retryAfter])).toEqual([['lb', 503, 1], ['lb', 503, 1]]);
    expect(retries[0]!.message).toContain('apiserver is shutting down');
  }, 60_000);
});
