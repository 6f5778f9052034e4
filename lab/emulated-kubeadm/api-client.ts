/** A kubeconfig-based client of the (emulated) apiserver; every call is a fresh TLS connection. */
import { tlsRequest, type TlsClient } from '../shared/common.js';

export class ApiClient {
  constructor(private readonly tls: TlsClient, readonly who: string) {}

  get server(): string {
    return this.tls.server;
  }

  /** GET; undefined on 404, throws on anything else that is not 2xx. */
  async get(path: string): Promise<unknown> {
    const r = await tlsRequest(`${this.tls.server}${path}`, this.tls);
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new Error(`GET ${path}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as unknown;
  }

  async patch(path: string, obj: unknown): Promise<unknown> {
    const r = await tlsRequest(`${this.tls.server}${path}`, this.tls, { method: 'PATCH', body: JSON.stringify(obj), headers: { 'content-type': 'application/merge-patch+json' } });
    if (r.status >= 300) throw new Error(`PATCH ${path}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as unknown;
  }

  async list(path: string): Promise<Array<Record<string, any>>> {
    return (((await this.get(path)) as { items?: Array<Record<string, any>> } | undefined)?.items ?? []);
  }

  async put(path: string, obj: unknown): Promise<unknown> {
    const r = await tlsRequest(`${this.tls.server}${path}`, this.tls, { method: 'PUT', body: JSON.stringify(obj) });
    if (r.status >= 300) throw new Error(`PUT ${path}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as unknown;
  }
}
