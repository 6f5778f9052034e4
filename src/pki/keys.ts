import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { KcarunError } from '../core/errors.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The key algorithms kcarun creates: what kubeadm and hand-made clusters use. */
export type KeySpec = { type: 'rsa'; bits: number } | { type: 'ecdsa'; curve: 'P-256' | 'P-384' | 'P-521' };

const NODE_CURVES = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Generated on libuv's thread pool, so several keys are made in parallel. */
export async function generateKey(spec: KeySpec): Promise<KeyPair> {
  if (spec.type === 'rsa') {
    if (spec.bits < 2048) throw new KcarunError('E_PKI', `RSA keys shorter than 2048 bits are refused (asked for ${spec.bits})`);
    return generateKeyPairAsync('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 });
  }
  return generateKeyPairAsync('ec', { namedCurve: NODE_CURVES[spec.curve] });
}

export function formatKeySpec(spec: KeySpec): string {
  return spec.type === 'rsa' ? `RSA ${spec.bits}` : `ECDSA ${spec.curve}`;
}

export function spkiDer(publicKey: KeyObject): Buffer {
  return publicKey.export({ type: 'spki', format: 'der' });
}

/**
 * PEM of a private key in the form kubeadm writes: PKCS#1 for RSA, SEC1 for EC. With a
 * passphrase: PKCS#8 encrypted with AES-256-CBC (scrypt is not in PKCS#8, PBKDF2 is what OpenSSL reads).
 */
export function privateKeyToPem(key: KeyObject, passphrase?: string): string {
  if (passphrase !== undefined) {
    return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
  }
  if (key.asymmetricKeyType === 'rsa') return key.export({ type: 'pkcs1', format: 'pem' }) as string;
  if (key.asymmetricKeyType === 'ec') return key.export({ type: 'sec1', format: 'pem' }) as string;
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Never puts the key text in the error: only says that it could not be read. */
export function loadPrivateKey(pem: string | Buffer, what: string, passphrase?: string): KeyObject {
  try {
    return createPrivateKey(passphrase === undefined ? { key: pem } : { key: pem, passphrase });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem.toString());
    throw new KcarunError(
      'E_PKI',
      encrypted && passphrase === undefined
        ? `${what} is encrypted: set KCARUN_CA_PASSPHRASE`
        : `${what} is not a readable private key${encrypted ? ' (wrong passphrase?)' : ''}`,
      {},
      { cause: new Error((err as Error).message.replace(/-----BEGIN[\s\S]*/g, '')) },
    );
  }
}

export function publicKeyFromSpki(der: Buffer): KeyObject {
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** True when the private key is the one whose public half the certificate holds. */
export function keyMatchesSpki(privateKey: KeyObject, certSpkiDer: Buffer): boolean {
  return spkiDer(createPublicKey(privateKey)).equals(certSpkiDer);
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
export function keyIdentifier(publicKeyBits: Buffer): Buffer {
  return createHash('sha1').update(publicKeyBits).digest();
}
