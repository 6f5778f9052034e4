import { statfs } from 'node:fs/promises';
import type { StatsFs } from 'node:fs';
import pLimit from 'p-limit';
import { dirname, join } from 'node:path';
import { KcarunError, KcarunErrorList } from '../../core/errors.js';
import { checkCertificate, checkClockSkew, isSelfIssuedOutsideCluster } from '../../pki/checks.js';
import { parseCertificates, parseSingleCertificate, type Certificate } from '../../pki/certificate.js';
import { freeBytes } from '../shared/free-space.js';
import { shellJoin } from '../../core/shell.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import type { Transport } from '../../transport/types.js';
import { DEFAULT_KUBECONFIG } from '../shared/schemas.js';
import type { PreflightParams } from './schema.js';
import { settingValue } from '../shared/setting-value.js';
import { kubeClientFromHost } from '../shared/kube-api-client.js';
import { checkEtcdCluster } from '../shared/etcdctl.js';
import { publicKeyOnHost } from '../shared/key-on-host.js';
import { heldPath } from '../shared/held-manifest.js';

const applies = (list: string[] | undefined, host: string): boolean => list === undefined || list.includes(host);

/**
 * Checks every host (reachable, clock, disk, certificates, CA keys, flags, held static pods), then
 * the cluster-wide things (local disk, etcd health, the run lock, webhooks). Hosts are checked
 * `ctx.forks` at a time (p-limit), each into its own buffers, so the report reads as it did when
 * they were checked one after another (which made preflight grow from 22 s to 106 s between 20 and
 * 50 workers, bench/scale.ts, issue 19): first every host's reachability and clock, in host order,
 * then every reachable host's files, in host order, whatever order the hosts answered in.
 * Throws KcarunErrorList (E_PREFLIGHT) naming each problem's host; changes nothing anywhere.
 */
export async function runPreflight(ctx: TaskContext<PreflightParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const problems: KcarunError[] = [];
  const warnings: string[] = [];
  // A transport error already names its host (`cp3: HOST KEY CHANGED ...`): named once.
  const problem = (host: string, message: string): void => void problems.push(new KcarunError('E_PREFLIGHT', message.startsWith(`${host}: `) ? message : `${host}: ${message}`, { host }));
  // A host name the inventory lacks would make its check apply nowhere, silently (a typo in a
  // `hosts:` list, or webhooks asked from a `hosts: local` stage): each is a problem (review, session 26).
  for (const [where, name] of namedHosts(p, ctx.host.name)) {
    if (!ctx.inventoryHosts.has(name)) problem(name, `${where} names host "${name}", which the inventory does not have: that check would run nowhere`);
  }
  const hostNames = p.hosts ?? [...ctx.inventoryHosts.keys()];
  const slots = pLimit(Math.max(1, ctx.forks));
  const perHost = await Promise.all(hostNames.map((name) => slots(() => checkHost(ctx, name))));
  const reachable = new Map<string, Transport>();
  for (const [i, name] of hostNames.entries()) {
    for (const m of perHost[i]!.reach) problem(name, m);
    if (perHost[i]!.transport) reachable.set(name, perHost[i]!.transport!);
  }
  for (const [i, name] of hostNames.entries()) {
    for (const m of perHost[i]!.problems) problem(name, m);
    warnings.push(...perHost[i]!.warnings);
  }

  if (p.disk?.localMinFreeMb !== undefined) {
    // A dry run's scratch copy lives elsewhere: the room that counts is the real state dir's.
    const stateDir = ctx.state.scratch?.realDir ?? ctx.state.dir;
    // A dry run does not create a state dir that is not there yet: the run would, on this file system.
    const fs = await statfsNearest(stateDir);
    const freeMb = (fs.bavail * fs.bsize) / 1024 / 1024;
    if (freeMb < p.disk.localMinFreeMb) problem('local', `state dir ${stateDir} has ${Math.floor(freeMb)} MB free, ${p.disk.localMinFreeMb} MB needed`);
  }

  if (p.etcd) {
    const from = p.etcd.host ? [p.etcd.host] : [...reachable.keys()];
    let answered = false;
    const errors: string[] = [];
    for (const name of from) {
      const t = reachable.get(name);
      const h = ctx.inventoryHosts.get(name) ?? ctx.host;
      if (!t) continue;
      try {
        await checkEtcdCluster(t, p.etcd, h.address, ctx.signal);
        answered = true;
        break;
      } catch (err) {
        errors.push((err as Error).message);
        // One clear answer about the cluster is enough: an unhealthy verdict is not retried elsewhere.
        if (!/etcdctl .* failed/.test((err as Error).message)) break;
      }
    }
    if (!answered) problem(p.etcd.host ?? 'etcd', `etcd is not healthy: ${errors[errors.length - 1] ?? 'no reachable host to ask'}`);
  }

  if (p.lock ?? true) {
    const holder = await ctx.state.otherLockHolder();
    if (holder) {
      problem('local', `another run holds the lock ${join(ctx.state.scratch?.realDir ?? ctx.state.dir, 'lock')} (pid ${holder.pid} on ${holder.host} since ${holder.startedAt}: ${holder.command})`);
    }
  }

  if (p.webhooks) {
    const name = p.webhooks.host ?? ctx.host.name;
    const t = reachable.get(name);
    if (t) {
      try {
        warnings.push(...(await webhookWarnings(t, p.webhooks)));
      } catch (err) {
        problem(name, `cannot list webhook configurations: ${(err as Error).message}`);
      }
    }
  }

  for (const w of warnings) ctx.log.warn(w);
  if (problems.length) {
    throw new KcarunErrorList('E_PREFLIGHT', `preflight found ${problems.length} problem(s); nothing was changed:`, problems);
  }
  return { changed: false, output: { hosts: hostNames, warnings }, summary: `${hostNames.length} host(s) ready${warnings.length ? `, ${warnings.length} warning(s)` : ''}` };
}

