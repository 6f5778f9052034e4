import { parse as parseYaml } from 'yaml';
import { KcarunError } from '../../../errors.js';
import type { CertificateAuthority } from '../../../pki/ca.js';
import { type Certificate, isIssuedBy, parseCertificates } from '../../../pki/certificate.js';
import { formatSubjectAltName } from '../../../pki/extensions.js';
import { keyMatchesSpki, loadPrivateKey } from '../../../pki/keys.js';
import { containsPrivateKey } from '../../../pki/pem.js';
import { issueFromProfile, type ProfileName } from '../../../pki/profiles.js';
import { type KeyPolicy, reissueLeafCertificate } from '../../../pki/reissue.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../../define.js';
import type { CertPath } from '../schemas.js';
import { type CertTarget, defaultKeyPath, hostArtifact, keyPem, requireCa, resolveTargets } from './common.js';

interface GenerateEntry {
  cert: string;
  key?: string;
  profile: string;
  nodeName?: string;
  advertiseAddress?: string;
  serviceIp?: string;
  dnsDomain?: string;
  extraSans?: string[];
  validityDays?: number;
}

interface Params {
  ca: string;
  paths?: CertPath[];
  set?: string;
  pkiDir?: string;
  missing?: 'error' | 'skip';
  keyPolicy?: KeyPolicy;
  generate?: GenerateEntry[];
  backdateMinutes?: number;
  kubeconfigs?: string[];
  renew?: boolean;
}

/** One written (or reused) certificate, as registered output: artifact paths only, never key bytes. */
interface IssuedEntry {
  path: string;
  artifact: string;
  keyPath?: string;
  keyArtifact?: string;
  subject: string;
  sans: string[];
  notAfter: string;
  how: 'reissued' | 'generated' | 'reused';
  /** Set for a client certificate embedded in this kubeconfig (then `path` is the kubeconfig too). */
  kubeconfig?: string;
}

export async function runCertReissue(ctx: TaskContext<Params>): Promise<TaskOutcome> {
  const p = ctx.params;
  const policy = p.keyPolicy ?? 'reuse';
  const ca = await requireCa(ctx.state, p.ca);
  const host = ctx.host.name;
  const become = ctx.host.become;
  const issued: IssuedEntry[] = [];
  const skipped: string[] = [];
  const generateFor = new Map((p.generate ?? []).map((g) => [g.cert, g]));
  const targets = resolveTargets(p);
  for (const g of p.generate ?? []) {
    if (!targets.some((t) => t.cert === g.cert)) targets.push({ cert: g.cert, key: g.key ?? defaultKeyPath(g.cert), sans: [], optional: false });
  }
  // An empty list is fine (a layout without such certificates); no list at all is a mistake.
  if (p.paths === undefined && p.set === undefined && p.generate === undefined && p.kubeconfigs === undefined) {
    throw new KcarunError('E_SCHEMA', 'cert-reissue needs `paths`, `set`, `generate` or `kubeconfigs`', { host });
  }

  for (const target of targets) {
    const stat = await ctx.transport.stat(target.cert, { become });
    const gen = generateFor.get(target.cert);
    if (!stat) {
      if (gen) {
        issued.push(await generateFromProfile(ctx, ca, target, gen));
        continue;
      }
      if (target.optional) {
        skipped.push(target.cert);
        continue;
      }
      throw new KcarunError('E_PKI', `${host}: ${target.cert} does not exist (set missing: skip, or add it to generate)`, { host, path: target.cert });
    }
    const content = await ctx.transport.readFile(target.cert, { become });
    if (containsPrivateKey(content.toString('latin1'))) {
      throw new KcarunError(
        'E_PKI',
        `${host}: ${target.cert} holds a private key next to the certificate (like kubelet-client-current.pem); such files are not re-issued — let the kubelet renew it, or split cert and key`,
        { host, path: target.cert },
      );
    }
    const leaf = parseCertificates(content)[0];
    if (!leaf) throw new KcarunError('E_PKI', `${host}: ${target.cert} holds no PEM certificate`, { host, path: target.cert });
    const reused = await reuseExisting(ctx, ca, target, leaf, policy);
    if (reused) {
      issued.push(reused);
      continue;
    }
    const result = await reissueLeafCertificate(leaf, ca, { keyPolicy: policy, backdateMinutes: p.backdateMinutes });
    for (const w of result.warnings) ctx.log.warn(`${target.cert}: ${w}`);
    issued.push(await store(ctx, target, result.certificate, result.privateKey ? keyPem(result.privateKey) : undefined, 'reissued'));
  }
  for (const kubeconfig of p.kubeconfigs ?? []) {
    const stat = await ctx.transport.stat(kubeconfig, { become });
    if (!stat) {
      if (p.missing === 'skip') {
        skipped.push(kubeconfig);
        continue;
      }
      throw new KcarunError('E_PKI', `${host}: ${kubeconfig} does not exist (set missing: skip)`, { host, path: kubeconfig });
    }
    const leaf = embeddedClientCertificate((await ctx.transport.readFile(kubeconfig, { become })).toString('utf8'), kubeconfig, host);
    if (!leaf) {
      // A kubeconfig that references its certificate by path: that file is re-issued through `paths`.
      skipped.push(kubeconfig);
      continue;
    }
    const target: CertTarget = { cert: `${kubeconfig}.client.crt`, key: `${kubeconfig}.client.key`, sans: [], optional: false };
    let done = await reuseExisting(ctx, ca, target, leaf, policy);
    if (!done) {
      const result = await reissueLeafCertificate(leaf, ca, { keyPolicy: policy, backdateMinutes: p.backdateMinutes });
      for (const w of result.warnings) ctx.log.warn(`${kubeconfig}: ${w}`);
      done = await store(ctx, target, result.certificate, result.privateKey ? keyPem(result.privateKey) : undefined, 'reissued');
    }
    issued.push({ ...done, path: kubeconfig, kubeconfig });
  }
  const fresh = issued.filter((i) => i.how !== 'reused').length;
  return {
    changed: fresh > 0,
    summary: `${fresh} re-issued, ${issued.length - fresh} reused${skipped.length ? `, ${skipped.length} absent` : ''} (${policy})`,
    output: { certificates: issued as unknown as Record<string, unknown>[], skipped, keyPolicy: policy },
  };
}

