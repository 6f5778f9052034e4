/**
 * src/tasks/shared/kube-api-client.ts against a real HTTPS server that answers as kube-apiserver
 * does: a list in pages (`limit`/`continue`, as client-go's pager asks), a continue token that
 * expired (410 Gone, after an etcd compaction) started over in one request, and an RBAC refusal
 * whose error names the user, the verb and the resource, as the apiserver's Status message does.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeApiClient, LIST_PAGE_SIZE } from '../../src/tasks/shared/kube-api-client.js';
import { apiserverStandIns } from '../helpers/apiserver-stand-in.js';

const stand = apiserverStandIns('kube-client');
const { key, crt } = stand;
afterAll(() => stand.close());

/** Serves 1,203 namespaces in pages; `expireSecondPage`: the second page's token answers 410. Records each request's query. */
async function apiserver(expireSecondPage: boolean): Promise<{ client: KubeApiClient; asked: URLSearchParams[] }> {
  const all = Array.from({ length: 1203 }, (_, i) => ({ metadata: { name: `ns-${i}` } }));
  const asked: URLSearchParams[] = [];
  const url = await stand.serve((req, res) => {
    const url = new URL(req.url ?? '/', 'https://x');
    asked.push(url.searchParams);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/api/v1/namespaces/kube-public/configmaps/cluster-info') {
      return json(403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'configmaps "cluster-info" is forbidden: User "ops" cannot patch resource "configmaps" in API group "" in the namespace "kube-public"' });
    }
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const from = Number(url.searchParams.get('continue') ?? 0);
    if (expireSecondPage && from > 0) return json(410, { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410, message: 'The provided continue parameter is too old' });
    const to = limit ? Math.min(from + limit, all.length) : all.length;
    json(200, { kind: 'NamespaceList', metadata: to < all.length ? { continue: String(to) } : {}, items: all.slice(from, to) });
  });
  const client = new KubeApiClient({ server: url, ca: readFileSync(crt), cert: readFileSync(crt), key: readFileSync(key) });
  return { client, asked };
}

describe('kcarun\'s Kubernetes client against an apiserver\'s answers', () => {
  it('lists in pages of 500 and returns every item once, in order', async () => {
    const { client, asked } = await apiserver(false);
    const names = (await client.list<{ metadata: { name: string } }>('/api/v1/namespaces')).map((n) => n.metadata.name);
    expect(names).toHaveLength(1203);
    expect(new Set(names).size).toBe(1203);
    expect(names.at(-1)).toBe('ns-1202');
    expect(asked.map((q) => [q.get('limit'), q.get('continue')])).toEqual([[String(LIST_PAGE_SIZE), null], ['500', '500'], ['500', '1000']]);
  });

  it('starts over in one request when the continue token expired (410 Gone)', async () => {
    const { client, asked } = await apiserver(true);
    expect(await client.list('/api/v1/namespaces')).toHaveLength(1203);
    expect(asked.map((q) => [q.get('limit'), q.get('continue')])).toEqual([['500', null], ['500', '500'], [null, null]]);
  });

  it('an RBAC refusal throws with the apiserver\'s message: user, verb, resource', async () => {
    const { client } = await apiserver(false);
    await expect(client.mergePatch('/api/v1/namespaces/kube-public/configmaps/cluster-info', { data: {} })).rejects.toThrow(/HTTP 403 .*User "ops" cannot patch resource "configmaps".*namespace "kube-public"/);
  });
});
