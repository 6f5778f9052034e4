/**
 * A minimal DER reader that yields the exact byte ranges of elements. Parsing a certificate through
 * it keeps the raw subject, issuer, public key and extension values byte for byte (what a
 * re-issue copies) and avoids decoding and re-encoding the whole structure.
 */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the contents. */
  contentStart: number;
  end: number;
}

export function readTlv(buf: Buffer, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new Error('truncated DER');
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not used in certificates');
  let len = buf[offset + 1] ?? 0;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[p++] ?? 0);
  }
  const end = p + len;
  if (end > limit) throw new Error('DER length beyond the end of its container');
  return { tag, start: offset, contentStart: p, end };
}

export function childrenOf(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export const whole = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.start, t.end);
export const contents = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.contentStart, t.end);
