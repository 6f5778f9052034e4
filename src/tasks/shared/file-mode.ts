/** The mode a file-upload or file-fetch writes when the playbook gives none. */
import { containsPrivateKey } from '../../core/redact.js';

/** A `mode` param ('0600') as permission bits. */
export function parseMode(mode: string | undefined): number | undefined {
  return mode === undefined ? undefined : parseInt(mode, 8);
}

/** Key material is never left readable by others, even when the playbook forgets `mode`. */
export function looksLikePrivateKey(name: string, data: Buffer): boolean {
  return /(^|[-_.])key(\.pem)?$/i.test(name) || containsPrivateKey(data.subarray(0, 4096).toString('latin1'));
}
