import { KcarunError, KcarunErrorList } from '../../core/errors.js';
import { type Certificate, daysLeft } from '../../pki/certificate.js';
import { checkCa, checkCertificate, checkClockSkew, isSelfIssuedOutsideCluster, type Problem, verifyChain } from '../../pki/checks.js';
import { currentPairPath, expiredLegacyClientCertHint } from '../../pki/client-cert-hints.js';
import type { CertCheckParams } from './schema.js';
import { keyMatchesSpki, loadPrivateKey } from '../../pki/keys.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import { type CertificateLocation, kubeconfigClientLocation, pkiFileLocation } from '../shared/cert-location.js';
import { publicKeyOnHost } from '../shared/key-on-host.js';
import { type CertTarget, describeSource, readSourceCertificates, resolveTargets } from '../shared/pki-common.js';

interface Finding {
  path: string;
  problem: Problem;
}

export async function runCertCheck(ctx: TaskContext<CertCheckParams>): Promise<TaskOutcome> {
  const { findings, checked } = await collect(ctx);
  if (findings.length > 0) {
    const host = ctx.host.name;
    throw new KcarunErrorList(
      'E_PKI',
      `${host}: ${findings.length} certificate problem${findings.length > 1 ? 's' : ''}`,
      findings.map((f) => new KcarunError('E_PKI', `${host}: ${f.path}: ${f.problem.message}`, { host, path: f.path, kind: f.problem.kind })),
    );
  }
  return { changed: false, summary: `${checked.length} certificate${checked.length === 1 ? '' : 's'} OK`, output: { checked } };
}

/**
 * A check only reads, so a dry run performs it, and fails as the run would. In a dry run the files
 * are read as the dry run predicts them (a post-check checks the certificates the switch would
 * install, against the new CA it made). Called on a real state dir without the bundle artifact, it
 * only says what it would check.
 */
export async function planCertCheck(ctx: TaskContext<CertCheckParams>): Promise<TaskPlan> {
  if (ctx.state.scratch) {
    const o = await runCertCheck(ctx);
    return { changed: false, summary: o.summary ?? '', output: o.output };
  }
  if (ctx.params.bundle && 'artifact' in ctx.params.bundle && !(await ctx.state.readArtifact(ctx.params.bundle.artifact))) {
    return { changed: false, summary: `would check ${resolveTargets(ctx.params).length} certificate(s) against ${ctx.params.bundle.artifact} (not built yet)` };
  }
  const { findings, checked } = await collect(ctx);
  const problems = findings.map((f) => `${f.path}: ${f.problem.message}`);
  return { changed: false, summary: problems.length ? `would FAIL: ${problems.join('; ')}` : `${checked.length} certificate(s) OK` };
}

async function collect(ctx: TaskContext<CertCheckParams>): Promise<{ findings: Finding[]; checked: Record<string, unknown>[] }> {
  const p = ctx.params;
  const host = ctx.host.name;
  const become = ctx.host.become;
  const now = new Date();
  const findings: Finding[] = [];
  const checked: Record<string, unknown>[] = [];

  if (p.maxClockSkewSeconds !== undefined) {
    const res = await ctx.transport.exec('date +%s', { become: false });
    const hostNow = new Date(Number(res.stdout.trim()) * 1000);
    if (res.rc !== 0 || Number.isNaN(hostNow.getTime())) findings.push({ path: '(clock)', problem: { kind: 'clock-skew', message: 'cannot read the clock (date +%s failed)' } });
    else for (const problem of checkClockSkew(hostNow, new Date(), p.maxClockSkewSeconds)) findings.push({ path: '(clock)', problem });
  }

  let bundle: Certificate[] | undefined;
  if (p.bundle) {
    bundle = await readSourceCertificates(ctx, p.bundle);
    const label = describeSource(p.bundle, host);
    for (const ca of bundle) for (const problem of checkCa(ca, now)) findings.push({ path: label, problem });
  }

  const clusterCas = p.skipSelfSigned ? [...(bundle ?? []), ...(p.otherCas ? await readSourceCertificates(ctx, p.otherCas) : [])] : [];
  const targets: CheckTarget[] = resolveTargets(p).map((t) => ({ ...t, location: pkiFileLocation(ctx.transport, become, t) }));
  targets.push(...(await kubeconfigTargets(ctx, findings)));
  if (targets.length === 0 && !p.bundle && p.maxClockSkewSeconds === undefined && p.kubeconfigs === undefined) {
    throw new KcarunError('E_SCHEMA', 'cert-check needs `paths`, `set`, `kubeconfigs`, `bundle` or `maxClockSkewSeconds`', { host });
  }
  for (const t of targets) {
    const found = await t.location.read();
    if (!found) {
      if (!t.optional) findings.push({ path: t.cert, problem: { kind: 'untrusted', message: 'does not exist' } });
      continue;
    }
    if (found.malformed) {
      findings.push({ path: t.cert, problem: { kind: 'untrusted', message: found.malformed.message } });
      continue;
    }
    const cert = found.certificate;
    if (!cert) {
      findings.push({ path: t.cert, problem: { kind: 'untrusted', message: 'holds no PEM certificate' } });
      continue;
    }
    if (p.skipSelfSigned && isSelfIssuedOutsideCluster([cert, ...found.chain], clusterCas)) {
      ctx.log.info(`${t.cert} is self-signed ("${cert.subjectText}", issued by "${cert.issuerText}"): outside the rotation`);
      checked.push({ path: t.cert, subject: cert.subjectText, issuer: cert.issuerText, notAfter: cert.notAfter.toISOString(), daysLeft: daysLeft(cert, now), chainsTo: null, selfSigned: true, ok: true });
      continue;
    }
    const problems = checkCertificate(cert, { now, bundle, minDaysLeft: p.minDaysLeft, requiredSans: t.sans });
    if (p.keyMatch && t.location.kind === 'pki-file') problems.push(...(await checkKeyOnHost(ctx, t, cert)));
    // A file a kubeconfig names (not its embedded data): say which kubeconfig, so that the report leads to the one to fix.
    const kubeconfig = t.location.kind === 'pki-file' ? t.location.kubeconfig : undefined;
    if (kubeconfig) {
      const hint = await legacyHint(ctx, kubeconfig, t.cert, cert, now);
      if (hint) problems.push({ kind: 'expired', message: hint });
    }
    const of = kubeconfig ? `(client certificate of ${kubeconfig}) ` : '';
    for (const problem of problems) findings.push({ path: t.cert, problem: { ...problem, message: `${of}${problem.message}` } });
    const chain = bundle ? verifyChain(cert, bundle) : undefined;
    checked.push({
      path: t.cert,
      subject: cert.subjectText,
      issuer: cert.issuerText,
      notAfter: cert.notAfter.toISOString(),
      daysLeft: daysLeft(cert, now),
      chainsTo: chain?.trusted ? (chain.chain.at(-1)?.subjectText ?? null) : null,
      ok: problems.length === 0,
    });
  }
  return { findings, checked };
}

