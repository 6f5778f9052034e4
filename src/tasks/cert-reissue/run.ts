import { KcarunError } from '../../core/errors.js';
import type { CertificateAuthority } from '../../pki/ca.js';
import { type Certificate, isIssuedBy, parseCertificates } from '../../pki/certificate.js';
import { formatSubjectAltName } from '../../pki/extensions.js';
import { keyMatchesSpki, loadPrivateKey } from '../../pki/keys.js';
import { currentPairPath, expiredLegacyClientCertHint } from '../../pki/client-cert-hints.js';
import { issueFromProfile } from '../../pki/profiles.js';
import { type KeyPolicy, reissueLeafCertificate } from '../../pki/reissue.js';
import type { CertReissueParams, GenerateEntry } from './schema.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import { type CertificateLocation, kubeconfigClientLocation, pkiFileLocation, requireCertificate } from '../shared/cert-location.js';
import { type CertTarget, defaultKeyPath, hostArtifact, keyPem, oldCaArtifact, requireCa, resolveTargets } from '../shared/pki-common.js';
import { isSelfIssuedOutsideCluster } from '../../pki/checks.js';

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
  /** The kubeconfig holding (embedded: then `path` is the kubeconfig too) or naming this client certificate. */
  kubeconfig?: string;
  /** A file named by a kubeconfig that holds the certificate and its key together. */
  combined?: boolean;
}