type Report = (host: string, message: string) => void;

/**
 * Every inventory host name the params name, with where: [param path, name]. The webhook check's
 * default is the task's own host, which in a `hosts: local` stage is not an inventory host.
 */
function namedHosts(p: PreflightParams, taskHost: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const h of p.hosts ?? []) out.push(['hosts', h]);
  const lists = { certificates: p.certificates, caKeys: p.caKeys, refuseFlags: p.refuseFlags, recommendFlags: p.recommendFlags, heldStaticPods: p.heldStaticPods };
  for (const [key, items] of Object.entries(lists)) for (const [i, item] of (items ?? []).entries()) for (const h of item.hosts ?? []) out.push([`${key}[${i}].hosts`, h]);
  if (p.etcd?.host !== undefined) out.push(['etcd.host', p.etcd.host]);
  if (p.webhooks) out.push([p.webhooks.host !== undefined ? 'webhooks.host' : 'webhooks (no host: the task\'s own host)', p.webhooks.host ?? taskHost]);
  return out;
}

interface HostCheck {
  /** Set when the host answered: the later cluster-wide checks ask it. */
  transport?: Transport;
  /** Unreachable, or its clock off: messages without the host name (the caller adds it). */
  reach: string[];
  /** The host's files and flags: messages without the host name. */
  problems: string[];
  /** Whole lines, host name included. */
  warnings: string[];
}

