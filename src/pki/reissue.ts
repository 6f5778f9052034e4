import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import { subjectPublicKeyBits, type CertificateAuthority, DEFAULT_BACKDATE_MINUTES } from './ca.js';
import { type Certificate, isIssuedBy } from './certificate.js';
import { encodeSubjectKeyIdentifier, type RawExtension } from './extensions.js';
import { assertCaCanSign, authorityKeyIdentifierFor } from './issuer.js';
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
  /**
   * The certificates that followed the leaf in its file (intermediates, kubeadm external-CA style).
   * Kept, verbatim and in order, when the CA signing now is the one that signed the old leaf (a
   * renewal: the same intermediate); dropped with a warning when the issuer changes (they chain
   * the old issuer, not the new one).
   */
  chain?: readonly Certificate[];
  /**
   * A new validity: the certificate ends this many days from now (NotBefore is still backdated).
   * Default: the old certificate's length (NotAfter - NotBefore), counted from the backdated
   * NotBefore. Either way it never ends after the CA.
   */
  validityDays?: number;
}

export interface ReissuedCertificate {
  certificate: Certificate;
  /** Only for `rotate`. */
  privateKey?: KeyObject;
  /** The certificates to write after the new one (see `ReissueOptions.chain`); empty when dropped. */
  chain: Certificate[];
  /** E.g. the validity was shortened to end with the CA's, the old certificate had expired. */
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
  const now = options.now ?? new Date();
  assertCaCanSign(ca.certificate, now);
  const policy = options.keyPolicy ?? 'reuse';
  let privateKey: KeyObject | undefined;
  let spki = leaf.spkiDer;
  if (policy === 'rotate') {
    if (!leaf.keySpec) throw new KcarunError('E_PKI', `${leaf.subjectText}: cannot make a new ${leaf.keyDescription} key (RSA and ECDSA only); use keyPolicy reuse`);
    const pair = await generateKey(leaf.keySpec);
    privateKey = pair.privateKey;
    spki = spkiDer(pair.publicKey);
  }
  const warnings: string[] = [];
  if (leaf.notAfter <= now) {
    // Often a legacy file nothing uses any more (kubelet-client.crt beside kubelet-client-current.pem).
    warnings.push(`${leaf.subjectText}: the certificate being re-issued expired on ${leaf.notAfter.toISOString()}; if a newer certificate replaced it, point its users there instead of re-issuing this one`);
  }
  const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  const notBefore = new Date(now.getTime() - (options.backdateMinutes ?? DEFAULT_BACKDATE_MINUTES) * 60_000);
  if (options.validityDays !== undefined && !(Number.isInteger(options.validityDays) && options.validityDays >= 1)) {
    throw new KcarunError('E_PKI', `validityDays must be a whole number of days, at least 1 (got ${options.validityDays})`);
  }
  let notAfter = options.validityDays !== undefined ? new Date(now.getTime() + options.validityDays * 86_400_000) : new Date(notBefore.getTime() + lifetime);
  if (notAfter > ca.certificate.notAfter) {
    notAfter = ca.certificate.notAfter;
    warnings.push(`${leaf.subjectText}: validity shortened to end with the CA on ${notAfter.toISOString()}`);
  }
  const aki = authorityKeyIdentifierFor(ca.certificate);
  const extensions: RawExtension[] = leaf.extensions.map((e) => {
    if (e.oid === OID.authorityKeyIdentifier) return { ...e, value: aki };
    if (e.oid === OID.subjectKeyIdentifier && policy === 'rotate') {
      return { ...e, value: encodeSubjectKeyIdentifier(keyIdentifier(subjectPublicKeyBits(spki))) };
    }
    return e;
  });
  if (!extensions.some((e) => e.oid === OID.authorityKeyIdentifier)) {
    extensions.push({ oid: OID.authorityKeyIdentifier, critical: false, value: aki });
  }
  const oldChain = options.chain ?? [];
  const sameIssuer = isIssuedBy(leaf, ca.certificate);
  const chain = sameIssuer ? [...oldChain] : [];
  if (!sameIssuer && oldChain.length > 0) {
    warnings.push(
      `${leaf.subjectText}: the ${oldChain.length} certificate(s) that followed it (issuer "${leaf.issuerText}") are dropped: they chain the old issuer, not "${ca.certificate.subjectText}"`,
    );
  }
  const certificate = await signCertificateAsync(
    { issuerDer: ca.certificate.subjectDer, subjectDer: leaf.subjectDer, notBefore, notAfter, spkiDer: spki, extensions },
    ca.privateKey,
  );
  return privateKey ? { certificate, privateKey, chain, warnings } : { certificate, chain, warnings };
}
