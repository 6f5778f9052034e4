/**
 * Helpers for the reload-fact tests: the pinned binaries (never skipped: a missing cache folder is
 * a failure with the way to build it), a throwaway PKI made with the openssl CLI, processes started
 * and stopped by pid, and TLS clients for loopback.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheBin } from '../../lab/real/artifacts.js';
import { reloadFacts, type ReloadFact } from '../../src/pki/reload-facts.js';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };
export const now = (): number => Date.now() / 1000;

const NEEDED = ['etcd', 'etcdctl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** The folder of the pinned binaries; throws (the test fails) when it is missing. */
export function requireBinaries(): string {
  const bin = cacheBin();
  const missing = NEEDED.filter((b) => !existsSync(join(bin, b)));
  if (missing.length) {
    throw new Error(`reload-fact tests need the pinned binaries in ${bin} (missing: ${missing.join(', ')}); ` +
      'build them with `bash scripts/install-deps.sh` (or `npm run lab:build`), ~17 min cold. These tests are never skipped.');
  }
  return bin;
}

/** The row of src/pki/reload-facts.ts a test proves; throws if the table has no such row. */
export function fact(component: string, setting: string): ReloadFact {
  const row = reloadFacts.find((f) => f.component === component && f.setting === setting);
  if (!row) throw new Error(`src/pki/reload-facts.ts has no row for ${component} ${setting}`);
  return row;
}