/** Every per-host check of one host, into its own buffers. */
async function checkHost(ctx: TaskContext<PreflightParams>, name: string): Promise<HostCheck> {
  const p = ctx.params;
  const out: HostCheck = { reach: [], problems: [], warnings: [] };
  const problem: Report = (_host, message) => void out.problems.push(message);
  const reachProblem: Report = (_host, message) => void out.reach.push(message);
  let t: Transport;
  try {
    t = name === ctx.host.name ? ctx.transport : await ctx.transportFor(name);
    const before = Date.now();
    const res = await t.exec('date +%s.%N', { signal: ctx.signal, timeoutMs: 15_000 });
    const after = Date.now();
    if (res.rc !== 0) throw new Error(`\`date\` exited ${res.rc}`);
    const hostNow = new Date(Number(res.stdout.trim()) * 1000);
    // The host read its clock somewhere between before and after: compare with the midpoint.
    for (const pr of checkClockSkew(hostNow, new Date((before + after) / 2), (p.clockToleranceSeconds ?? 5) + (after - before) / 2000)) reachProblem(name, pr.message);
  } catch (err) {
    reachProblem(name, `unreachable: ${(err as Error).message}`);
    return out;
  }
  out.transport = t;
  if (p.disk) await checkDisk(t, name, p.disk.path, p.disk.minFreeMb, problem, ctx.signal);
  for (const c of p.certificates ?? []) if (applies(c.hosts, name)) await checkCertFile(t, name, c, problem, ctx.signal, (w) => out.warnings.push(w));
  for (const k of p.caKeys ?? []) if (applies(k.hosts, name)) await checkCaKey(t, name, k, problem, ctx.signal, ctx.state.caPassphrase);
  for (const r of p.refuseFlags ?? []) if (applies(r.hosts, name)) await checkRefusedFlags(t, name, r, problem);
  for (const r of p.recommendFlags ?? []) {
    if (!applies(r.hosts, name)) continue;
    const data = await readOrNull(t, r.path).catch(() => null);
    if (data !== null && settingValue(data.toString('utf8'), r.in, r.flag) === undefined) out.warnings.push(`${name}: ${r.path} does not set --${r.flag.replace(/^-*/, '')}: ${r.why}`);
  }
  for (const h of p.heldStaticPods ?? []) {
    if (!applies(h.hosts, name)) continue;
    const held = heldPath(h.manifest);
    if (await t.stat(held)) problem(name, `${held} exists: an interrupted kcarun run holds this static pod out of service (static-pod-hold); continue that run with --resume, or put the manifest back (mv ${shellJoin([held, h.manifest])}) once it is what should run`);
  }
  return out;
}

async function checkDisk(t: Transport, host: string, path: string, minFreeMb: number, problem: Report, signal: AbortSignal): Promise<void> {
  let free: number;
  try {
    free = await freeBytes(t, path, { signal });
  } catch (err) {
    return problem(host, (err as Error).message);
  }
  if (free / 1024 / 1024 < minFreeMb) problem(host, `${path} has ${Math.floor(free / 1024 / 1024)} MB free, ${minFreeMb} MB needed for backups`);
}

async function readOrNull(t: Transport, path: string): Promise<Buffer | null> {
  if ((await t.stat(path)) === null) return null;
  return t.readFile(path);
}

/**
 * A certificate chains to its CA file and, with `key`, matches it. The key is compared ON the host
 * (publicKeyOnHost): preflight reads certificates, never private keys (docs/pki.md).
 */
async function checkCertFile(
  t: Transport,
  host: string,
  c: NonNullable<PreflightParams['certificates']>[number],
  problem: Report,
  signal: AbortSignal,
  note: (message: string) => void,
): Promise<void> {
  try {
    const pem = await readOrNull(t, c.path);
    if (pem === null) {
      if (!c.optional) problem(host, `${c.path}: missing`);
      return;
    }
    const cert = parseSingleCertificate(pem, c.path);
    const caPem = await readOrNull(t, c.ca);
    if (caPem === null) return problem(host, `${c.path}: its CA file ${c.ca} is missing`);
    const bundle: Certificate[] = parseCertificates(caPem);
    if (bundle.length === 0) return problem(host, `${c.path}: ${c.ca} holds no certificate`);
    if (c.skipSelfSigned && isSelfIssuedOutsideCluster(parseCertificates(pem), bundle)) {
      note(`${host}: ${c.path} is self-signed ("${cert.subjectText}", issued by "${cert.issuerText}"): outside the rotation, left as it is`);
      return;
    }
    let keyMatches = true;
    if (c.key) {
      const pub = await publicKeyOnHost(t, c.key, { signal });
      if (!('spki' in pub)) {
        if (pub.reason === 'missing') return problem(host, `${c.path}: its key ${c.key} is missing`);
        return problem(host, `${c.path}: cannot compare with its key ${c.key}: ${pub.detail}`);
      }
      keyMatches = pub.spki.equals(cert.spkiDer);
    }
    for (const pr of checkCertificate(cert, { now: new Date(), bundle })) {
      problem(host, `${c.path}: ${pr.kind === 'untrusted' ? `does not chain to ${c.ca}: ${pr.message}` : pr.message}`);
    }
    if (!keyMatches) problem(host, `${c.path}: does not match its key ${c.key}`);
  } catch (err) {
    problem(host, `${c.path}: ${(err as Error).message}`);
  }
}