/**
 * A repeated or resumed run keeps what it wrote: the artifact is reused when the new CA signed it,
 * it still has the host certificate's subject and SANs, and (rotate) its key is there and matches.
 */
async function reuseExisting(ctx: TaskContext<Params>, ca: CertificateAuthority, target: CertTarget, leaf: Certificate, policy: KeyPolicy): Promise<IssuedEntry | null> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  const existingPem = await ctx.state.readArtifact(artifact);
  const existing = existingPem ? parseCertificates(existingPem)[0] : undefined;
  if (!existing || !isIssuedBy(existing, ca.certificate)) return null;
  // Renewing with the same CA, the artifact of an earlier renewal may be the very certificate the
  // host now holds: only one that outlives the host's counts as this renewal's.
  if (ctx.params.renew && existing.notAfter.getTime() <= leaf.notAfter.getTime()) return null;
  const sanList = (c: Certificate) => c.subjectAltNames.map(formatSubjectAltName).join(',');
  if (!existing.subjectDer.equals(leaf.subjectDer) || sanList(existing) !== sanList(leaf)) return null;
  let keyArtifact: string | undefined;
  if (policy === 'rotate') {
    keyArtifact = hostArtifact(ctx.host.name, target.key);
    const keyData = await ctx.state.readArtifact(keyArtifact);
    if (!keyData || !keyMatchesSpki(loadPrivateKey(keyData, keyArtifact), existing.spkiDer)) return null;
  } else if (!existing.spkiDer.equals(leaf.spkiDer)) {
    return null; // reuse must keep the host's key
  }
  return entry(target, artifact, keyArtifact, existing, 'reused');
}

