import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import type { Certificate } from './certificate.js';
import {
  encodeAuthorityKeyIdentifier,
  encodeBasicConstraints,
  encodeKeyUsage,
  encodeSubjectKeyIdentifier,
} from './extensions.js';
import { isIntermediateCa } from './issuer.js';
import { generateKey, keyIdentifier, type KeySpec, spkiDer } from './keys.js';
import { buildName, replaceCommonName } from './name.js';
import { COMMON_NAME, OID } from './oids.js';
import { signCertificate } from './sign.js';
import { children, decodeDer, primitiveBytes } from './der.js';

export interface CertificateAuthority {
  certificate: Certificate;
  privateKey: KeyObject;
}

export interface CreateCaOptions {
  /** The CA being replaced: its subject is kept with a new CN, its key algorithm and size reused. */
  oldCa?: Certificate;
  /** Default: the old CA's CN + " (rotated YYYY-MM-DD)"; required without `oldCa`. */
  commonName?: string;
  /** Default: the old CA's algorithm and size, else RSA 2048. */
  keySpec?: KeySpec;
  validityDays?: number;
  /** NotBefore this far in the past, so hosts whose clock lags still accept the CA. */
  backdateMinutes?: number;
  now?: Date;
  /**
   * The old CA is an intermediate (kubeadm external-CA style): kcarun can only make a self-signed
   * root, which whoever trusts the old CA's root does not trust. Refused unless this says so.
   */
  fromIntermediate?: 'self-signed-root';
}

export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_BACKDATE_MINUTES = 60;

const ROTATED_SUFFIX = / \(rotated [^)]*\)$/;

/**
 * `etcd-ca` -> `etcd-ca (rotated 2026-11-28)`. A previous suffix is replaced, not stacked; when that
 * gives the old CN back (a second rotation on the same day) the time is added.
 */
export function rotatedCommonName(oldCommonName: string | undefined, now: Date): string {
  const base = (oldCommonName ?? 'kubernetes').replace(ROTATED_SUFFIX, '');
  const day = `${base} (rotated ${now.toISOString().slice(0, 10)})`;
  if (day !== oldCommonName) return day;
  return `${base} (rotated ${now.toISOString().slice(0, 19)}Z)`;
}

/**
 * A new self-signed CA. Its subject always differs from the old CA's: clients that look CAs up
 * by subject (Go's x509 pool, kops #11964) would otherwise try the wrong one.
 */
export async function createCa(options: CreateCaOptions): Promise<CertificateAuthority> {
  const now = options.now ?? new Date();
  const old = options.oldCa;
  if (!old && !options.commonName) throw new KcarunError('E_PKI', 'a new CA needs a commonName when there is no old CA to derive it from');
  if (old && isIntermediateCa(old) && options.fromIntermediate !== 'self-signed-root') {
    throw new KcarunError(
      'E_PKI',
      `the old CA "${old.subjectText}" is an intermediate, issued by "${old.issuerText}"; kcarun can only make a self-signed root, ` +
        `which clients that trust "${old.issuerText}" do not trust until they get the new root too. ` +
        `Either issue the new intermediate with the CA that holds "${old.issuerText}"'s key (outside kcarun), or set fromIntermediate: self-signed-root to replace it with a new root`,
    );
  }
  const commonName = options.commonName ?? rotatedCommonName(old?.commonName, now);
  const subjectDer = old ? replaceCommonName(old.subjectDer, commonName) : buildName([{ oid: COMMON_NAME, value: commonName }]);
  if (old && subjectDer.equals(old.subjectDer)) {
    throw new KcarunError('E_PKI', `the new CA's subject must differ from the old CA's (${old.subjectText}); choose another commonName`);
  }
  const keySpec = options.keySpec ?? old?.keySpec ?? { type: 'rsa', bits: 2048 };
  const { privateKey, publicKey } = await generateKey(keySpec);
  const spki = spkiDer(publicKey);
  const ski = keyIdentifier(subjectPublicKeyBits(spki));
  const notBefore = new Date(now.getTime() - (options.backdateMinutes ?? DEFAULT_BACKDATE_MINUTES) * 60_000);
  const notAfter = new Date(now.getTime() + (options.validityDays ?? DEFAULT_CA_VALIDITY_DAYS) * 86_400_000);
  const certificate = signCertificate(
    {
      issuerDer: subjectDer,
      subjectDer,
      notBefore,
      notAfter,
      spkiDer: spki,
      extensions: [
        { oid: OID.keyUsage, critical: true, value: encodeKeyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']) },
        { oid: OID.basicConstraints, critical: true, value: encodeBasicConstraints({ ca: true }) },
        { oid: OID.subjectKeyIdentifier, critical: false, value: encodeSubjectKeyIdentifier(ski) },
        { oid: OID.authorityKeyIdentifier, critical: false, value: encodeAuthorityKeyIdentifier(ski) },
      ],
    },
    privateKey,
  );
  return { certificate, privateKey };
}

/** The subjectPublicKey BIT STRING's bytes of an SPKI, without the unused-bits octet. */
export function subjectPublicKeyBits(spki: Buffer): Buffer {
  const bits = children(decodeDer(spki), 'SubjectPublicKeyInfo')[1];
  if (!bits) throw new Error('SubjectPublicKeyInfo without key');
  return primitiveBytes(bits, 'subjectPublicKey').subarray(1);
}
