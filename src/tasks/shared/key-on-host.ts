import { stderrTail } from '../../core/errors.js';
import { shellQuote } from '../../core/shell.js';
import { parsePemBlocks } from '../../pki/pem.js';
import type { Transport } from '../../transport/types.js';

/** Why a key's public half could not be had: no file, no openssl on the host, or not a key openssl reads. */
export type KeyOnHostFailure = { reason: 'missing' | 'no-openssl' | 'unreadable'; detail: string };

/**
 * The public half (SubjectPublicKeyInfo DER) of a private key file, computed ON the host with
 * `openssl pkey -pubout`: the private key is never read off the host (docs/pki.md). Compare it
 * with a certificate's spkiDer. An encrypted key gets `passphrase` on openssl's stdin, never on a
 * command line.
 */
export async function publicKeyOnHost(
  transport: Transport,
  keyPath: string,
  options: { become?: boolean; passphrase?: string; signal?: AbortSignal } = {},
): Promise<{ spki: Buffer } | KeyOnHostFailure> {
  const q = shellQuote(keyPath);
  const passin = options.passphrase !== undefined ? ' -passin stdin' : '';
  // 66 (EX_NOINPUT): the file is not there; 127: the shell found no openssl.
  const res = await transport.exec(`[ -e ${q} ] || exit 66; openssl pkey -in ${q} -pubout${passin}`, {
    become: options.become,
    signal: options.signal,
    ...(options.passphrase !== undefined ? { stdin: `${options.passphrase}\n` } : {}),
  });
  if (res.rc === 66) return { reason: 'missing', detail: `${keyPath} does not exist` };
  if (res.rc === 127) return { reason: 'no-openssl', detail: 'openssl is not installed on the host' };
  const pub = res.rc === 0 ? parsePemBlocks(res.stdout).find((b) => b.label === 'PUBLIC KEY') : undefined;
  if (!pub) return { reason: 'unreadable', detail: `${keyPath} is not a private key openssl can read${res.stderr.trim() ? `: ${stderrTail(res.stderr, { lines: 1 })}` : ''}` };
  return { spki: pub.der };
}
