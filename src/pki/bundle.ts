import type { Certificate } from './certificate.js';

export type BundleMode = 'new+old' | 'new';

/**
 * A CA bundle in PEM: the new CA(s) first (older kubeadm reads only the first certificate of
 * cluster-info, kubeadm #1399), then the old ones unless `mode` is `new`. Duplicates are dropped,
 * so rebuilding from a file that already is a bundle does not grow it.
 */
export function buildBundle(newCas: readonly Certificate[], oldCas: readonly Certificate[], mode: BundleMode): { pem: string; certificates: Certificate[] } {
  const seen = new Set<string>();
  const certificates: Certificate[] = [];
  for (const c of mode === 'new' ? newCas : [...newCas, ...oldCas]) {
    if (seen.has(c.fingerprintSha256)) continue;
    seen.add(c.fingerprintSha256);
    certificates.push(c);
  }
  return { pem: certificates.map((c) => c.pem).join(''), certificates };
}