/** A certificate to check, and where it lives: a file on the host, or a kubeconfig's embedded data. */
type CheckTarget = CertTarget & { location: CertificateLocation };

/** An expired legacy client certificate whose `*-current.pem` pair beside it is valid: say so. */
async function legacyHint(ctx: TaskContext<CertCheckParams>, kubeconfig: string, certPath: string, cert: Certificate, now: Date): Promise<string | null> {
  const currentPath = currentPairPath(certPath);
  if (!currentPath || cert.notAfter > now) return null;
  const found = await pkiFileLocation(ctx.transport, ctx.host.become, { cert: currentPath }).read();
  if (found?.malformed) return null; // unreadable: the plain expiry finding stands alone
  const current = found?.certificate;
  return expiredLegacyClientCertHint(kubeconfig, certPath, cert, current ? { path: currentPath, certificate: current } : null, now);
}

/**
 * The client certificates of `kubeconfigs`, found the way the kubelet finds its own: embedded data,
 * or the file `client-certificate` names (kubelet-client-current.pem holds its key too).
 */
async function kubeconfigTargets(ctx: TaskContext<CertCheckParams>, findings: Finding[]): Promise<CheckTarget[]> {
  const out: CheckTarget[] = [];
  for (const kubeconfig of ctx.params.kubeconfigs ?? []) {
    let location;
    try {
      location = await kubeconfigClientLocation(ctx.transport, ctx.host.become, kubeconfig);
    } catch (err) {
      // A broken kubeconfig is a finding; a host that cannot be read is the step's failure.
      if (!(err instanceof KcarunError && err.code === 'E_PKI')) throw err;
      findings.push({ path: kubeconfig, problem: { kind: 'untrusted', message: (err as Error).message } });
      continue;
    }
    if (location === null) {
      if (ctx.params.missing !== 'skip') findings.push({ path: kubeconfig, problem: { kind: 'untrusted', message: 'does not exist' } });
      continue;
    }
    if (location === 'none') continue;
    out.push({ cert: location.label, key: location.keyPath ?? location.path, sans: [], optional: false, location });
  }
  return out;
}

/**
 * Compares the key's public half with the certificate on the host itself (`openssl pkey -pubout`),
 * so the private key is never read off the host.
 */
async function checkKeyOnHost(ctx: TaskContext<CertCheckParams>, t: CertTarget, cert: Certificate): Promise<Problem[]> {
  // A dry run: a key a planned step would write (from the state dir) is compared here, as predicted.
  const planned = ctx.transport.predicted?.(t.key);
  if (planned) {
    const block = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----/.exec(planned.toString('latin1'))?.[0];
    const matches = block !== undefined && keyMatchesSpki(loadPrivateKey(block, t.key), cert.spkiDer);
    return matches ? [] : [{ kind: 'key-mismatch', message: `does not match its key ${t.key} (as this run would write it)` }];
  }
  const pub = await publicKeyOnHost(ctx.transport, t.key, { become: ctx.host.become });
  if (!('spki' in pub)) {
    const reason = pub.reason === 'no-openssl' ? 'openssl is not installed on the host' : `${t.key} is missing or not a key`;
    return [{ kind: 'key-mismatch', message: `cannot compare with ${t.key}: ${reason}` }];
  }
  if (!pub.spki.equals(cert.spkiDer)) return [{ kind: 'key-mismatch', message: `does not match its key ${t.key}` }];
  return [];
}