/** Atomic replace (write beside, rename over), as kcarun writes files. */
export function replaceFile(path: string, content: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

export class Pki {
  constructor(readonly dir: string) { mkdirSync(dir, { recursive: true }); }
  p(name: string): string { return join(this.dir, name); }
  read(name: string): string { return readFileSync(this.p(name), 'utf8'); }

  private ossl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  ca(name: string, cn: string): void {
    this.ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', this.p(`${name}.key`), '-out', this.p(`${name}.crt`),
      '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  }

  /** A leaf signed by CA `ca`; `sans` like ['IP:127.0.0.1','DNS:localhost']; kind server|client|both. */
  leaf(name: string, ca: string, subj: string, kind: 'server' | 'client' | 'both', sans: string[] = []): void {
    const ext = join(this.dir, `${name}.ext`);
    const eku = kind === 'server' ? 'serverAuth' : kind === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
    writeFileSync(ext, [`basicConstraints=critical,CA:FALSE`, `keyUsage=critical,digitalSignature,keyEncipherment`, `extendedKeyUsage=${eku}`,
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])].join('\n') + '\n');
    this.ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', this.p(`${name}.key`), '-out', this.p(`${name}.csr`), '-subj', subj]);
    this.ossl(['x509', '-req', '-in', this.p(`${name}.csr`), '-CA', this.p(`${ca}.crt`), '-CAkey', this.p(`${ca}.key`), '-CAcreateserial',
      '-out', this.p(`${name}.crt`), '-days', '20', '-extfile', ext]);
  }

  rsaKey(name: string): void {
    this.ossl(['genrsa', '-out', this.p(`${name}.key`), '2048']);
    this.ossl(['rsa', '-in', this.p(`${name}.key`), '-pubout', '-out', this.p(`${name}.pub`)]);
  }

  /** A copy under another name (a file the component is pointed at, which the test then changes). */
  copy(from: string[], to: string): string {
    writeFileSync(this.p(to), from.map((f) => this.read(f)).join(''), { mode: 0o600 });
    return this.p(to);
  }

  issuerCN(pem: string): string {
    const out = execFileSync('openssl', ['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], { input: pem }).toString();
    return out.replace(/^issuer=/, '').trim();
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A process we started; stopped by its pid only. */
export class Proc {
  child: ChildProcess | undefined;
  constructor(readonly name: string, readonly bin: string, readonly args: () => string[], readonly logFile: string) {}

  start(): void {
    const fd = openSync(this.logFile, 'a');
    writeFileSync(fd, `\n=== start ${new Date().toISOString()}\n`);
    this.child = spawn(this.bin, this.args(), { stdio: ['ignore', fd, fd] });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid, 'SIGTERM');
    const t = setTimeout(() => { if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL'); }, 10_000);
    await exited;
    clearTimeout(t);
  }

  async restart(): Promise<void> { await this.stop(); this.start(); }

  running(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  logTail(lines = 30): string {
    try { return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return ''; }
  }
}

export interface Creds { cert?: Buffer | string; key?: Buffer | string; ca: Buffer | string; headers?: Record<string, string>; servername?: string }
export interface Resp { status: number; body: string }

/** One HTTPS request on a new connection; status 0 = no HTTP answer (TLS or connection error). */
export function https(url: string, creds: Creds, opts: { method?: string; body?: unknown; timeoutMs?: number; contentType?: string } = {}): Promise<Resp & { error?: string }> {
  const u = new URL(url);
  const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve) => {
    const req = request({
      host: u.hostname, port: Number(u.port), path: u.pathname + u.search, method: opts.method ?? 'GET', agent: false,
      cert: creds.cert, key: creds.key, ca: creds.ca, servername: creds.servername, timeout: opts.timeoutMs ?? 3000,
      headers: { ...(creds.headers ?? {}), ...(data ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    req.end(data);
  });
}

/**
 * Polls `check` every `everyMs` for at most `seconds`; returns the seconds until it first held, or
 * null if it never did (for a 'restart' fact: the whole window passed without the change taking effect).
 */
export async function secondsUntil(check: () => Promise<boolean>, seconds: number, everyMs = 500): Promise<number | null> {
  const t0 = now();
  while (now() - t0 < seconds) {
    if (await check()) return Math.round((now() - t0) * 10) / 10;
    await sleep(everyMs);
  }
  return null;
}

export async function waitFor(what: string, check: () => Promise<boolean>, seconds: number, procs: Proc[] = []): Promise<void> {
  // A component that exited will not come up: fail at once with its log.
  const exited = (): boolean => procs.some((p) => !p.running());
  if ((await secondsUntil(async () => exited() || (await check()), seconds)) === null || exited()) {
    throw new Error(`${what} not within ${seconds} s\n${procs.map((p) => `--- ${p.name} (${p.running() ? 'running' : 'exited'}):\n${p.logTail()}`).join('\n')}`);
  }
}

/** How long a 'restart' fact is watched without a restart before the test accepts that it is not live. */
export const RESTART_OBSERVATION_S = 25;

/** An RS256 JWT (a service-account token made outside the apiserver, signed with a key of our choosing). */
export function signJwt(claims: Record<string, unknown>, privateKeyPem: string): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  // No kid: the apiserver would look only for a key of that id (pkg/serviceaccount/jwt.go:315-319).
  const head = b64({ alg: 'RS256', typ: 'JWT' });
  const payload = b64(claims);
  const sig = createSign('RSA-SHA256').update(`${head}.${payload}`).sign(privateKeyPem).toString('base64url');
  return `${head}.${payload}.${sig}`;
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The keys of every table row a test in test/facts proves; table.test.ts checks the table against it. */
export const TESTED_SETTINGS: readonly string[] = [
  'kube-apiserver --client-ca-file',
  'kube-apiserver --requestheader-client-ca-file',
  'kube-apiserver --tls-cert-file/--tls-private-key-file',
  'kube-apiserver --service-account-key-file',
  'kube-apiserver --etcd-cafile',
  'kube-apiserver --etcd-certfile/--etcd-keyfile',
  'kube-apiserver --kubelet-certificate-authority',
  'kube-apiserver --kubelet-client-certificate/--kubelet-client-key',
  'etcd --trusted-ca-file',
  'etcd --peer-trusted-ca-file',
  'etcd --cert-file/--key-file',
  'etcd --peer-cert-file/--peer-key-file',
  'kube-controller-manager --cluster-signing-cert-file/--cluster-signing-key-file',
  'kube-controller-manager --root-ca-file',
  'kube-controller-manager --client-ca-file',
  'kube-controller-manager --requestheader-client-ca-file',
  'kube-scheduler --client-ca-file',
];
