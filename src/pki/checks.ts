import type { KeyObject } from 'node:crypto';
import { type Certificate, daysLeft, isIssuedBy } from './certificate.js';
import { formatSubjectAltName, parseSubjectAltName } from './extensions.js';
import { OFFLINE_REPLACE_COMMAND } from './issuer.js';
import { keyMatchesSpki } from './keys.js';

export type ProblemKind =
  | 'expired'
  | 'not-yet-valid'
  | 'expiring'
  | 'untrusted'
  | 'ca-expired'
  | 'key-mismatch'
  | 'missing-san'
  | 'missing-usage'
  | 'same-subject'
  | 'clock-skew';

/** One thing wrong with a certificate; `message` is for an operator and never holds key material. */
export interface Problem {
  kind: ProblemKind;
  message: string;
}

export interface ChainResult {
  /** The certificates from the leaf's issuer up to a self-signed root, all from the bundle. */
  chain: Certificate[];
  trusted: boolean;
}

/**
 * Go (and so every Kubernetes component) trusts a certificate when a certificate of its CA pool
 * signed it, self-signed or not; the rest of the chain is collected for reports (and so that an
 * expired CA further up shows).
 */
export function verifyChain(leaf: Certificate, bundle: readonly Certificate[]): ChainResult {
  const chain: Certificate[] = [];
  let current = leaf;
  while (chain.length < 8) {
    const issuer = bundle.find((ca) => ca.isCa && !chain.includes(ca) && isIssuedBy(current, ca));
    if (!issuer) break;
    chain.push(issuer);
    if (issuer.subjectDer.equals(issuer.issuerDer)) break;
    current = issuer;
  }
  return { chain, trusted: chain.length > 0 };
}

export interface CheckOptions {
  now: Date;
  /** The CAs the certificate must chain to. */
  bundle?: readonly Certificate[];
  /** A problem when fewer days than this are left (default 0: only expired). */
  minDaysLeft?: number;
  /** SANs that must be present: `DNS:x`, `IP:x`, or bare values. */
  requiredSans?: readonly string[];
  requiredExtKeyUsage?: readonly string[];
  privateKey?: KeyObject;
}

export function checkCertificate(cert: Certificate, options: CheckOptions): Problem[] {
  const problems: Problem[] = [];
  const { now } = options;
  const left = daysLeft(cert, now);
  if (cert.notAfter <= now) problems.push({ kind: 'expired', message: `expired on ${cert.notAfter.toISOString()}` });
  else if (left < (options.minDaysLeft ?? 0)) {
    problems.push({ kind: 'expiring', message: `expires in ${left} days (${cert.notAfter.toISOString()}), under the ${options.minDaysLeft} days threshold` });
  }
  if (cert.notBefore > now) problems.push({ kind: 'not-yet-valid', message: `not valid before ${cert.notBefore.toISOString()} (clock skew?)` });
  if (options.bundle) {
    const { chain, trusted } = verifyChain(cert, options.bundle);
    if (!trusted) {
      problems.push({
        kind: 'untrusted',
        message: `issued by "${cert.issuerText}", which chains to no CA of the bundle (${options.bundle.map((c) => `"${c.subjectText}"`).join(', ') || 'empty'})`,
      });
    }
    for (const ca of chain) {
      if (ca.notAfter <= now) {
        problems.push({
          kind: 'ca-expired',
          message: `its CA "${ca.subjectText}" expired on ${ca.notAfter.toISOString()}: nothing it signed is trusted any more; only the downtime path is left (offline-replace.yaml): ${OFFLINE_REPLACE_COMMAND}`,
        });
      }
    }
  }
  for (const wanted of options.requiredSans ?? []) {
    const san = parseSubjectAltName(wanted);
    if (!cert.subjectAltNames.some((s) => s.type === san.type && s.value === san.value)) {
      problems.push({ kind: 'missing-san', message: `lacks SAN ${formatSubjectAltName(san)}` });
    }
  }
  for (const eku of options.requiredExtKeyUsage ?? []) {
    if (!(cert.extKeyUsage ?? []).includes(eku)) problems.push({ kind: 'missing-usage', message: `lacks extended key usage ${eku}` });
  }
  if (options.privateKey && !keyMatchesSpki(options.privateKey, cert.spkiDer)) {
    problems.push({ kind: 'key-mismatch', message: 'the private key does not match the certificate' });
  }
  return problems;
}

/** A CA that has expired (or will within `minDaysLeft`): rotation without downtime is impossible then. */
export function checkCa(ca: Certificate, now: Date): Problem[] {
  if (!ca.isCa) return [{ kind: 'untrusted', message: `"${ca.subjectText}" is not a CA certificate (basicConstraints CA:TRUE missing)` }];
  if (ca.notAfter <= now) {
    return [{ kind: 'ca-expired', message: `CA "${ca.subjectText}" expired on ${ca.notAfter.toISOString()}: zero-downtime rotation is impossible, use the downtime path (offline-replace.yaml): ${OFFLINE_REPLACE_COMMAND}` }];
  }
  return [];
}

export function checkNewCaSubject(newCa: Certificate, oldCa: Certificate): Problem[] {
  if (!newCa.subjectDer.equals(oldCa.subjectDer)) return [];
  return [{ kind: 'same-subject', message: `the new CA has the same subject as the old one ("${oldCa.subjectText}"): clients would confuse them (kops #11964)` }];
}

/** A host whose clock differs from ours by more than `toleranceSeconds`. */
export function checkClockSkew(hostNow: Date, localNow: Date, toleranceSeconds: number): Problem[] {
  const skew = (hostNow.getTime() - localNow.getTime()) / 1000;
  if (Math.abs(skew) <= toleranceSeconds) return [];
  return [{ kind: 'clock-skew', message: `clock is ${skew > 0 ? 'ahead' : 'behind'} by ${Math.round(Math.abs(skew))} s (tolerance ${toleranceSeconds} s)` }];
}

/**
 * Whether a certificate was made outside the cluster's CAs by the program that serves it: it is
 * self-signed, or signed by a CA certificate that travels in the same file (or TLS chain) and is none
 * of `clusterCas`. That is the kubelet's own serving certificate when serverTLSBootstrap is off: the
 * kubelet writes /var/lib/kubelet/pki/kubelet.crt as [leaf "CN=<node>@<ts>", its CA
 * "CN=<node>-ca@<ts>"] (k8s.io/client-go/util/cert GenerateSelfSignedCertKey, called by the kubelet's
 * server setup when tlsCertFile is unset). Such a certificate is outside a CA rotation: nothing of the
 * cluster issued it, so nothing is re-issued or checked against the cluster CA.
 *
 * `chain` is the file's (or the served chain's) certificates, leaf first; `clusterCas` every CA of the
 * rotation (old and new). Returns false for a certificate that any cluster CA issued (also when the
 * file carries that CA along, a full-chain file) and for one issued by a foreign CA not in the file.
 */
export function isSelfIssuedOutsideCluster(chain: readonly Certificate[], clusterCas: readonly Certificate[]): boolean {
  const leaf = chain[0];
  if (!leaf) return false;
  if (clusterCas.some((ca) => isIssuedBy(leaf, ca))) return false;
  const own = [leaf, ...chain.slice(1).filter((c) => c.isCa)];
  const known = new Set(clusterCas.map((c) => c.fingerprintSha256));
  return own.some((ca) => !known.has(ca.fingerprintSha256) && isIssuedBy(leaf, ca));
}
