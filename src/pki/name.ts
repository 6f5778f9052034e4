import { type Asn1, children, decodeDer, encodeDer, oid, readOid, readString, seq, set, utf8 } from './der.js';
import { COMMON_NAME, NAME_ATTRIBUTES } from './oids.js';

/** One attribute of a distinguished name, in encoding order. `rdn` groups multi-valued RDNs. */
export interface NameAttribute {
  oid: string;
  /** Short name (CN, O, ...) or the dotted OID when unknown. */
  short: string;
  value: string;
  rdn: number;
}

export function parseName(nameDer: Buffer): NameAttribute[] {
  const attrs: NameAttribute[] = [];
  children(decodeDer(nameDer), 'Name').forEach((rdnSet, rdn) => {
    for (const atv of children(rdnSet, 'RDN')) {
      const [typeNode, valueNode] = children(atv, 'AttributeTypeAndValue');
      if (!typeNode || !valueNode) throw new Error('malformed AttributeTypeAndValue');
      const o = readOid(typeNode);
      attrs.push({ oid: o, short: NAME_ATTRIBUTES[o] ?? o, value: readString(valueNode), rdn });
    }
  });
  return attrs;
}

/** `O=system:masters, CN=kubernetes-admin`: encoding order, as `openssl x509 -subject` shows it. */
export function formatName(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${a.short}=${a.value}`).join(', ');
}

export function commonNameOf(attrs: NameAttribute[]): string | undefined {
  return attrs.find((a) => a.oid === COMMON_NAME)?.value;
}

/** A Name from (OID, value) pairs, one attribute per RDN, values as UTF8String. */
export function buildName(attrs: Array<{ oid: string; value: string }>): Buffer {
  return encodeDer(seq(attrs.map((a) => set([seq([oid(a.oid), utf8(a.value)])]))));
}

/**
 * The same Name with every CN value replaced (others keep their exact encoding), or a CN
 * appended when there is none.
 */
export function replaceCommonName(nameDer: Buffer, newCommonName: string): Buffer {
  const name = decodeDer(nameDer);
  const rdns = children(name, 'Name');
  let replaced = false;
  for (const rdnSet of rdns) {
    for (const atv of children(rdnSet, 'RDN')) {
      const parts = children(atv, 'AttributeTypeAndValue');
      if (parts[0] && readOid(parts[0]) === COMMON_NAME) {
        parts[1] = utf8(newCommonName);
        replaced = true;
      }
    }
  }
  if (!replaced) rdns.push(set([seq([oid(COMMON_NAME), utf8(newCommonName)])]));
  return encodeDer(name as Asn1);
}
