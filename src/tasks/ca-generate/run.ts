import { KcarunError } from '../../core/errors.js';
import { createCa } from '../../pki/ca.js';
import { checkCa } from '../../pki/checks.js';
import type { Certificate } from '../../pki/certificate.js';
import { discoveryTokenCaCertHash, isIntermediateCa } from '../../pki/issuer.js';
import type { KeySpec } from '../../pki/keys.js';
import type { CaGenerateParams } from './schema.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import { checkReusedCa, rememberMadeCa } from '../shared/ca-reuse.js';
import { caCertArtifact, caKeyArtifact, oldCaArtifact, caPassphrase, describeSource, keyPem, loadCa, readSourceCertificates } from '../shared/pki-common.js';

function keySpecOf(p: CaGenerateParams): KeySpec | undefined {
  if (p.keyType === 'ecdsa') return { type: 'ecdsa', curve: 'P-256' };
  if (p.keyType === 'rsa' || p.keySize !== undefined) return { type: 'rsa', bits: p.keySize ?? 2048 };
  return undefined;
}

/**
 * One generation at a time per CA file: should a playbook run ca-generate for several hosts at
 * once, the later calls wait and then reuse the CA the first one stored, instead of racing it.
 */
const inFlight = new Map<string, Promise<unknown>>();

export async function runCaGenerate(ctx: TaskContext<CaGenerateParams>): Promise<TaskOutcome> {
  const key = ctx.state.artifactPath(caCertArtifact(ctx.params.name));
  const previous = inFlight.get(key) ?? Promise.resolve();
  const mine = previous.catch(() => {}).then(() => generateOrReuse(ctx));
  inFlight.set(key, mine);
  try {
    return await mine;
  } finally {
    if (inFlight.get(key) === mine) inFlight.delete(key);
  }
}

async function generateOrReuse(ctx: TaskContext<CaGenerateParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const existing = await loadCa(ctx.state, p.name);
  if (existing) {
    const c = existing.certificate;
    await checkReusedCa(ctx.state, p.name, c, { commonName: p.commonName, keySpec: keySpecOf(p) });
    let old: Certificate[] = [];
    if (p.oldCa) {
      // Expected when resuming after the switch; a mistake when a finished rotation's state dir is reused for the next one.
      old = await readSourceCertificates(ctx, p.oldCa).catch(() => []);
      if (old.some((o) => o.fingerprintSha256 === c.fingerprintSha256)) {
        ctx.log.warn(`CA ${p.name} in the state dir is already the CA in use (${describeSource(p.oldCa, ctx.host.name)}); for a new rotation use a fresh state dir`);
        old = [];
      }
    }
    warnJoinHash(ctx, c, old[0]);
    return { changed: false, summary: `reusing CA ${p.name} (${c.subjectText})${hashSummary(c, old[0])}`, output: outputOf(ctx, p.name, c, true, old[0]) };
  }
  const oldCas = p.oldCa ? await readSourceCertificates(ctx, p.oldCa) : [];
  // The old CA is the first certificate of its file (a bundle may follow it).
  const oldCa = oldCas[0];
  if (oldCa) {
    for (const problem of checkCa(oldCa, new Date())) ctx.log.warn(`old CA: ${problem.message}`);
    if (isIntermediateCa(oldCa) && p.fromIntermediate === 'self-signed-root') {
      ctx.log.warn(`old CA "${oldCa.subjectText}" is an intermediate (issued by "${oldCa.issuerText}"); as fromIntermediate asks, the new CA is a self-signed root`);
    }
  }
  const keySpec = keySpecOf(p);
  const ca = await createCa({
    ...(oldCa ? { oldCa } : {}),
    ...(p.commonName ? { commonName: p.commonName } : {}),
    ...(keySpec ? { keySpec } : {}),
    validityDays: p.validityDays,
    backdateMinutes: p.backdateMinutes,
    ...(p.fromIntermediate ? { fromIntermediate: p.fromIntermediate } : {}),
  });
  if (oldCas.some((c) => c.subjectDer.equals(ca.certificate.subjectDer))) {
    throw new KcarunError('E_PKI', `the new CA's subject "${ca.certificate.subjectText}" equals an old CA's: choose another commonName`, { host: ctx.host.name });
  }
  // The CA this one replaces, kept as first read: later steps (kubeconfig-ca's oldCa) recognise
  // what trusts it even after its file on the hosts holds the new CA.
  if (oldCa && !(await ctx.state.readArtifact(oldCaArtifact(p.name)))) await ctx.state.writeArtifact(oldCaArtifact(p.name), oldCa.pem, { mode: 0o644 });
  // Key first, certificate last: the certificate's presence marks a complete CA (see loadCa).
  await ctx.state.writeArtifact(caKeyArtifact(p.name), keyPem(ca.privateKey, caPassphrase(ctx.state)), { mode: 0o600 });
  await ctx.state.writeArtifact(caCertArtifact(p.name), ca.certificate.pem, { mode: 0o644 });
  rememberMadeCa(p.name, ca.certificate.fingerprintSha256);
  ctx.log.info(`new CA ${p.name}: ${ca.certificate.subjectText}, ${ca.certificate.keyDescription}, until ${ca.certificate.notAfter.toISOString()}`);
  warnJoinHash(ctx, ca.certificate, oldCa);
  return {
    changed: true,
    summary: `new CA ${p.name} (${ca.certificate.subjectText})${hashSummary(ca.certificate, oldCa)}`,
    output: outputOf(ctx, p.name, ca.certificate, false, oldCa),
  };
}

