import { type KeyObject, randomBytes, sign as cryptoSign } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import { type Certificate, parseCertificate } from './certificate.js';
import { type Asn1, bitString, contextTag, decodeDer, encodeDer, nullValue, oid, seq, smallInteger, time, unsignedInteger } from './der.js';
import { encodeExtension, type RawExtension } from './extensions.js';
import { OID } from './oids.js';

/** Everything that goes into a certificate except the signature. Names and key are raw DER. */
export interface CertificateTemplate {
  /** Positive serial number bytes; random 16 bytes when omitted. */
  serialNumber?: Buffer;
  issuerDer: Buffer;
  subjectDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Buffer;
  extensions: RawExtension[];
}

/** 127 random bits: positive, never zero, within the 20 octets RFC 5280 allows. */
export function randomSerialNumber(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01;
  return b;
}

function signatureAlgorithm(signer: KeyObject): { algId: Asn1; hash: string } {
  if (signer.asymmetricKeyType === 'rsa') return { algId: seq([oid(OID.sha256WithRSAEncryption), nullValue()]), hash: 'sha256' };
  if (signer.asymmetricKeyType === 'ec') {
    const curve = signer.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return { algId: seq([oid(OID.ecdsaWithSHA384)]), hash: 'sha384' };
    if (curve === 'secp521r1') return { algId: seq([oid(OID.ecdsaWithSHA512)]), hash: 'sha512' };
    return { algId: seq([oid(OID.ecdsaWithSHA256)]), hash: 'sha256' };
  }
  throw new Error(`cannot sign with a ${signer.asymmetricKeyType ?? 'unknown'} key`);
}

function buildTbs(template: CertificateTemplate, signer: KeyObject): { tbs: Asn1; tbsDer: Buffer; algId: Asn1; hash: string } {
  // The last guard for every certificate kcarun makes (issue 16: an expired CA once gave NotBefore > NotAfter).
  if (template.notAfter.getTime() <= template.notBefore.getTime()) {
    throw new KcarunError('E_PKI', `refusing to sign a certificate that ends (${template.notAfter.toISOString()}) before it begins (${template.notBefore.toISOString()})`);
  }
  const { algId, hash } = signatureAlgorithm(signer);
  const tbsFields: Asn1[] = [
    contextTag(0, true, [smallInteger(2)]), // v3
    unsignedInteger(template.serialNumber ?? randomSerialNumber()),
    algId,
    decodeDer(template.issuerDer),
    seq([time(template.notBefore), time(template.notAfter)]),
    decodeDer(template.subjectDer),
    decodeDer(template.spkiDer),
  ];
  if (template.extensions.length > 0) tbsFields.push(contextTag(3, true, [seq(template.extensions.map(encodeExtension))]));
  const tbs = seq(tbsFields);
  return { tbs, tbsDer: encodeDer(tbs), algId, hash };
}

function assemble(tbsDer: Buffer, algId: Asn1, signature: Buffer): Certificate {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const tail = encodeDer(seq([algId, bitString(signature)]));
  const body = Buffer.concat([tbsDer, tail.subarray(headerLength(tail))]);
  return parseCertificate(Buffer.concat([derHeader(0x30, body.length), body]));
}

function headerLength(der: Buffer): number {
  const l = der[1] ?? 0;
  return l & 0x80 ? 2 + (l & 0x7f) : 2;
}

function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/**
 * Builds the TBSCertificate with forge.asn1 and signs its DER natively with node:crypto
 * (forge's pure-JS RSA takes ~28 ms per signature and cannot do ECDSA; OpenSSL via node:crypto
 * takes well under a millisecond). RSA: PKCS#1 v1.5 with SHA-256; ECDSA: DER-encoded (r, s).
 */
export function signCertificate(template: CertificateTemplate, signer: KeyObject): Certificate {
  const { tbsDer, algId, hash } = buildTbs(template, signer);
  return assemble(tbsDer, algId, cryptoSign(hash, tbsDer, { key: signer, dsaEncoding: 'der' }));
}

/** The same, with the signature computed on libuv's thread pool: many certificates use every core. */
export async function signCertificateAsync(template: CertificateTemplate, signer: KeyObject): Promise<Certificate> {
  const { tbsDer, algId, hash } = buildTbs(template, signer);
  const signature = await new Promise<Buffer>((resolve, reject) =>
    cryptoSign(hash, tbsDer, { key: signer, dsaEncoding: 'der' }, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  return assemble(tbsDer, algId, signature);
}
