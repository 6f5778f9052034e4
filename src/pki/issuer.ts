import { createHash } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import type { Certificate } from './certificate.js';
import { contextTag, decodeDer, encodeDer, seq, toBinary } from './der.js';
import { encodeAuthorityKeyIdentifier } from './extensions.js';

/**
 * The command of the downtime playbook, for every message that says a CA has expired: then no
 * zero-downtime rotation is possible (kubeadm #1783) and docs/playbooks-other.md describes the path.
 */
export const OFFLINE_REPLACE_COMMAND = 'kcarun playbooks/offline-replace.yaml -i <inventory> --yes -e accept_downtime=true';

/**
 * What `kubeadm join --discovery-token-ca-cert-hash` pins: `sha256:` + the hex SHA-256 of the CA's
 * SubjectPublicKeyInfo DER (kubeadm `pubkeypin.Hash`), the same as
 * `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`. It is not the
 * certificate fingerprint: a re-signed CA with the same key keeps it, a new key changes it.
 */
export function discoveryTokenCaCertHash(ca: Certificate): string {
  return `sha256:${createHash('sha256').update(ca.spkiDer).digest('hex')}`;
}

/** `AB:CD:...`, the way `openssl x509 -text` prints key identifiers. */
export function formatKeyId(id: Buffer | undefined): string | null {
  return id ? [...id].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':') : null;
}

/** Self-issued (issuer name = subject name): a root. Otherwise an intermediate some other CA signed. */
export function isIntermediateCa(ca: Certificate): boolean {
  return ca.isCa && !ca.issuerDer.equals(ca.subjectDer);
}

/**
 * The authorityKeyIdentifier value of a certificate `ca` signs (RFC 5280 4.2.1.1): the CA's own
 * subjectKeyIdentifier when it carries one. A CA without one gets the issuer+serial form
 * (authorityCertIssuer = the CA's issuer name, authorityCertSerialNumber = its serial), which is
 * what OpenSSL's `authorityKeyIdentifier=keyid,issuer` falls back to; a keyid the CA does not
 * carry would point path builders (Go, OpenSSL) at a key id no certificate has.
 */
export function authorityKeyIdentifierFor(ca: Certificate): Buffer {
  if (ca.subjectKeyId) return encodeAuthorityKeyIdentifier(ca.subjectKeyId);
  // [1] GeneralNames { [4] directoryName (EXPLICIT: Name is a CHOICE) }, [2] IMPLICIT INTEGER
  return encodeDer(
    seq([
      contextTag(1, true, [contextTag(4, true, [decodeDer(ca.issuerDer)])]),
      contextTag(2, false, toBinary(Buffer.from(ca.serialNumber, 'hex'))),
    ]),
  );
}

/**
 * Refuses to sign with a CA that has expired (or is not valid yet): whatever it signs would end
 * before it begins, or is trusted by nobody. E_PKI, naming the downtime playbook for an expired one.
 */
export function assertCaCanSign(ca: Certificate, now: Date): void {
  if (!ca.isCa) throw new KcarunError('E_PKI', `"${ca.subjectText}" is not a CA certificate (basicConstraints CA:TRUE missing): it cannot sign`);
  if (ca.notAfter <= now) {
    throw new KcarunError(
      'E_PKI',
      `CA "${ca.subjectText}" expired on ${ca.notAfter.toISOString()}: it cannot sign (a certificate from it would end before it begins, and nothing trusts it any more). ` +
        `A rotation without downtime is impossible now; replace everything with the downtime playbook: ${OFFLINE_REPLACE_COMMAND}`,
    );
  }
  if (ca.notBefore > now) {
    throw new KcarunError('E_PKI', `CA "${ca.subjectText}" is not valid before ${ca.notBefore.toISOString()}: check this machine's clock before signing with it`);
  }
}
