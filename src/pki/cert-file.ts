import { KcarunError } from '../core/errors.js';
import { type Certificate, parseCertificate } from './certificate.js';
import { childrenOf, readTlv, whole, type Tlv } from './der-reader.js';
import { parsePemBlocks } from './pem.js';

/** The DER of OID 1.2.840.113549.1.7.2 (PKCS#7 signedData), RFC 2315 section 9.1. */
const SIGNED_DATA_OID = Buffer.from('06092a864886f70d010702', 'hex');

/**
 * The certificates in a file's bytes, whatever its encoding: PEM CERTIFICATE blocks, PEM PKCS7
 * bundles, one DER certificate, or a DER PKCS#7 bundle (.p7b). A file that claims certificates it
 * does not hold whole (a PEM block cut short, damaged DER) throws E_PKI: `certs inspect` and
 * `certs expiry` report it as an error row, never as "no certificates" (issue 13, item 7).
 * Returns [] for bytes that are none of these (a kubeconfig, a config file).
 */
export function certificatesInFile(content: Buffer, what: string): Certificate[] {
  const text = content.toString('latin1');
  const fail = (why: string, cause?: unknown): never => {
    throw new KcarunError('E_PKI', `${what}: ${why}`, {}, cause === undefined ? undefined : { cause });
  };
  if (text.includes('-----BEGIN ')) {
    const begun = (text.match(/-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----/g) ?? []).length + (text.match(/-----BEGIN PKCS7-----/g) ?? []).length;
    const certificates: Certificate[] = [];
    let blocks = 0;
    for (const block of parsePemBlocks(text)) {
      try {
        if (block.label === 'CERTIFICATE' || block.label === 'TRUSTED CERTIFICATE' || block.label === 'X509 CERTIFICATE') {
          blocks++;
          certificates.push(parseCertificate(block.der));
        } else if (block.label === 'PKCS7') {
          blocks++;
          certificates.push(...(pkcs7Certificates(block.der) ?? fail('a PKCS7 block is not a PKCS#7 certificate bundle')));
        }
      } catch (err) {
        if (err instanceof KcarunError) throw err;
        fail(`a ${block.label} block cannot be read (${(err as Error).message})`, err);
      }
    }
    if (blocks < begun) fail(`${begun - blocks} certificate block(s) are cut short or damaged (a BEGIN without its END?)`);
    return certificates;
  }
  if (content[0] !== 0x30) return [];
  let top: Tlv;
  try {
    top = readTlv(content, 0);
  } catch (err) {
    return fail(`starts like DER but cannot be read (${(err as Error).message})`, err);
  }
  if (top.end !== content.length) fail(`DER data of ${top.end} bytes in a file of ${content.length}: cut short or trailing bytes`);
  const bundle = safely(() => pkcs7Certificates(content));
  if (bundle) return bundle;
  try {
    return [parseCertificate(Buffer.from(content))];
  } catch (err) {
    return fail(`DER that is neither a certificate nor a PKCS#7 bundle (${(err as Error).message})`, err);
  }
}

/** The certificates of a PKCS#7 SignedData (ContentInfo); undefined when `der` is not one. */
function pkcs7Certificates(der: Buffer): Certificate[] | undefined {
  const top = readTlv(der, 0);
  const [oid, explicit] = childrenOf(der, top);
  if (top.tag !== 0x30 || !oid || !whole(der, oid).equals(SIGNED_DATA_OID) || explicit?.tag !== 0xa0) return undefined;
  const [signedData] = childrenOf(der, explicit);
  if (!signedData) return [];
  // SignedData: version, digestAlgorithms, contentInfo, [0] IMPLICIT certificates, ...
  const certificates = childrenOf(der, signedData).find((t) => t.tag === 0xa0);
  if (!certificates) return [];
  return childrenOf(der, certificates)
    .filter((t) => t.tag === 0x30)
    .map((t) => parseCertificate(Buffer.from(whole(der, t))));
}

function safely<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
