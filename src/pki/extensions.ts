import { isIP } from 'node:net';
import {
  type Asn1,
  bitString,
  bool,
  children,
  contextTag,
  decodeDer,
  encodeDer,
  fromBinary,
  isContext,
  octets,
  oid,
  primitiveBytes,
  readBoolean,
  readOid,
  readSmallInteger,
  seq,
  smallInteger,
  toBinary,
} from './der.js';
import { EKU_NAMES, EKU_OIDS, KEY_USAGE_BITS, type KeyUsageName } from './oids.js';

/** An extension as it sits in the certificate: the value is the raw DER inside extnValue. */
export interface RawExtension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export type SubjectAltName =
  | { type: 'dns'; value: string }
  | { type: 'ip'; value: string }
  | { type: 'uri'; value: string }
  | { type: 'email'; value: string }
  /** otherName, directoryName, ...: kept verbatim on re-issue, shown as their tag. */
  | { type: 'other'; value: string };

export function encodeExtension(ext: RawExtension): Asn1 {
  const parts: Asn1[] = [oid(ext.oid)];
  if (ext.critical) parts.push(bool(true));
  parts.push(octets(ext.value));
  return seq(parts);
}

// --- subjectAltName -------------------------------------------------------------------------

export function decodeSubjectAltNames(value: Buffer): SubjectAltName[] {
  return children(decodeDer(value), 'GeneralNames').map((gn): SubjectAltName => {
    if (isContext(gn, 2)) return { type: 'dns', value: gn.value as string };
    if (isContext(gn, 1)) return { type: 'email', value: gn.value as string };
    if (isContext(gn, 6)) return { type: 'uri', value: gn.value as string };
    if (isContext(gn, 7)) return { type: 'ip', value: formatIp(fromBinary(gn.value as string)) };
    return { type: 'other', value: `[${gn.type}]` };
  });
}

export function encodeSubjectAltNames(names: SubjectAltName[]): Buffer {
  return encodeDer(
    seq(
      names.map((n) => {
        switch (n.type) {
          case 'dns':
            return contextTag(2, false, n.value);
          case 'email':
            return contextTag(1, false, n.value);
          case 'uri':
            return contextTag(6, false, n.value);
          case 'ip':
            return contextTag(7, false, toBinary(parseIp(n.value)));
          case 'other':
            throw new Error(`cannot encode a SAN of type ${n.value}`);
        }
      }),
    ),
  );
}

/** `DNS:a, IP:10.0.0.1` — the form used in tables and error messages. */
export function formatSubjectAltName(n: SubjectAltName): string {
  const prefix = { dns: 'DNS', ip: 'IP', uri: 'URI', email: 'email', other: 'other' }[n.type];
  return `${prefix}:${n.value}`;
}

/** Parses `DNS:x`, `IP:x`, `URI:x`, `email:x`, or a bare value (an IP when it parses as one, else DNS). */
export function parseSubjectAltName(text: string): SubjectAltName {
  const m = /^(DNS|IP|URI|email):(.*)$/i.exec(text);
  if (m) {
    const kind = (m[1] ?? '').toLowerCase();
    const value = m[2] ?? '';
    if (kind === 'ip') return { type: 'ip', value: formatIp(parseIp(value)) };
    return { type: kind === 'dns' ? 'dns' : kind === 'uri' ? 'uri' : 'email', value };
  }
  return isIP(text) ? { type: 'ip', value: formatIp(parseIp(text)) } : { type: 'dns', value: text };
}

export function parseIp(text: string): Buffer {
  const kind = isIP(text);
  if (kind === 4) return Buffer.from(text.split('.').map(Number));
  if (kind !== 6) throw new Error(`not an IP address: ${text}`);
  let v = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(v);
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    v = v.slice(0, -v4[1].length) + `${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = v.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Dotted IPv4, or RFC 5952 compressed IPv6 (`::1`). */
export function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) return `<${b.toString('hex')}>`;
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// --- keyUsage / extKeyUsage / basicConstraints ------------------------------------------------

export function decodeKeyUsage(value: Buffer): KeyUsageName[] {
  const bits = primitiveBytes(decodeDer(value), 'keyUsage').subarray(1);
  return KEY_USAGE_BITS.filter((_, i) => ((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
}

export function encodeKeyUsage(usages: readonly KeyUsageName[]): Buffer {
  const bytes = Buffer.alloc(2);
  let last = -1;
  for (const u of usages) {
    const i = KEY_USAGE_BITS.indexOf(u);
    bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (0x80 >> (i & 7));
    last = Math.max(last, i);
  }
  // DER: no trailing zero bits; the first content byte counts the unused bits of the last byte.
  const used = last >= 0 ? bytes.subarray(0, (last >> 3) + 1) : Buffer.alloc(0);
  const unused = last >= 0 ? 7 - (last & 7) : 0;
  const node = bitString(used);
  node.value = String.fromCharCode(unused) + toBinary(used);
  return encodeDer(node);
}

/** EKU names (serverAuth, clientAuth, ...) or dotted OIDs for unknown ones. */
export function decodeExtKeyUsage(value: Buffer): string[] {
  return children(decodeDer(value), 'ExtKeyUsage').map((n) => {
    const o = readOid(n);
    return EKU_NAMES[o] ?? o;
  });
}

export function encodeExtKeyUsage(usages: readonly string[]): Buffer {
  return encodeDer(seq(usages.map((u) => oid(EKU_OIDS[u] ?? u))));
}

export interface BasicConstraints {
  ca: boolean;
  pathLength?: number;
}

export function decodeBasicConstraints(value: Buffer): BasicConstraints {
  const parts = children(decodeDer(value), 'BasicConstraints');
  let ca = false;
  let pathLength: number | undefined;
  for (const p of parts) {
    if (p.type === 1) ca = readBoolean(p);
    else if (p.type === 2) pathLength = readSmallInteger(p);
  }
  return pathLength === undefined ? { ca } : { ca, pathLength };
}

export function encodeBasicConstraints(bc: BasicConstraints): Buffer {
  const parts: Asn1[] = [];
  if (bc.ca) parts.push(bool(true));
  if (bc.pathLength !== undefined) parts.push(smallInteger(bc.pathLength));
  return encodeDer(seq(parts));
}

// --- key identifiers ---------------------------------------------------------------------------

export function encodeSubjectKeyIdentifier(id: Buffer): Buffer {
  return encodeDer(octets(id));
}

export function decodeSubjectKeyIdentifier(value: Buffer): Buffer {
  return primitiveBytes(decodeDer(value), 'subjectKeyIdentifier');
}

export function encodeAuthorityKeyIdentifier(id: Buffer): Buffer {
  return encodeDer(seq([contextTag(0, false, toBinary(id))]));
}

export function decodeAuthorityKeyIdentifier(value: Buffer): Buffer | undefined {
  const kid = children(decodeDer(value), 'AuthorityKeyIdentifier').find((n) => isContext(n, 0));
  return kid ? fromBinary(kid.value as string) : undefined;
}