async function generateFromProfile(ctx: TaskContext<Params>, ca: CertificateAuthority, target: CertTarget, gen: GenerateEntry): Promise<IssuedEntry> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  const keyArtifact = hostArtifact(ctx.host.name, target.key);
  const existingPem = await ctx.state.readArtifact(artifact);
  const existing = existingPem ? parseCertificates(existingPem)[0] : undefined;
  const keyData = await ctx.state.readArtifact(keyArtifact);
  if (existing && keyData && isIssuedBy(existing, ca.certificate) && keyMatchesSpki(loadPrivateKey(keyData, keyArtifact), existing.spkiDer)) {
    return entry(target, artifact, keyArtifact, existing, 'reused');
  }
  const { certificate, privateKey } = await issueFromProfile(
    gen.profile as ProfileName,
    { nodeName: gen.nodeName ?? ctx.host.name, advertiseAddress: gen.advertiseAddress ?? ctx.host.address, serviceIp: gen.serviceIp, dnsDomain: gen.dnsDomain, extraSans: gen.extraSans },
    ca,
    { validityDays: gen.validityDays, backdateMinutes: ctx.params.backdateMinutes },
  );
  return store(ctx, target, certificate, keyPem(privateKey), 'generated');
}

/** Key first, then the certificate: a certificate artifact never points at a key that is not there. */
async function store(ctx: TaskContext<Params>, target: CertTarget, cert: Certificate, key: string | undefined, how: IssuedEntry['how']): Promise<IssuedEntry> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  let keyArtifact: string | undefined;
  if (key !== undefined) {
    keyArtifact = hostArtifact(ctx.host.name, target.key);
    await ctx.state.writeArtifact(keyArtifact, key, { mode: 0o600 });
  }
  await ctx.state.writeArtifact(artifact, cert.pem, { mode: 0o644 });
  return entry(target, artifact, keyArtifact, cert, how);
}

function entry(target: CertTarget, artifact: string, keyArtifact: string | undefined, cert: Certificate, how: IssuedEntry['how']): IssuedEntry {
  return {
    path: target.cert,
    artifact,
    ...(keyArtifact ? { keyPath: target.key, keyArtifact } : {}),
    subject: cert.subjectText,
    sans: cert.subjectAltNames.map(formatSubjectAltName),
    notAfter: cert.notAfter.toISOString(),
    how,
  };
}

/**
 * The client certificate a kubeconfig embeds (its only user's `client-certificate-data`), or null
 * when it references a file instead. Several embedded users are refused: which one to re-issue
 * into which artifact would be a guess.
 */
function embeddedClientCertificate(text: string, path: string, host: string): Certificate | null {
  let doc: { users?: { name?: string; user?: Record<string, unknown> }[] };
  try {
    doc = parseYaml(text) as typeof doc;
  } catch (err) {
    throw new KcarunError('E_PKI', `${host}: ${path} is not a valid kubeconfig: ${(err as Error).message}`, { host, path }, { cause: err });
  }
  const embedded = (doc?.users ?? []).filter((u) => typeof u.user?.['client-certificate-data'] === 'string');
  if (embedded.length === 0) return null;
  if (embedded.length > 1) throw new KcarunError('E_PKI', `${host}: ${path} embeds ${embedded.length} client certificates; list it under paths after splitting them`, { host, path });
  const pem = Buffer.from(String(embedded[0]!.user!['client-certificate-data']), 'base64');
  const leaf = parseCertificates(pem)[0];
  if (!leaf) throw new KcarunError('E_PKI', `${host}: ${path}: client-certificate-data holds no certificate`, { host, path });
  return leaf;
}

export async function planCertReissue(ctx: TaskContext<Params>): Promise<TaskPlan> {
  const targets = resolveTargets(ctx.params);
  const lines: string[] = [];
  for (const t of targets) {
    const exists = (await ctx.transport.stat(t.cert, { become: ctx.host.become })) !== null;
    if (exists) lines.push(`${t.cert} -> ${hostArtifact(ctx.host.name, t.cert)}`);
    else if (!t.optional) lines.push(`${t.cert}: missing (would fail)`);
  }
  for (const k of ctx.params.kubeconfigs ?? []) lines.push(`${k}: embedded client certificate -> ${hostArtifact(ctx.host.name, `${k}.client.crt`)}`);
  for (const g of ctx.params.generate ?? []) lines.push(`${g.cert}: would be generated from profile ${g.profile} if absent`);
  return { changed: lines.length > 0, summary: `would re-issue (${ctx.params.keyPolicy ?? 'reuse'}) from CA ${ctx.params.ca}: ${lines.join('; ') || 'nothing'}` };
}
