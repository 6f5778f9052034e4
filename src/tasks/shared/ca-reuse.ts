import { KcarunError } from '../../core/errors.js';
import type { RunState } from '../../core/types.js';
import type { Certificate } from '../../pki/certificate.js';
import { formatKeySpec, type KeySpec } from '../../pki/keys.js';
import { caCertArtifact } from './pki-common.js';

/** Fingerprints of the CAs this process made, by artifact: a CA made a moment ago by another host's step is ours before its journal record is written. */
const madeHere = new Map<string, string>();

export function rememberMadeCa(name: string, fingerprintSha256: string): void {
  madeHere.set(caCertArtifact(name), fingerprintSha256);
}

/**
 * Before a CA found in the state dir is reused to sign the cluster: it must be what the task asks
 * for (its commonName, its key type and size, when the task names them) and what kcarun itself
 * made (its fingerprint is in a journal of this state dir, or it was made by this run). A CA
 * someone placed in artifacts/ca is refused, with what to do (issue 13, item 4).
 */
export async function checkReusedCa(
  state: RunState,
  name: string,
  ca: Certificate,
  wanted: { commonName?: string; keySpec?: KeySpec },
): Promise<void> {
  const artifact = caCertArtifact(name);
  const refuse = (why: string) => {
    throw new KcarunError(
      'E_STATE',
      `CA ${name} in the state dir (${ca.subjectText}, ${ca.keyDescription}) ${why}; it is not reused to sign anything. If it is stale, move ${state.artifactPath(artifact)} and its key away to make a new CA`,
    );
  };
  if (wanted.commonName !== undefined && ca.commonName !== wanted.commonName) refuse(`has commonName "${ca.commonName ?? ''}", but the task asks for "${wanted.commonName}"`);
  if (wanted.keySpec && (!ca.keySpec || formatKeySpec(ca.keySpec) !== formatKeySpec(wanted.keySpec))) refuse(`has a ${ca.keyDescription} key, but the task asks for ${formatKeySpec(wanted.keySpec)}`);
  if (madeHere.get(artifact) === ca.fingerprintSha256) return;
  if (!state.recordedStepOutputs) return;
  const records = (await state.recordedStepOutputs()).filter((o) => o.cert === artifact && typeof o.fingerprintSha256 === 'string');
  if (records.some((o) => o.fingerprintSha256 === ca.fingerprintSha256)) return;
  refuse(
    records.length
      ? `is not the CA kcarun made under that name (the journal records fingerprint ${String(records[records.length - 1]!.fingerprintSha256).slice(0, 16)}..., the file has ${ca.fingerprintSha256.slice(0, 16)}...): it was replaced`
      : 'was not made by kcarun: no journal of this state dir records it',
  );
}
