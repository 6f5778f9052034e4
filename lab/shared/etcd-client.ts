/**
 * A small etcd v3 client over etcd's JSON gateway (POST /v3/kv/range|put|deleterange, base64 keys),
 * with the mutual TLS the real apiserver uses (--etcd-cafile/--etcd-certfile/--etcd-keyfile).
 * Like the real client it tries every endpoint and retries for a few seconds before failing a call.
 */
import { errorMessage, logEvent, tlsRequest } from './common.js';

export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** The key right after every key with this prefix (etcd's range_end for a prefix scan). */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      buf[i] = buf[i]! + 1;
      return buf.subarray(0, i + 1).toString('latin1');
    }
  }
  return '\0';
}

export class EtcdClient {
  constructor(
    private readonly endpoints: string[],
    private readonly tls: () => EtcdTls,
    private readonly opts: { retryMs?: number; logFailures?: boolean; who?: string } = {},
  ) {}

  private async call(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (this.opts.retryMs ?? 4000);
    let lastErr: unknown;
    for (let attempt = 0; ; attempt++) {
      for (const ep of this.endpoints) {
        try {
          const r = await tlsRequest(`${ep}${path}`, this.tls(), { method: 'POST', body: JSON.stringify(body), timeoutMs: 2000 });
          if (r.status !== 200) throw new Error(`etcd ${ep}${path}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
          return JSON.parse(r.body) as Record<string, unknown>;
        } catch (err) {
          lastErr = err;
          if (this.opts.logFailures !== false) logEvent('error', 'etcd-connection', `${this.opts.who ?? 'client'} -> etcd ${ep}: ${errorMessage(err)}`);
        }
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(200 * (attempt + 1), 1000)));
    }
    throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  }

  async get(key: string): Promise<string | undefined> {
    const r = (await this.call('/v3/kv/range', { key: b64(key) })) as { kvs?: Array<{ value?: string }> };
    const v = r.kvs?.[0]?.value;
    return v === undefined ? undefined : unb64(v);
  }

  async list(prefix: string): Promise<Array<{ key: string; value: string }>> {
    const r = (await this.call('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) })) as { kvs?: Array<{ key: string; value?: string }> };
    return (r.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: kv.value ? unb64(kv.value) : '' }));
  }

  async put(key: string, value: string): Promise<number> {
    const r = (await this.call('/v3/kv/put', { key: b64(key), value: b64(value) })) as { header?: { revision?: string } };
    return Number(r.header?.revision ?? 0);
  }

  async delete(key: string): Promise<number> {
    const r = (await this.call('/v3/kv/deleterange', { key: b64(key) })) as { deleted?: string };
    return Number(r.deleted ?? 0);
  }
}
