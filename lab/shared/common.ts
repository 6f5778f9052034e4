/**
 * What the lab's own programs (lab/stand-ins/) and its host-side clients share: flag parsing (the
 * real `--flag=value` forms), the lab's event log, kubeconfig loading (embedded data or file paths),
 * HTTPS requests with explicit TLS material, and the tls/connection/other classification of errors.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parse } from 'yaml';

export const LAB_DIR = process.env['KCARUN_LAB_DIR'] ?? '/tmp/kcarun-lab';
export const NODE = hostname();

export type Flags = Map<string, string>;

/** Parses `--name=value`, `--name value` and bare `--name` (= "true"), as pflag does. */
export function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) continue;
    const name = a.replace(/^-+/, '');
    const eq = name.indexOf('=');
    if (eq >= 0) flags.set(name.slice(0, eq), name.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) flags.set(name, argv[++i]!);
    else flags.set(name, 'true');
  }
  return flags;
}

export function requireFlag(flags: Flags, name: string): string {
  const v = flags.get(name);
  if (!v) {
    logEvent('error', 'config', `missing required flag --${name}`);
    console.error(`error: missing required flag --${name}`);
    process.exit(1);
  }
  return v;
}

let componentName = 'lab';
export function setComponent(name: string): void {
  componentName = name;
}

/**
 * One JSON line per event in the lab's event log. `error` events are what verify counts as
 * component errors: every TLS or connection failure of every component lands here.
 */
export function logEvent(level: 'error' | 'info', kind: string, message: string, extra: Record<string, unknown> = {}): void {
  const errorClass = level === 'error' ? classifyError(kind, message) : undefined;
  const line = JSON.stringify({ ts: new Date().toISOString(), node: NODE, component: componentName, level, kind, class: errorClass, message, ...extra });
  try {
    appendFileSync(`${LAB_DIR}/events.jsonl`, `${line}\n`);
  } catch {
    // The lab folder is gone (lab being torn down): nothing left to report to.
  }
  if (level === 'error') console.error(line);
}

/**
 * `tls`: a trust or certificate problem (what a bad rotation causes); `connection`: the peer was not
 * there (a restart in progress); `other`: anything else (HTTP errors, bad config).
 */
export function classifyError(kind: string, message: string): 'tls' | 'connection' | 'other' {
  if (kind === 'config') return 'other';
  if (kind.startsWith('tls') || /certificate|self[- ]signed|unable to (verify|get local issuer)|CERT_|ERR_SSL|SSL routines|alert|unknown ca|handshake|Unauthorized|HTTP 401|DEPTH_ZERO|UNABLE_TO|ERR_TLS/i.test(message)) return 'tls';
  if (/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|timeout|socket hang up|EPIPE|HTTP 50[0-9]|unavailable/i.test(message)) return 'connection';
  return 'other';
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Number of PEM certificates in a text (a CA bundle holds several). */
export function countCerts(pem: string): number {
  return (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
}

export function splitCerts(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export interface TlsClient {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

/** Loads a kubeconfig's current context the way client-go does (data fields win over file fields). */
export function loadKubeconfig(path: string, resolve: (file: string) => string = (f) => f): TlsClient {
  const doc = parse(readText(resolve(path))) as {
    'current-context'?: string;
    contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
    clusters?: Array<{ name: string; cluster: Record<string, string> }>;
    users?: Array<{ name: string; user: Record<string, string> }>;
  };
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']) ?? doc.contexts?.[0];
  const cluster = doc.clusters?.find((c) => c.name === ctx?.context.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
  const user = doc.users?.find((u) => u.name === ctx?.context.user)?.user ?? doc.users?.[0]?.user;
  if (!cluster || !user) throw new Error(`${path}: no cluster or user in the current context`);
  const pick = (data: string | undefined, file: string | undefined, what: string): string => {
    if (data) return Buffer.from(data, 'base64').toString('utf8');
    if (file) return readText(resolve(file));
    throw new Error(`${path}: no ${what}`);
  };
  // client-certificate and client-key may name the same file (kubelet-client-current.pem, certificate
  // and key together, behind a symlink): each side takes its own PEM blocks, as client-go does.
  const blocks = (text: string, re: RegExp, what: string): string => {
    const found = text.match(re);
    if (!found) throw new Error(`${path}: ${what} holds no ${what === 'client-key' ? 'private key' : 'certificate'}`);
    return found.join('\n') + '\n';
  };
  return {
    server: cluster['server'] ?? '',
    ca: pick(cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate-authority'),
    cert: blocks(pick(user['client-certificate-data'], user['client-certificate'], 'client-certificate'), /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, 'client-certificate'),
    key: blocks(pick(user['client-key-data'], user['client-key'], 'client-key'), /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g, 'client-key'),
  };
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One HTTPS request on a fresh connection (no keep-alive), so every call re-checks both sides' TLS. */
export function tlsRequest(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
  opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number; insecure?: boolean } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: opts.method ?? 'GET',
        ca: tls.ca || undefined,
        rejectUnauthorized: !opts.insecure,
        cert: tls.cert,
        key: tls.key,
        agent: false,
        timeout: opts.timeoutMs ?? 3000,
        headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 3000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** True when `cert` was signed by one of the CA certificates in `bundle`. */
export function issuedByAny(cert: X509Certificate, bundle: string): boolean {
  return splitCerts(bundle).some((pem) => {
    const ca = new X509Certificate(pem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  });
}

/** Runs fn every `ms`, never overlapping itself. */
export function every(ms: number, fn: () => Promise<void>): void {
  const tick = async (): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      logEvent('error', 'internal', errorMessage(err));
    }
    setTimeout(() => void tick(), ms);
  };
  void tick();
}

export function onTerm(fn: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { fn(); process.exit(0); });
}

/**
 * True when the first certificate in `cert` belongs to `key`. Clients that re-read their files use it
 * to skip a torn write (certificate written, key not yet) instead of failing with a key mismatch.
 */
export function pairMatches(cert: string, key: string): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}
