import { KcarunError } from '../../core/errors.js';
import { parseCertificates } from '../../pki/certificate.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { settingValue } from '../shared/setting-value.js';
import type { FlagReadParams } from './schema.js';

/** Reads the settings; with `mustHoldOneOf`, refuses a named file that holds some other certificate. */
export async function runFlagRead(ctx: TaskContext<FlagReadParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const data = await ctx.transport.readFile(p.path, { become: p.become }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || /no such file|does not exist/i.test(err.message)) return null;
    throw err;
  });
  const set: { flag: string; value: string }[] = [];
  if (data !== null) {
    const text = data.toString('utf8');
    for (const flag of p.flags) {
      let v: unknown;
      try {
        v = settingValue(text, p.in, flag);
      } catch (err) {
        throw new KcarunError('E_TASK', `${p.path}: cannot read ${flag}: ${(err as Error).message}`, { host: ctx.host.name }, { cause: err });
      }
      if (v !== undefined && v !== null && String(v) !== '') set.push({ flag: flag.replace(/^-+/, ''), value: String(v) });
    }
  }
  const except = new Set(p.except ?? []);
  const paths = [...new Set(set.map((s) => s.value).filter((v) => !except.has(v)))];
  if (p.mustHoldOneOf?.length) {
    const allowed = new Map<string, string>();
    for (const a of p.mustHoldOneOf) {
      const pem = await ctx.state.readArtifact(a);
      if (pem === null) throw new KcarunError('E_TASK', `artifact ${a} does not exist in ${ctx.state.dir}/artifacts`, { host: ctx.host.name });
      for (const c of parseCertificates(pem)) allowed.set(c.fingerprintSha256, a);
    }
    for (const s of set.filter((x) => paths.includes(x.value))) {
      const body = await ctx.transport.readFile(s.value, { become: p.become }).catch((err: Error) => {
        throw new KcarunError('E_TASK', `${p.path}: --${s.flag}=${s.value} cannot be read: ${err.message}`, { host: ctx.host.name }, { cause: err });
      });
      let certs;
      try {
        certs = parseCertificates(body);
      } catch (err) {
        throw new KcarunError('E_PKI', `${s.value} (--${s.flag} in ${p.path}): not a certificate: ${(err as Error).message}`, { host: ctx.host.name }, { cause: err });
      }
      if (certs.length !== 1 || !allowed.has(certs[0]!.fingerprintSha256)) {
        throw new KcarunError(
          'E_PKI',
          `${s.value} (--${s.flag} in ${p.path}) holds ${certs.length === 1 ? `another CA (${certs[0]!.subjectText})` : `${certs.length} certificates`}, not the CA being rotated: it is left alone; point the flag at the cluster CA's files or rotate that CA yourself`,
          { host: ctx.host.name },
        );
      }
    }
  }
  const summary = set.length === 0 ? `${p.path}: none of ${p.flags.length} setting(s) set` : `${p.path}: ${set.map((s) => `--${s.flag}=${s.value}`).join(', ')}`;
  return { changed: false, summary, output: { set, paths } };
}
