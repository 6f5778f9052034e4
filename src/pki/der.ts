import forge from 'node-forge';

/**
 * Thin helpers over forge.asn1. forge works on "binary strings" (one char per byte); everything
 * outside this module uses Buffers, so the conversion happens only here.
 */
export type Asn1 = forge.asn1.Asn1;

const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

export const toBinary = (b: Buffer): string => b.toString('binary');
export const fromBinary = (s: string): Buffer => Buffer.from(s, 'binary');

/** Strict DER decode. BIT STRINGs are left opaque so that re-encoding gives back the same bytes. */
export function decodeDer(der: Buffer): Asn1 {
  // @types/node-forge only knows the old boolean `strict` argument; forge 1.x takes these options.
  const options = { strict: true, parseAllBytes: true, decodeBitStrings: false } as unknown as boolean;
  return asn1.fromDer(toBinary(der), options);
}

export function encodeDer(node: Asn1): Buffer {
  return fromBinary(asn1.toDer(node).getBytes());
}

export function children(node: Asn1, what: string): Asn1[] {
  if (!Array.isArray(node.value)) throw new Error(`${what}: expected a constructed ASN.1 value`);
  return node.value;
}

export function primitiveBytes(node: Asn1, what: string): Buffer {
  if (typeof node.value !== 'string') throw new Error(`${what}: expected a primitive ASN.1 value`);
  return fromBinary(node.value);
}

export function isContext(node: Asn1, tag: number): boolean {
  return node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === tag;
}

export const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const set = (items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
export const nullValue = (): Asn1 => asn1.create(U, T.NULL, false, '');
export const octets = (b: Buffer): Asn1 => asn1.create(U, T.OCTETSTRING, false, toBinary(b));
/** A BIT STRING holding whole bytes (0 unused bits), as for keys and signatures. */
export const bitString = (b: Buffer): Asn1 => asn1.create(U, T.BITSTRING, false, `\x00${toBinary(b)}`);
export const utf8 = (s: string): Asn1 => asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(s));
export const printable = (s: string): Asn1 => asn1.create(U, T.PRINTABLESTRING, false, s);
export const ia5 = (s: string): Asn1 => asn1.create(U, T.IA5STRING, false, s);
/** A non-negative INTEGER from big-endian magnitude bytes (a leading 0x00 is added when needed). */
export function unsignedInteger(magnitude: Buffer): Asn1 {
  let b = magnitude;
  while (b.length > 1 && b[0] === 0 && (b[1] ?? 0) < 0x80) b = b.subarray(1);
  if ((b[0] ?? 0) >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return asn1.create(U, T.INTEGER, false, toBinary(b));
}
export const smallInteger = (n: number): Asn1 => asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
export const contextTag = (tag: number, constructed: boolean, value: Asn1[] | string): Asn1 =>
  asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, constructed, value);

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Asn1 {
  const y = date.getUTCFullYear();
  if (y >= 1950 && y < 2050) return asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(date));
  return asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

export function readOid(node: Asn1): string {
  if (node.type !== T.OID) throw new Error('expected an OBJECT IDENTIFIER');
  return asn1.derToOid(node.value as string);
}

export function readBoolean(node: Asn1): boolean {
  return (node.value as string) !== '\x00';
}

export function readSmallInteger(node: Asn1): number {
  return asn1.derToInteger(node.value as string);
}

/** String content of a directory string / IA5String etc. as text. */
export function readString(node: Asn1): string {
  const v = node.value as string;
  if (node.type === T.UTF8) return forge.util.decodeUtf8(v);
  if (node.type === T.BMPSTRING) {
    let s = '';
    for (let i = 0; i + 1 < v.length; i += 2) s += String.fromCharCode((v.charCodeAt(i) << 8) | v.charCodeAt(i + 1));
    return s;
  }
  return v;
}

export const ASN1_TYPE = T;