export async function runCertReissue(ctx: TaskContext<CertReissueParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const policy = p.keyPolicy ?? 'reuse';
  const ca = await requireCa(ctx.state, p.ca);
  const host = ctx.host.name;
  const become = ctx.host.become;
  const issued: IssuedEntry[] = [];
  const skipped: string[] = [];
  /** Certificates the serving program made itself (skipSelfSigned), left out of the rotation. */
  const selfSigned: string[] = [];
  const generateFor = new Map((p.generate ?? []).map((g) => [g.cert, g]));
  const targets = resolveTargets(p);
  // The rotation's CAs (new, and the old one when prepare kept it): a certificate none of them issued
  // but that carries its own issuer is the server's own (skipSelfSigned).
  const clusterCas = p.skipSelfSigned ? [ca.certificate, ...parseCertificates((await ctx.state.readArtifact(oldCaArtifact(p.ca))) ?? '')] : [];
  for (const g of p.generate ?? []) {
    if (!targets.some((t) => t.cert === g.cert)) targets.push({ cert: g.cert, key: g.key ?? defaultKeyPath(g.cert), sans: [], optional: false });
  }
  // An empty list is fine (a layout without such certificates); no list at all is a mistake.
  if (p.paths === undefined && p.set === undefined && p.generate === undefined && p.kubeconfigs === undefined) {
    throw new KcarunError('E_SCHEMA', 'cert-reissue needs `paths`, `set`, `generate` or `kubeconfigs`', { host });
  }

  for (const target of targets) {
    const location = pkiFileLocation(ctx.transport, become, target);
    const found = await location.read();
    const gen = generateFor.get(target.cert);
    if (!found) {
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
    if (found.holdsKey) {
      throw new KcarunError(
        'E_PKI',
        `${host}: ${target.cert} holds a private key next to the certificate (like kubelet-client-current.pem): list the kubeconfig that names it under kubeconfigs instead, and install it with cert-install (an upload of the certificate alone would drop the key)`,
        { host, path: target.cert },
      );
    }
    // Certificates after the leaf (intermediates) are kept when the same CA signs again; see reissueLeafCertificate.
    const leaf = requireCertificate(host, location, found);
    const chain = found.chain;
    if (p.skipSelfSigned && isSelfIssuedOutsideCluster([leaf, ...chain], clusterCas)) {
      ctx.log.warn(`${target.cert} is self-signed ("${leaf.subjectText}", issued by "${leaf.issuerText}"): outside the rotation, not re-issued`);
      skipped.push(target.cert);
      selfSigned.push(target.cert);
      continue;
    }
    const reused = await reuseExisting(ctx, ca, target, leaf, policy);
    if (reused) {
      issued.push(reused);
      continue;
    }
    const result = await reissueLeafCertificate(leaf, ca, { keyPolicy: policy, backdateMinutes: p.backdateMinutes, validityDays: p.validityDays, chain });
    for (const w of result.warnings) ctx.log.warn(`${target.cert}: ${w}`);
    issued.push(await store(ctx, target, result.certificate, result.privateKey ? keyPem(result.privateKey) : undefined, 'reissued', result.chain));
  }
  const files: IssuedEntry[] = [];
  for (const kubeconfig of p.kubeconfigs ?? []) {
    const location = await kubeconfigClientLocation(ctx.transport, become, kubeconfig);
    if (location === null) {
      if (p.missing === 'skip') {
        skipped.push(kubeconfig);
        continue;
      }
      throw new KcarunError('E_PKI', `${host}: ${kubeconfig} does not exist (set missing: skip)`, { host, path: kubeconfig });
    }
    if (location === 'none') {
      skipped.push(kubeconfig); // token or exec credentials: nothing to re-issue
      continue;
    }
    if (location.kind === 'kubeconfig-embedded') {
      const leaf = requireCertificate(host, location, (await location.read())!, `${kubeconfig}: client-certificate-data holds no certificate`);
      const target: CertTarget = { cert: `${kubeconfig}.client.crt`, key: `${kubeconfig}.client.key`, sans: [], optional: false };
      issued.push({ ...(await reissueOne(ctx, ca, target, leaf, policy, kubeconfig)), path: kubeconfig, kubeconfig });
      continue;
    }
    files.push(await reissueReferencedFile(ctx, ca, location, policy));
  }
  const all = [...issued, ...files];
  const fresh = all.filter((i) => i.how !== 'reused').length;
  return {
    changed: fresh > 0,
    summary: `${fresh} re-issued, ${all.length - fresh} reused${skipped.length > selfSigned.length ? `, ${skipped.length - selfSigned.length} absent` : ''}${selfSigned.length ? `, ${selfSigned.length} self-signed (outside the rotation: ${selfSigned.join(', ')})` : ''} (${policy})`,
    // certificateFiles: client certificates a kubeconfig references by path, installed with cert-install
    // (not a kubeconfig edit); kept apart so loops over `certificates` stay as they were.
    output: {
      certificates: issued as unknown as Record<string, unknown>[],
      certificateFiles: files as unknown as Record<string, unknown>[],
      skipped,
      selfSigned,
      keyPolicy: policy,
    },
  };
}

/**
 * A repeated or resumed run keeps what it wrote: the artifact is reused when the new CA signed it,
 * it still has the host certificate's subject and SANs, and (rotate) its key is there and matches.
 */
async function reuseExisting(ctx: TaskContext<CertReissueParams>, ca: CertificateAuthority, target: CertTarget, leaf: Certificate, policy: KeyPolicy): Promise<IssuedEntry | null> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  const existingPem = await ctx.state.readArtifact(artifact);
  const existing = existingPem ? parseCertificates(existingPem)[0] : undefined;
  if (!existing || !isIssuedBy(existing, ca.certificate)) return null;
  // Renewing with the same CA, the artifact of an earlier renewal may be the very certificate the
  // host now holds: only one that outlives the host's counts as this renewal's.
  if (ctx.params.renew && existing.notAfter.getTime() <= leaf.notAfter.getTime()) return null;
  const sanList = (c: Certificate) => c.subjectAltNames.map(formatSubjectAltName).join(',');
  if (!existing.subjectDer.equals(leaf.subjectDer) || sanList(existing) !== sanList(leaf)) return null;
  // A resumed run asking for a validity reuses only a certificate made with it (within a day).
  const days = ctx.params.validityDays;
  if (days !== undefined && Math.abs(existing.notAfter.getTime() - existing.notBefore.getTime() - days * 86_400_000) > 86_400_000 + (ctx.params.backdateMinutes ?? 60) * 60_000) return null;
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

async function generateFromProfile(ctx: TaskContext<CertReissueParams>, ca: CertificateAuthority, target: CertTarget, gen: GenerateEntry): Promise<IssuedEntry> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  const keyArtifact = hostArtifact(ctx.host.name, target.key);
  const existingPem = await ctx.state.readArtifact(artifact);
  const existing = existingPem ? parseCertificates(existingPem)[0] : undefined;
  const keyData = await ctx.state.readArtifact(keyArtifact);
  if (existing && keyData && isIssuedBy(existing, ca.certificate) && keyMatchesSpki(loadPrivateKey(keyData, keyArtifact), existing.spkiDer)) {
    return entry(target, artifact, keyArtifact, existing, 'reused');
  }
  const { certificate, privateKey } = await issueFromProfile(
    gen.profile,
    { nodeName: gen.nodeName ?? ctx.host.name, advertiseAddress: gen.advertiseAddress ?? ctx.host.address, serviceIp: gen.serviceIp, dnsDomain: gen.dnsDomain, extraSans: gen.extraSans },
    ca,
    { validityDays: gen.validityDays, backdateMinutes: ctx.params.backdateMinutes },
  );
  return store(ctx, target, certificate, keyPem(privateKey), 'generated');
}

