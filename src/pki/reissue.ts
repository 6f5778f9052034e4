import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import { subjectPublicKeyBits, type CertificateAuthority, DEFAULT_BACKDATE_MINUTES } from './ca.js';
import type { Certificate } from './certificate.js';
import { encodeAuthorityKeyIdentifier, encodeSubjectKeyIdentifier, type RawExtension } from './extensions.js';
import { generateKey, keyIdentifier, spkiDer } from './keys.js';
import { OID } from './oids.js';
import { signCertificateAsync } from './sign.js';

/**
 * `reuse`: re-sign the public key already in the certificate, so the private key never leaves
 * its host. `rotate`: a new key of the same algorithm and size, shipped with the certificate.
 */
export type KeyPolicy = 'reuse' | 'rotate';

export interface ReissueOptions {
  keyPolicy?: KeyPolicy;
  now?: Date;
  backdateMinutes?: number;
}

export interface ReissuedCertificate {
  certificate: Certificate;
  /** Only for `rotate`. */
  privateKey?: KeyObject;
  /** E.g. the validity was shortened to end with the CA's. */
  warnings: string[];
}

/**
 * The same certificate from a new CA: subject (byte for byte), every extension (SANs, key usage,
 * extended key usage, basic constraints, anything else) copied verbatim in the same order, the
 * same validity length; only the key identifiers are recomputed for the new issuer/key.
 */
export async function reissueLeafCertificate(leaf: Certificate, ca: CertificateAuthority, options: ReissueOptions = {}): Promise<ReissuedCertificate> {
  if (leaf.isCa) {
    throw new KcarunError('E_PKI', `${leaf.subjectText} is a CA certificate: make a new CA with ca-generate instead of re-issuing it`);
  }
  const policy = options.keyPolicy ?? 'reuse';
  let privateKey: KeyObject | undefined;
  let spki = leaf.spkiDer;
  if (policy === 'rotate') {
    if (!leaf.keySpec) throw new KcarunError('E_PKI', `${leaf.subjectText}: cannot make a new ${leaf.keyDescription} key (RSA and ECDSA only); use keyPolicy reuse`);
    const pair = await generateKey(leaf.keySpec);
    privateKey = pair.privateKey;
    spki = spkiDer(pair.publicKey);
  }
  const now = options.now ?? new Date();
  const warnings: string[] = [];
  const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  const notBefore = new Date(now.getTime() - (options.backdateMinutes ?? DEFAULT_BACKDATE_MINUTES) * 60_000);
  let notAfter = new Date(notBefore.getTime() + lifetime);
  if (notAfter > ca.certificate.notAfter) {
    notAfter = ca.certificate.notAfter;
    warnings.push(`${leaf.subjectText}: validity shortened to end with the CA on ${notAfter.toISOString()}`);
  }
  const caKeyId = ca.certificate.subjectKeyId ?? keyIdentifier(ca.certificate.publicKeyBits);
  const extensions: RawExtension[] = leaf.extensions.map((e) => {
    if (e.oid === OID.authorityKeyIdentifier) return { ...e, value: encodeAuthorityKeyIdentifier(caKeyId) };
    if (e.oid === OID.subjectKeyIdentifier && policy === 'rotate') {
      return { ...e, value: encodeSubjectKeyIdentifier(keyIdentifier(subjectPublicKeyBits(spki))) };
    }
    return e;
  });
  if (!extensions.some((e) => e.oid === OID.authorityKeyIdentifier)) {
    extensions.push({ oid: OID.authorityKeyIdentifier, critical: false, value: encodeAuthorityKeyIdentifier(caKeyId) });
  }
  const certificate = await signCertificateAsync(
    { issuerDer: ca.certificate.subjectDer, subjectDer: leaf.subjectDer, notBefore, notAfter, spkiDer: spki, extensions },
    ca.privateKey,
  );
  return privateKey ? { certificate, privateKey, warnings } : { certificate, warnings };
}
