/**
 * Service-account tokens as the apiserver makes them: RS256 JWTs signed with
 * --service-account-signing-key-file and checked against --service-account-key-file.
 */
import { createSign, createVerify } from 'node:crypto';

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function signToken(key: string, claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${payload}`);
  return `${header}.${payload}.${b64url(signer.sign(key))}`;
}

/** The token's subject when its signature verifies with one of the public keys and it has not expired. */
export function verifyToken(token: string, publicKeys: string[]): string | undefined {
  const [header, payload, sig] = token.split('.');
  if (!header || !payload || !sig) return undefined;
  const ok = publicKeys.some((k) => {
    const v = createVerify('RSA-SHA256');
    v.update(`${header}.${payload}`);
    try {
      return v.verify(k, Buffer.from(sig, 'base64url'));
    } catch {
      return false;
    }
  });
  if (!ok) return undefined;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub?: string; exp?: number };
  if (claims.exp && claims.exp * 1000 < Date.now()) return undefined;
  return claims.sub;
}