/** The kubeadm join hashes in the summary, so that the run's output and report carry them. */
function hashSummary(c: Certificate, old: Certificate | undefined): string {
  return `; kubeadm discovery-token-ca-cert-hash ${discoveryTokenCaCertHash(c)}${old ? ` (old CA: ${discoveryTokenCaCertHash(old)})` : ''}`;
}

/**
 * kubeadm join checks its pinned hash against the CAs of cluster-info: old-hash joins work while
 * the bundle holds both CAs, and stop when finalize leaves the new CA alone.
 */
function warnJoinHash(ctx: TaskContext<CaGenerateParams>, c: Certificate, old: Certificate | undefined): void {
  if (!old || discoveryTokenCaCertHash(old) === discoveryTokenCaCertHash(c)) return;
  ctx.log.warn(
    `kubeadm join commands that pin this CA (--discovery-token-ca-cert-hash ${discoveryTokenCaCertHash(old)}, the old CA) stop working after finalize; use ${discoveryTokenCaCertHash(c)} (the new CA ${ctx.params.name})`,
  );
}

function outputOf(ctx: TaskContext<CaGenerateParams>, name: string, c: Certificate, reused: boolean, old: Certificate | undefined) {
  return {
    cert: caCertArtifact(name),
    key: caKeyArtifact(name),
    certPath: ctx.state.artifactPath(caCertArtifact(name)),
    subject: c.subjectText,
    notAfter: c.notAfter.toISOString(),
    fingerprintSha256: c.fingerprintSha256,
    keyAlgorithm: c.keyDescription,
    /** `sha256:<hex>` for `kubeadm join --discovery-token-ca-cert-hash`. */
    caCertHash: discoveryTokenCaCertHash(c),
    oldCaCertHash: old ? discoveryTokenCaCertHash(old) : null,
    reused,
  };
}

/**
 * In a dry run (scratch state) the CA is made for real there, so the bundles, re-issued
 * certificates and uploads planned after it are the real predicted bytes. Otherwise (the task
 * called on a real state dir) it only says what it would do: a plan never writes a real state dir.
 */
export async function planCaGenerate(ctx: TaskContext<CaGenerateParams>): Promise<TaskPlan> {
  if (ctx.state.scratch) {
    const o = await runCaGenerate(ctx);
    const out = o.output as { subject: string; keyAlgorithm: string; notAfter: string };
    return {
      changed: o.changed,
      summary: o.changed ? `would create CA ${ctx.params.name}: ${out.subject}, ${out.keyAlgorithm}, until ${out.notAfter}` : `would reuse CA ${ctx.params.name} (${out.subject})`,
      output: o.output,
    };
  }
  const existing = await loadCa(ctx.state, ctx.params.name);
  if (existing) return { changed: false, summary: `would reuse CA ${ctx.params.name} (${existing.certificate.subjectText})` };
  return { changed: true, summary: `would create CA ${ctx.params.name} in ${ctx.state.artifactPath(caCertArtifact(ctx.params.name))}` };
}
