import { createHash, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import forge from 'node-forge';
import { toBinary } from './der.js';
import { childrenOf, contents, readTlv, type Tlv, whole } from './der-reader.js';
import {
  type BasicConstraints,
  decodeAuthorityKeyIdentifier,
  decodeBasicConstraints,
  decodeExtKeyUsage,
  decodeKeyUsage,
  decodeSubjectAltNames,
  decodeSubjectKeyIdentifier,
  type RawExtension,
  type SubjectAltName,
} from './extensions.js';
import { formatKeySpec, type KeySpec, publicKeyFromSpki } from './keys.js';
import { commonNameOf, formatName, type NameAttribute, parseName } from './name.js';
import { CURVE_NAMES, OID, type KeyUsageName } from './oids.js';
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
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new Error('trailing bytes after the certificate');
  const [tbs, sigAlg, sigValue] = childrenOf(der, top);
  if (!tbs || !sigAlg || !sigValue) throw new Error('Certificate must have 3 parts');
  const fields = childrenOf(der, tbs);
  let i = 0;
  if (fields[0]?.tag === 0xa0) i++; // explicit version
  const at = (what: string) => {
    const n = fields[i++];
    if (!n) throw new Error(`TBSCertificate: missing ${what}`);
    return n;
  };
  const serial = contents(der, at('serialNumber'));
  at('signature');
  const issuerDer = whole(der, at('issuer'));
  const [nb, na] = childrenOf(der, at('validity'));
  if (!nb || !na) throw new Error('Validity must have 2 times');
  const subjectDer = whole(der, at('subject'));
  const spkiTlv = at('subjectPublicKeyInfo');
  const spkiDer = whole(der, spkiTlv);
  const bits = childrenOf(der, spkiTlv)[1];
  if (!bits) throw new Error('SubjectPublicKeyInfo without key');
  const extensions: RawExtension[] = [];
  for (const f of fields.slice(i)) {
    if (f.tag !== 0xa3) continue;
    const list = childrenOf(der, f)[0];
    if (!list) throw new Error('empty extensions');
    for (const e of childrenOf(der, list)) {
      const parts = childrenOf(der, e);
      const [o, second, third] = parts;
      if (!o || !second) throw new Error('malformed Extension');
      const critical = third ? (der[second.contentStart] ?? 0) !== 0 : false;
      extensions.push({ oid: oidOf(der, o), critical, value: contents(der, third ?? second) });
    }
  }
  const ext = (oid: string) => extensions.find((e) => e.oid === oid)?.value;
  const san = ext(OID.subjectAltName);
  const ku = ext(OID.keyUsage);
  const eku = ext(OID.extKeyUsage);
  const bcValue = ext(OID.basicConstraints);
  const ski = ext(OID.subjectKeyIdentifier);
  const aki = ext(OID.authorityKeyIdentifier);
  const basicConstraints = bcValue ? decodeBasicConstraints(bcValue) : undefined;
  const { keySpec, keyDescription } = describeSpki(der, spkiTlv);
  let publicKey: KeyObject | undefined;
  const subject = parseName(subjectDer);
  const issuer = parseName(issuerDer);
  const sigAlgOid = childrenOf(der, sigAlg)[0];
  if (!sigAlgOid) throw new Error('empty signatureAlgorithm');
  return {
    der,
    // Made on first use: importing a key costs ~150 us, more than the rest of the parse.
    get publicKey(): KeyObject {
      publicKey ??= publicKeyFromSpki(spkiDer);
      return publicKey;
    },
    pem: toPem('CERTIFICATE', der),
    tbsDer: whole(der, tbs),
    serialNumber: serial.toString('hex'),
    signatureAlgorithm: oidOf(der, sigAlgOid),
    signature: contents(der, sigValue).subarray(1),
    issuerDer,
    subjectDer,
    issuer,
    subject,
    issuerText: formatName(issuer),
    subjectText: formatName(subject),
    commonName: commonNameOf(subject),
    notBefore: timeOf(der, nb),
    notAfter: timeOf(der, na),
    spkiDer,
    publicKeyBits: contents(der, bits).subarray(1),
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

/** Algorithm and size straight from the SubjectPublicKeyInfo, without importing the key. */
function describeSpki(der: Buffer, spki: Tlv): { keySpec: KeySpec | undefined; keyDescription: string } {
  const [algId, bits] = childrenOf(der, spki);
  const [algOid, params] = algId ? childrenOf(der, algId) : [];
  if (!algOid || !bits) throw new Error('malformed SubjectPublicKeyInfo');
  const alg = oidOf(der, algOid);
  if (alg === OID.rsaEncryption) {
    // subjectPublicKey = RSAPublicKey { modulus INTEGER, publicExponent INTEGER }
    const rsaKey = readTlv(der, bits.contentStart + 1, bits.end);
    const modulusTlv = childrenOf(der, rsaKey)[0];
    if (!modulusTlv) throw new Error('malformed RSA public key');
    let m = contents(der, modulusTlv);
    while (m.length > 0 && m[0] === 0) m = m.subarray(1);
    const bitsLength = m.length * 8 - Math.clz32(m[0] ?? 0) + 24;
    const keySpec: KeySpec = { type: 'rsa', bits: bitsLength };
    return { keySpec, keyDescription: formatKeySpec(keySpec) };
  }
  if (alg === OID.ecPublicKey && params?.tag === 0x06) {
    const curve = CURVE_NAMES[oidOf(der, params)];
    if (curve === 'P-256' || curve === 'P-384' || curve === 'P-521') {
      const keySpec: KeySpec = { type: 'ecdsa', curve };
      return { keySpec, keyDescription: formatKeySpec(keySpec) };
    }
    return { keySpec: undefined, keyDescription: `EC ${oidOf(der, params)}` };
  }
  return { keySpec: undefined, keyDescription: alg === OID.ed25519 ? 'Ed25519' : `key ${alg}` };
}

function oidOf(der: Buffer, t: Tlv): string {
  if (t.tag !== 0x06) throw new Error('expected an OBJECT IDENTIFIER');
  return forge.asn1.derToOid(toBinary(contents(der, t)));
}

function timeOf(der: Buffer, t: Tlv): Date {
  const text = contents(der, t).toString('latin1');
  if (t.tag === 0x17) return forge.asn1.utcTimeToDate(text);
  if (t.tag === 0x18) return forge.asn1.generalizedTimeToDate(text);
  throw new Error('expected UTCTime or GeneralizedTime');
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
