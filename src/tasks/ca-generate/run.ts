import { KcarunError } from '../../core/errors.js';
import { createCa } from '../../pki/ca.js';
import { checkCa } from '../../pki/checks.js';
import type { KeySpec } from '../../pki/keys.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import type { CertSource } from '../shared/pki-schemas.js';
import { caCertArtifact, caKeyArtifact, caPassphrase, describeSource, keyPem, loadCa, readSourceCertificates } from '../shared/pki-common.js';

interface Params {
  name: string;
  oldCa?: CertSource;
  commonName?: string;
  keyType?: 'rsa' | 'ecdsa';
  keySize?: 2048 | 3072 | 4096;
  validityDays?: number;
  backdateMinutes?: number;
}

function keySpecOf(p: Params): KeySpec | undefined {
  if (p.keyType === 'ecdsa') return { type: 'ecdsa', curve: 'P-256' };
  if (p.keyType === 'rsa' || p.keySize !== undefined) return { type: 'rsa', bits: p.keySize ?? 2048 };
  return undefined;
}

/**
 * One generation at a time per CA file: should a playbook run ca-generate for several hosts at
 * once, the later calls wait and then reuse the CA the first one stored, instead of racing it.
 */
const inFlight = new Map<string, Promise<unknown>>();

export async function runCaGenerate(ctx: TaskContext<Params>): Promise<TaskOutcome> {
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

async function generateOrReuse(ctx: TaskContext<Params>): Promise<TaskOutcome> {
  const p = ctx.params;
  const existing = await loadCa(ctx.state, p.name);
  if (existing) {
    const c = existing.certificate;
    if (p.oldCa) {
      // Expected when resuming after the switch; a mistake when a finished rotation's state dir is reused for the next one.
      const old = await readSourceCertificates(ctx, p.oldCa).catch(() => []);
      if (old.some((o) => o.fingerprintSha256 === c.fingerprintSha256)) {
        ctx.log.warn(`CA ${p.name} in the state dir is already the CA in use (${describeSource(p.oldCa, ctx.host.name)}); for a new rotation use a fresh state dir`);
      }
    }
    return { changed: false, summary: `reusing CA ${p.name} (${c.subjectText})`, output: outputOf(ctx, p.name, c, true) };
  }
  const oldCas = p.oldCa ? await readSourceCertificates(ctx, p.oldCa) : [];
  // The old CA is the first certificate of its file (a bundle may follow it).
  const oldCa = oldCas[0];
  if (oldCa) {
    for (const problem of checkCa(oldCa, new Date())) ctx.log.warn(`old CA: ${problem.message}`);
  }
  const keySpec = keySpecOf(p);
  const ca = await createCa({
    ...(oldCa ? { oldCa } : {}),
    ...(p.commonName ? { commonName: p.commonName } : {}),
    ...(keySpec ? { keySpec } : {}),
    validityDays: p.validityDays,
    backdateMinutes: p.backdateMinutes,
  });
  if (oldCas.some((c) => c.subjectDer.equals(ca.certificate.subjectDer))) {
    throw new KcarunError('E_PKI', `the new CA's subject "${ca.certificate.subjectText}" equals an old CA's: choose another commonName`, { host: ctx.host.name });
  }
  // Key first, certificate last: the certificate's presence marks a complete CA (see loadCa).
  await ctx.state.writeArtifact(caKeyArtifact(p.name), keyPem(ca.privateKey, caPassphrase(ctx.state)), { mode: 0o600 });
  await ctx.state.writeArtifact(caCertArtifact(p.name), ca.certificate.pem, { mode: 0o644 });
  ctx.log.info(`new CA ${p.name}: ${ca.certificate.subjectText}, ${ca.certificate.keyDescription}, until ${ca.certificate.notAfter.toISOString()}`);
  return { changed: true, summary: `new CA ${p.name} (${ca.certificate.subjectText})`, output: outputOf(ctx, p.name, ca.certificate, false) };
}

function outputOf(ctx: TaskContext<Params>, name: string, c: { subjectText: string; notAfter: Date; fingerprintSha256: string; keyDescription: string }, reused: boolean) {
  return {
    cert: caCertArtifact(name),
    key: caKeyArtifact(name),
    certPath: ctx.state.artifactPath(caCertArtifact(name)),
    subject: c.subjectText,
    notAfter: c.notAfter.toISOString(),
    fingerprintSha256: c.fingerprintSha256,
    keyAlgorithm: c.keyDescription,
    reused,
  };
}

export async function planCaGenerate(ctx: TaskContext<Params>): Promise<TaskPlan> {
  const existing = await loadCa(ctx.state, ctx.params.name);
  if (existing) return { changed: false, summary: `would reuse CA ${ctx.params.name} (${existing.certificate.subjectText})` };
  return { changed: true, summary: `would create CA ${ctx.params.name} in ${ctx.state.artifactPath(caCertArtifact(ctx.params.name))}` };
}
