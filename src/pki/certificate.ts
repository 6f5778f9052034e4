import { createHash, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import { KcarunError } from '../errors.js';
import { children, decodeDer, encodeDer, isContext, primitiveBytes, readOid, readSmallInteger, readTime } from './der.js';
import {
  type BasicConstraints,
  decodeAuthorityKeyIdentifier,
  decodeBasicConstraints,
  decodeExtKeyUsage,
  decodeExtension,
  decodeKeyUsage,
  decodeSubjectAltNames,
  decodeSubjectKeyIdentifier,
  type RawExtension,
  type SubjectAltName,
} from './extensions.js';
import { describeKey, formatKeySpec, type KeySpec, publicKeyFromSpki } from './keys.js';
import { commonNameOf, formatName, type NameAttribute, parseName } from './name.js';
import { OID, type KeyUsageName } from './oids.js';
import { parsePemBlocks, toPem } from './pem.js';

/** An X.509 certificate, decoded once, with the raw bytes of the parts a re-issue copies verbatim. */
export interface Certificate {
  der: Buffer;
  pem: string;
  tbsDer: Buffer;
  serialNumber: string;
  signatureAlgorithm: string;
  signature: Buffer;
  issuerDer: Buffer;
  subjectDer: Buffer;
  issuer: NameAttribute[];
  subject: NameAttribute[];
  issuerText: string;
  subjectText: string;
  commonName: string | undefined;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Buffer;
  /** Contents of subjectPublicKey (for key identifiers). */
  publicKeyBits: Buffer;
  publicKey: KeyObject;
  /** undefined for key types kcarun cannot create (e.g. Ed25519); `keyDescription` still says what it is. */
  keySpec: KeySpec | undefined;
  keyDescription: string;
  extensions: RawExtension[];
  subjectAltNames: SubjectAltName[];
  keyUsage: KeyUsageName[] | undefined;
  extKeyUsage: string[] | undefined;
  basicConstraints: BasicConstraints | undefined;
  isCa: boolean;
  subjectKeyId: Buffer | undefined;
  authorityKeyId: Buffer | undefined;
  fingerprintSha256: string;
}

export function parseCertificate(der: Buffer): Certificate {
  try {
    return parseCertificateUnchecked(der);
  } catch (err) {
    if (err instanceof KcarunError) throw err;
    throw new KcarunError('E_PKI', `not a valid X.509 certificate: ${(err as Error).message}`, {}, { cause: err });
  }
}

function parseCertificateUnchecked(der: Buffer): Certificate {
  const [tbs, sigAlg, sigValue] = children(decodeDer(der), 'Certificate');
  if (!tbs || !sigAlg || !sigValue) throw new Error('Certificate must have 3 parts');
  const fields = children(tbs, 'TBSCertificate');
  let i = 0;
  if (fields[0] && isContext(fields[0], 0)) i++; // explicit version
  const at = (what: string) => {
    const n = fields[i++];
    if (!n) throw new Error(`TBSCertificate: missing ${what}`);
    return n;
  };
  const serial = primitiveBytes(at('serialNumber'), 'serialNumber');
  at('signature');
  const issuerDer = encodeDer(at('issuer'));
  const [nb, na] = children(at('validity'), 'Validity');
  if (!nb || !na) throw new Error('Validity must have 2 times');
  const subjectDer = encodeDer(at('subject'));
  const spkiNode = at('subjectPublicKeyInfo');
  const spkiDer = encodeDer(spkiNode);
  const bits = children(spkiNode, 'SubjectPublicKeyInfo')[1];
  if (!bits) throw new Error('SubjectPublicKeyInfo without key');
  const extensions: RawExtension[] = [];
  for (const f of fields.slice(i)) {
    if (isContext(f, 3)) for (const e of children(children(f, 'extensions')[0] ?? f, 'Extensions')) extensions.push(decodeExtension(e));
  }
  const ext = (oid: string) => extensions.find((e) => e.oid === oid)?.value;
  const san = ext(OID.subjectAltName);
  const ku = ext(OID.keyUsage);
  const eku = ext(OID.extKeyUsage);
  const bcValue = ext(OID.basicConstraints);
  const ski = ext(OID.subjectKeyIdentifier);
  const aki = ext(OID.authorityKeyIdentifier);
  const basicConstraints = bcValue ? decodeBasicConstraints(bcValue) : undefined;
  const publicKey = publicKeyFromSpki(spkiDer);
  let keySpec: KeySpec | undefined;
  let keyDescription: string;
  try {
    keySpec = describeKey(publicKey);
    keyDescription = formatKeySpec(keySpec);
  } catch {
    keyDescription = publicKey.asymmetricKeyType ?? 'unknown';
  }
  const subject = parseName(subjectDer);
  const issuer = parseName(issuerDer);
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    tbsDer: encodeDer(tbs),
    serialNumber: serial.toString('hex'),
    signatureAlgorithm: readOid(children(sigAlg, 'AlgorithmIdentifier')[0] ?? sigAlg),
    signature: primitiveBytes(sigValue, 'signature').subarray(1),
    issuerDer,
    subjectDer,
    issuer,
    subject,
    issuerText: formatName(issuer),
    subjectText: formatName(subject),
    commonName: commonNameOf(subject),
    notBefore: readTime(nb),
    notAfter: readTime(na),
    spkiDer,
    publicKeyBits: primitiveBytes(bits, 'subjectPublicKey').subarray(1),
    publicKey,
    keySpec,
    keyDescription,
    extensions,
    subjectAltNames: san ? decodeSubjectAltNames(san) : [],
    keyUsage: ku ? decodeKeyUsage(ku) : undefined,
    extKeyUsage: eku ? decodeExtKeyUsage(eku) : undefined,
    basicConstraints,
    isCa: basicConstraints?.ca ?? false,
    subjectKeyId: ski ? decodeSubjectKeyIdentifier(ski) : undefined,
    authorityKeyId: aki ? decodeAuthorityKeyIdentifier(aki) : undefined,
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** Every CERTIFICATE block of a PEM text (a bundle gives several); other blocks are ignored. */
export function parseCertificates(pem: string | Buffer): Certificate[] {
  return parsePemBlocks(pem.toString()).filter((b) => b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE').map((b) => parseCertificate(b.der));
}

/** Exactly one certificate (the first of a file that must hold one), or E_PKI naming `what`. */
export function parseSingleCertificate(pem: string | Buffer, what: string): Certificate {
  const certs = parseCertificates(pem);
  const first = certs[0];
  if (!first) throw new KcarunError('E_PKI', `${what}: no PEM certificate found`);
  return first;
}

const HASH_BY_SIGALG: Record<string, string> = {
  [OID.sha256WithRSAEncryption]: 'sha256',
  [OID.sha384WithRSAEncryption]: 'sha384',
  [OID.sha512WithRSAEncryption]: 'sha512',
  [OID.sha1WithRSAEncryption]: 'sha1',
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
};

/** True when `issuerKey` made the certificate's signature. */
export function signatureVerifies(cert: Certificate, issuerKey: KeyObject): boolean {
  const hash = HASH_BY_SIGALG[cert.signatureAlgorithm];
  try {
    if (cert.signatureAlgorithm === OID.ed25519) return cryptoVerify(null, cert.tbsDer, issuerKey, cert.signature);
    if (!hash) return false;
    return cryptoVerify(hash, cert.tbsDer, { key: issuerKey, dsaEncoding: 'der' }, cert.signature);
  } catch {
    return false; // a key of the wrong type for the signature
  }
}

/** Issuer name matches the CA's subject byte for byte (as Go compares) and the CA's key signed it. */
export function isIssuedBy(cert: Certificate, ca: Certificate): boolean {
  return cert.issuerDer.equals(ca.subjectDer) && signatureVerifies(cert, ca.publicKey);
}

export function daysLeft(cert: Certificate, now: Date): number {
  return Math.floor((cert.notAfter.getTime() - now.getTime()) / 86_400_000);
}
