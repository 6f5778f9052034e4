/**
 * A small Kubernetes API client on node:https, following client-go's rules where kcarun meets them:
 * lists in pages with `limit`/`continue` (410 Gone starts over), Retry-After answers retried
 * (retry-after.ts), changes as merge patches (no 409 to handle), the apiserver's own message in
 * every error (RBAC: user, verb, resource). Why not @kubernetes/client-node: kcarun only needs
 * GET/LIST/merge-PATCH of a few resources with the credentials of one kubeconfig read from a host
 * over SSH; client-node 2.0.1 (checked 2026-12-03) needs Node >= 22.19 through undici 8, which this
 * Node 20 CLI cannot run, and brings 16 direct dependencies (openid-client, ws, tar-fs, socks, ...)
 * into a CLI whose `validate` must start in under 300 ms. The key stays in memory.
 */
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { KcarunError } from '../../core/errors.js';
import { currentClusterAndUser, parseKubeconfig, type KubeconfigBytes } from '../../edit/kubeconfig.js';
import type { Transport } from '../../transport/types.js';
import type { TaskContext } from '../define.js';
import { RETRY_AFTER_MAX_RETRIES, retryAfterSeconds } from './retry-after.js';
import { DEFAULT_KUBECONFIG, type KubeconfigParams } from './schemas.js';

export interface KubeCredentials {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** insecure-skip-tls-verify in the kubeconfig. */
  insecure?: boolean;
}

export interface KubeResponse {
  status: number;
  body: unknown;
  text: string;
  /** The Retry-After header, when the apiserver sent one. */
  retryAfter?: string;
}

/** Reads a kubeconfig file on a host, with the files it names (relative to its folder), into memory. */
export async function loadKubeCredentials(transport: Transport, path: string, options: { become?: boolean; server?: string } = {}): Promise<KubeCredentials> {
  const text = (await transport.readFile(path, { become: options.become })).toString('utf8');
  let kc;
  try {
    kc = parseKubeconfig(text, path);
  } catch (err) {
    throw new KcarunError('E_TASK', `${transport.host}: ${path} is not a readable kubeconfig`, { host: transport.host }, { cause: err });
  }
  const { context, cluster, user } = currentClusterAndUser(kc);
  if (!cluster || cluster.server === undefined) {
    throw new KcarunError('E_TASK', `${transport.host}: ${path} has no cluster server for context ${context ?? '(none)'}`, { host: transport.host });
  }
  const bytes = async (b: KubeconfigBytes | undefined): Promise<Buffer | undefined> =>
    b === undefined ? undefined : 'data' in b ? b.data : transport.readFile(b.path, { become: options.become });
  return {
    server: options.server ?? cluster.server,
    ca: await bytes(cluster.ca),
    cert: await bytes(user?.certificate),
    key: await bytes(user?.key),
    token: user?.token,
    insecure: cluster.insecure,
  };
}

export class KubeApiClient {
  constructor(
    readonly credentials: KubeCredentials,
    private readonly timeoutMs = 10_000,
  ) {}

  get server(): string {
    return this.credentials.server;
  }

