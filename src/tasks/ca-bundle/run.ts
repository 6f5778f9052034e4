import { buildBundle } from '../../pki/bundle.js';
import type { CaBundleParams } from './schema.js';
import type { TaskContext, TaskOutcome, TaskPlan } from '../define.js';
import { readSourceCertificates, requireCa } from '../shared/pki-common.js';

function outputPath(p: CaBundleParams): string {
  return p.output ?? (p.mode === 'new' ? `ca/${p.ca}-new.crt` : `ca/${p.ca}-bundle.crt`);
}

export async function runCaBundle(ctx: TaskContext<CaBundleParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const mode = p.mode ?? 'new+old';
  const ca = await requireCa(ctx.state, p.ca);
  const old = p.old && mode === 'new+old' ? await readSourceCertificates(ctx, p.old) : [];
  for (const c of old) if (!c.isCa) ctx.log.warn(`ca-bundle: "${c.subjectText}" in the old bundle is not a CA certificate`);
  const bundle = buildBundle([ca.certificate], old, mode);
  const artifact = outputPath(p);
  const before = await ctx.state.readArtifact(artifact);
  const changed = before?.toString() !== bundle.pem;
  if (changed) await ctx.state.writeArtifact(artifact, bundle.pem, { mode: 0o644 });
  return {
    changed,
    summary: `${artifact}: ${bundle.certificates.map((c) => c.subjectText).join(' + ')}`,
    output: { artifact, path: ctx.state.artifactPath(artifact), subjects: bundle.certificates.map((c) => c.subjectText), count: bundle.certificates.length },
  };
}

/** In a dry run (scratch state) the bundle is built for real there, from the CA the dry run made. */
export async function planCaBundle(ctx: TaskContext<CaBundleParams>): Promise<TaskPlan> {
  if (ctx.state.scratch) {
    const o = await runCaBundle(ctx);
    return { changed: o.changed, summary: `would write ${o.summary}`, output: o.output };
  }
  return { changed: true, summary: `would write ${outputPath(ctx.params)} (${ctx.params.mode ?? 'new+old'})` };
}
