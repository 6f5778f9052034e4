/** PEM text <-> DER blocks. */
import { containsPrivateKey as containsPrivateKeyText } from '../core/redact.js';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in a text, in order (text between blocks is ignored, as OpenSSL does). */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const label = m[1] ?? '';
    const body = (m[2] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
    blocks.push({ label, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** True when a text holds private key material of any PEM flavour (used to keep keys out of outputs). */
export function containsPrivateKey(text: string): boolean {
  return containsPrivateKeyText(text);
}