  /**
   * One API request; a response the apiserver asks to have retried (429 or 5xx with Retry-After: an
   * apiserver shutting down, API priority and fairness) is sent again after the seconds it names, up
   * to 10 times, as client-go does (retry-after.ts). Resolves with the last response; rejects on a
   * network or TLS error, or no answer within the client's timeout (ms) per attempt.
   */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    for (let retries = 0; ; retries++) {
      const r = await this.requestOnce(method, path, body, contentType);
      const wait = retryAfterSeconds(r.status, r.retryAfter);
      if (wait === undefined || retries >= RETRY_AFTER_MAX_RETRIES) return r;
      await sleep(wait * 1000);
    }
  }

  private requestOnce(method: string, path: string, body: unknown, contentType: string): Promise<KubeResponse> {
    const url = new URL(path, this.credentials.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const c = this.credentials;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: c.ca,
          cert: c.cert,
          key: c.key,
          rejectUnauthorized: !c.insecure,
          timeout: this.timeoutMs,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {}),
            ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text, retryAfter: res.headers['retry-after'] });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new Error(`${method} ${url.origin}${url.pathname}: ${err.message}`)));
      req.end(payload);
    });
  }

  /** The object, or undefined on 404; other failures throw with the status and message. */
  async get<T = Record<string, unknown>>(path: string): Promise<T | undefined> {
    const r = await this.request('GET', path);
    if (r.status === 404) return undefined;
    expectOk('GET', path, r);
    return r.body as T;
  }

  /**
   * Every item of a collection, fetched in pages of LIST_PAGE_SIZE (`limit` and `continue`, as
   * kubectl and client-go's pager ask: k8s.io/client-go tools/pager, 500 a page), so a large cluster's
   * list is not one huge response. A continue token the apiserver no longer honours (410 Gone: etcd
   * was compacted past the list's resourceVersion) starts the list over in one request, as the pager's
   * FullListIfExpired does. [] on 404; other failures throw with the status and the apiserver's message.
   */
  async list<T = Record<string, unknown>>(path: string): Promise<T[]> {
    const items: T[] = [];
    for (let token: string | undefined; ; ) {
      const r = await this.request('GET', withQuery(path, { limit: String(LIST_PAGE_SIZE), ...(token ? { continue: token } : {}) }));
      if (r.status === 404) return [];
      if (r.status === 410 && token) {
        const whole = await this.request('GET', path);
        expectOk('GET', path, whole);
        return ((whole.body as { items?: T[] } | undefined)?.items ?? []) as T[];
      }
      expectOk('GET', path, r);
      const page = r.body as { items?: T[]; metadata?: { continue?: string } } | undefined;
      items.push(...((page?.items ?? []) as T[]));
      token = page?.metadata?.continue || undefined;
      if (!token) return items;
    }
  }

  /**
   * A JSON merge patch (RFC 7386): the one patch type every apiserver and the lab accept. kcarun's
   * tasks change objects only this way, without metadata.resourceVersion, so the apiserver applies the
   * patch to the object as it is then (retrying its own storage conflicts) and never answers 409
   * Conflict: no re-read and re-apply is needed, unlike a PUT of a whole object read earlier.
   */
  async mergePatch<T = Record<string, unknown>>(path: string, patch: unknown): Promise<T> {
    const r = await this.request('PATCH', path, patch, 'application/merge-patch+json');
    expectOk('PATCH', path, r);
    return r.body as T;
  }

  /** A whole object (the tests use it to set a cluster up; a stale resourceVersion in `obj` gets 409, thrown). */
  async put<T = Record<string, unknown>>(path: string, obj: unknown): Promise<T> {
    const r = await this.request('PUT', path, obj);
    expectOk('PUT', path, r);
    return r.body as T;
  }
}

/** Items per page of a list (client-go's pager and kubectl's --chunk-size default). */
export const LIST_PAGE_SIZE = 500;

/** `path` with `query` set in its query string (a path that has one keeps its other parameters). */
function withQuery(path: string, query: Record<string, string>): string {
  const u = new URL(path, 'https://apiserver.invalid');
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return `${u.pathname}${u.search}`;
}

/**
 * Throws unless 2xx, with the apiserver's own message: for RBAC that names the user, the verb and
 * the resource ('User "x" cannot patch resource "configmaps" ... in the namespace "kube-public"').
 */
function expectOk(method: string, path: string, r: KubeResponse): void {
  if (r.status >= 200 && r.status < 300) return;
  const message = (r.body as { message?: string } | undefined)?.message ?? r.text.slice(0, 200);
  throw new Error(`${method} ${path}: HTTP ${r.status}${message ? ` ${message}` : ''}`);
}

/** Opens a client from a kubeconfig on a host (default the admin one). */
export async function kubeClientFromHost(transport: Transport, kubeconfig: string, options: { become?: boolean; server?: string } = {}): Promise<KubeApiClient> {
  return new KubeApiClient(await loadKubeCredentials(transport, kubeconfig, options));
}

/** The client of a task with `kubeconfig`/`server` params, from the kubeconfig on its host. */
export function kubeClientFor(ctx: TaskContext<KubeconfigParams>): Promise<KubeApiClient> {
  return kubeClientFromHost(ctx.transport, ctx.params.kubeconfig ?? DEFAULT_KUBECONFIG, { become: ctx.host.become, server: ctx.params.server });
}
