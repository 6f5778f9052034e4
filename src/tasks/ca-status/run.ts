import { daysLeft, parseCertificates } from '../../pki/certificate.js';
import { KcarunError } from '../../core/errors.js';
import type { CaStatusParams } from './schema.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { caCertArtifact, oldCaArtifact } from '../shared/pki-common.js';

/**
 * rotate: this state dir has started a rotation that is not finished on the host (the host's CA
 * is not yet the new one, or the trust bundle is still there), or none has started and the CA
 * expires within `rotateWithinDays` (or `force`). finalize: the host's CA is the new one and the
 * bundle (which still trusts the old CA) is in place.
 * The host's CA is saved as the "old" CA the first time, so bundles built later (or in a resumed
 * run, after the host's CA file was already replaced) always hold the real old CA.
 * Errors: E_STATE when the state dir recorded an old CA that the host does not hold, and the host's
 * CA is not the state dir's new CA either (a state dir of another cluster or rotation); E_PKI when
 * the host's CA file holds no certificate.
 */
export async function runCaStatus(ctx: TaskContext<CaStatusParams>, options: { dryRun?: boolean } = {}): Promise<TaskOutcome> {
  const p = ctx.params;
  if (p.enabled === false) {
    return { changed: false, summary: `${p.name}: switched off`, output: { enabled: false, rotate: false, finalize: false } };
  }
  const host = p.host ?? ctx.host.name;
  const transport = p.host ? await ctx.transportFor(p.host) : ctx.transport;
  const [hostCas, newPem, oldPem, bundleStat] = await Promise.all([
    transport.readFile(p.cert).then((b) => parseCertificates(b)),
    ctx.state.readArtifact(caCertArtifact(p.name)),
    ctx.state.readArtifact(oldCaArtifact(p.name)),
    transport.stat(p.bundle),
  ]);
  const hostCa = hostCas[0];
  if (!hostCa) throw new KcarunError('E_PKI', `${host}:${p.cert} holds no certificate`, { host });
  const now = new Date();
  const left = Math.floor(daysLeft(hostCa, now));
  const newCa = newPem ? parseCertificates(newPem)[0] : undefined;
  const hostHasNewCa = newCa !== undefined && newCa.fingerprintSha256 === hostCa.fingerprintSha256;
  const recordedOld = oldPem ? parseCertificates(oldPem)[0] : undefined;
  if (recordedOld && !hostHasNewCa && recordedOld.fingerprintSha256 !== hostCa.fingerprintSha256) {
    // The state dir recorded another CA as this cluster's old one, and the host holds neither it nor
    // the new one: the state dir belongs to another cluster (an inventory path reused, a lab made
    // again), or the CA was replaced by hand since. Bundles built from it would not hold the live CA,
    // and every component given such a bundle would reject its peers (found so: a single-member etcd
    // that trusted the bundle of an earlier lab's CA lost every client). Refused before anything changes.
    const dir = ctx.state.scratch?.realDir ?? ctx.state.dir;
    throw new KcarunError(
      'E_STATE',
      `${host}:${p.cert} holds "${hostCa.subjectText}" (sha256 ${hostCa.fingerprintSha256.slice(0, 16)}...), but the state dir ${dir} recorded ` +
        `"${recordedOld.subjectText}" (sha256 ${recordedOld.fingerprintSha256.slice(0, 16)}...) as this cluster's old ${p.name} and the host holds neither it nor ` +
        `the new CA of that rotation: the state dir belongs to another cluster or rotation. Use this cluster's own state dir (--state-dir), ` +
        `or move ${dir} aside to start over`,
      { host },
    );
  }
  const bundlePresent = bundleStat !== null;
  const started = newCa !== undefined && (!hostHasNewCa || bundlePresent);
  const due = (p.force ?? false) || left < (p.rotateWithinDays ?? 365);
  const rotate = started || (!hostHasNewCa && due);

  let changed = false;
  if (!oldPem && !hostHasNewCa && rotate && !options.dryRun) {
    await ctx.state.writeArtifact(oldCaArtifact(p.name), hostCa.pem, { mode: 0o644 });
    changed = true;
  }
  const reason = !rotate
    ? hostHasNewCa
      ? `already rotated: ${p.cert} is the new CA (${left} days left)${bundlePresent ? '' : ', old CA no longer trusted'}`
      : `not due: ${left} days left (rotate within ${p.rotateWithinDays ?? 365}; -e force_rotation=true to rotate anyway)`
    : started
      ? `rotation under way (${hostHasNewCa ? 'switched' : 'trusting'}; bundle ${bundlePresent ? 'present' : 'absent'})`
      : p.force
        ? `forced rotation (${left} days left)`
        : `due: ${left} days left`;
  return {
    changed,
    summary: `${p.name}: ${reason}`,
    output: {
      enabled: true,
      rotate,
      // Only once the host's CA is the new one: removing the old CA earlier would cut off
      // every certificate it still signs.
      finalize: bundlePresent && hostHasNewCa,
      daysLeft: left,
      subject: hostCa.subjectText,
      notAfter: hostCa.notAfter.toISOString(),
      fingerprintSha256: hostCa.fingerprintSha256,
      hostHasNewCa,
      reason,
    },
  };
}