type RefuseFlags = NonNullable<PreflightParams['refuseFlags']>[number];

async function checkRefusedFlags(t: Transport, host: string, r: RefuseFlags, problem: Report): Promise<void> {
  try {
    const data = await readOrNull(t, r.path);
    if (data === null) return;
    const text = data.toString('utf8');
    const set = r.flags.filter((f) => settingValue(text, r.in, f) !== undefined).map((f) => `${f.replace(/^-*/, '--')}=${String(settingValue(text, r.in, f))}`);
    if (set.length) problem(host, `${r.path} sets ${set.join(', ')}${r.why ? `: ${r.why}` : ''}`);
  } catch (err) {
    problem(host, `${r.path}: ${(err as Error).message}`);
  }
}

/** A CA key where signing happens: present and matching its certificate, compared on the host. */
async function checkCaKey(
  t: Transport,
  host: string,
  k: NonNullable<PreflightParams['caKeys']>[number],
  problem: Report,
  signal: AbortSignal,
  caPassphrase: string | undefined,
): Promise<void> {
  try {
    const pub = await publicKeyOnHost(t, k.key, { signal, passphrase: caPassphrase });
    // optional: this host signs nothing with the key; only a key that is there must match.
    if (!('spki' in pub) && pub.reason === 'missing' && k.optional) return;
    const certPem = await readOrNull(t, k.cert);
    if (certPem === null) return problem(host, `CA certificate ${k.cert} is missing`);
    if (!('spki' in pub)) {
      if (pub.reason === 'missing') return problem(host, `CA key ${k.key} is missing (needed to sign on this host)`);
      return problem(host, `${k.key}: ${pub.detail}`);
    }
    const cert = parseSingleCertificate(certPem, k.cert);
    if (!pub.spki.equals(cert.spkiDer)) problem(host, `CA key ${k.key} does not match ${k.cert}`);
  } catch (err) {
    problem(host, `${k.key}: ${(err as Error).message}`);
  }
}

interface WebhookConfig {
  metadata?: { name?: string };
  webhooks?: Array<{ name?: string; clientConfig?: { caBundle?: string } }>;
}

/** A webhook whose caBundle is the old cluster CA breaks once the API server's certificate is re-issued. */
async function webhookWarnings(t: Transport, w: NonNullable<PreflightParams['webhooks']>): Promise<string[]> {
  const oldCas = parseCertificates(await t.readFile(w.oldCaFile)).map((c) => c.fingerprintSha256);
  const client = await kubeClientFromHost(t, w.kubeconfig ?? DEFAULT_KUBECONFIG, { server: w.server });
  const out: string[] = [];
  for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
    for (const cfg of await client.list<WebhookConfig>(`/apis/admissionregistration.k8s.io/v1/${kind}`)) {
      for (const hook of cfg.webhooks ?? []) {
        const bundle = hook.clientConfig?.caBundle;
        if (!bundle) continue;
        const fps = parseCertificates(Buffer.from(bundle, 'base64')).map((c) => c.fingerprintSha256);
        if (fps.some((f) => oldCas.includes(f))) {
          out.push(`${kind}/${cfg.metadata?.name ?? '?'} webhook ${hook.name ?? '?'}: caBundle is the old cluster CA; update it when its serving certificate is re-issued`);
        }
      }
    }
  }
  return out;
}

/** statfs of `path`, or of its nearest ancestor that exists (ENOENT only). */
async function statfsNearest(path: string): Promise<StatsFs> {
  for (let p = path; ; p = dirname(p)) {
    try {
      return await statfs(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
    }
  }
}