/** Key first, then the certificate: a certificate artifact never points at a key that is not there. */
async function store(ctx: TaskContext<CertReissueParams>, target: CertTarget, cert: Certificate, key: string | undefined, how: IssuedEntry['how'], chain: readonly Certificate[] = []): Promise<IssuedEntry> {
  const artifact = hostArtifact(ctx.host.name, target.cert);
  let keyArtifact: string | undefined;
  if (key !== undefined) {
    keyArtifact = hostArtifact(ctx.host.name, target.key);
    await ctx.state.writeArtifact(keyArtifact, key, { mode: 0o600 });
  }
  await ctx.state.writeArtifact(artifact, cert.pem + chain.map((c) => c.pem).join(''), { mode: 0o644 });
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

async function reissueOne(ctx: TaskContext<CertReissueParams>, ca: CertificateAuthority, target: CertTarget, leaf: Certificate, policy: KeyPolicy, what: string): Promise<IssuedEntry> {
  const reused = await reuseExisting(ctx, ca, target, leaf, policy);
  if (reused) return reused;
  const result = await reissueLeafCertificate(leaf, ca, { keyPolicy: policy, backdateMinutes: ctx.params.backdateMinutes, validityDays: ctx.params.validityDays });
  for (const w of result.warnings) ctx.log.warn(`${what}: ${w}`);
  return store(ctx, target, result.certificate, result.privateKey ? keyPem(result.privateKey) : undefined, 'reissued');
}

/**
 * A client certificate a kubeconfig names by path, possibly one file holding certificate and key
 * (kubelet-client-current.pem). Only the certificate goes into the artifact: with key policy reuse
 * the key never leaves the host, and cert-install puts the new certificate next to it there.
 */
async function reissueReferencedFile(ctx: TaskContext<CertReissueParams>, ca: CertificateAuthority, location: CertificateLocation, policy: KeyPolicy): Promise<IssuedEntry> {
  const host = ctx.host.name;
  const { path: certPath, kubeconfig } = location;
  const found = await location.read();
  if (!found) throw new KcarunError('E_PKI', `${host}: ${kubeconfig} names client-certificate ${certPath}, which does not exist`, { host, path: certPath });
  const combined = found.holdsKey;
  const leaf = requireCertificate(host, location, found, `${certPath} (client-certificate of ${kubeconfig}) holds no PEM certificate`);
  // A rotated key of a combined file gets an artifact of its own (<file>.key), never the cert's.
  const target: CertTarget = { cert: certPath, key: combined ? `${certPath}.key` : (location.keyPath ?? defaultKeyPath(certPath)), sans: [], optional: false };
  const currentPath = currentPairPath(certPath);
  if (currentPath && leaf.notAfter <= new Date()) {
    const current = await pkiFileLocation(ctx.transport, ctx.host.become, { cert: currentPath }).read();
    const currentCert = current?.certificate;
    const hint = expiredLegacyClientCertHint(kubeconfig!, certPath, leaf, currentCert ? { path: currentPath, certificate: currentCert } : null, new Date());
    if (hint) ctx.log.warn(`${host}: ${hint}; re-issuing it anyway, as asked`);
  }
  const done = await reissueOne(ctx, ca, target, leaf, policy, certPath);
  return { ...done, kubeconfig, combined, keyPath: combined ? certPath : target.key };
}

/**
 * In a dry run (scratch state) the certificates are re-issued for real there (from the CA the dry
 * run made), so the uploads planned later diff the real new certificates; each is shown by
 * subject, SANs, issuer and validity. Otherwise only what would be re-issued.
 */
export async function planCertReissue(ctx: TaskContext<CertReissueParams>): Promise<TaskPlan> {
  if (ctx.state.scratch) {
    const o = await runCertReissue(ctx);
    const issuer = (await requireCa(ctx.state, ctx.params.ca)).certificate.subjectText;
    const out = o.output as { certificates: IssuedEntry[]; certificateFiles: IssuedEntry[] };
    const lines = [...out.certificates, ...out.certificateFiles].map(
      (c) => `${c.path}: ${c.how === 'reused' ? 'reused' : 'new'} certificate, subject ${c.subject}${c.sans.length ? `, SANs ${c.sans.join(', ')}` : ''}, issuer ${issuer}, until ${c.notAfter}${c.keyArtifact ? ', new key' : ''}`,
    );
    return { changed: o.changed, summary: `would re-issue into the state dir: ${o.summary}`, diff: lines.join('\n') || undefined, output: o.output };
  }
  const targets = resolveTargets(ctx.params);
  const lines: string[] = [];
  for (const t of targets) {
    const exists = (await ctx.transport.stat(t.cert, { become: ctx.host.become })) !== null;
    if (exists) lines.push(`${t.cert} -> ${hostArtifact(ctx.host.name, t.cert)}`);
    else if (!t.optional) lines.push(`${t.cert}: missing (would fail)`);
  }
  for (const k of ctx.params.kubeconfigs ?? []) lines.push(`${k}: its client certificate (embedded, or the file it names) -> hosts/${ctx.host.name}/...`);
  for (const g of ctx.params.generate ?? []) lines.push(`${g.cert}: would be generated from profile ${g.profile} if absent`);
  return { changed: lines.length > 0, summary: `would re-issue (${ctx.params.keyPolicy ?? 'reuse'}) from CA ${ctx.params.ca}: ${lines.join('; ') || 'nothing'}` };
}
