/**
 * "Where does this certificate live", answered once, in kubeadm's manner
 * (cmd/kubeadm/app/phases/certs/renewal/readwriter.go: a small certificateReadWriter interface
 * with one implementation for a PKI file and one for a kubeconfig's embedded data), so that
 * cert-reissue, cert-check and cert-install never re-derive it. A PKI file may hold its key too
 * (the kubelet's kubelet-client-current.pem); a kubeconfig either embeds its user's certificate
 * or names such a file.
 */
import { KcarunError } from '../../core/errors.js';
import { containsPrivateKey, privateKeyBlock } from '../../core/redact.js';
import { kubeconfigClientCert } from '../../edit/kubeconfig.js';
import { type Certificate, parseCertificates } from '../../pki/certificate.js';
import { statAndRead } from '../../transport/stat-and-read.js';
import type { FileStat, Transport } from '../../transport/types.js';

/** A certificate as found where it lives. */
export interface StoredCertificate {
  /** The first certificate (the one the location is about; a chain may follow it); undefined when there is none. */
  certificate: Certificate | undefined;
  /** The certificates stored after it (intermediates of a leaf+chain file). */
  chain: Certificate[];
  /** Why the PEM could not be parsed (then `certificate` is undefined): a finding for a check, an error elsewhere. */
  malformed?: Error;
  /** The bytes of the file (or of the embedded data). Hold a key when `holdsKey`: never log them. */
  content: Buffer;
  /** A private key shares the file (kubelet-client-current.pem). */
  holdsKey: boolean;
  /** That key's PEM block, byte for byte, when complete. Never logged or returned. */
  keyBlock?: string;
  /** Of the file the path names (through a symlink); null for embedded data. */
  st: FileStat | null;
}

export interface CertificateLocation {
  readonly kind: 'pki-file' | 'kubeconfig-embedded';
  /** For messages: the file, or `<kubeconfig> (client-certificate-data)`. */
  readonly label: string;
  /** The file holding the certificate (the kubeconfig itself when embedded). */
  readonly path: string;
  /** The key's own file as declared (a PKI pair's key, a kubeconfig's client-key); undefined when not declared. */
  readonly keyPath?: string;
  /** The kubeconfig that embeds or names this certificate. */
  readonly kubeconfig?: string;
  /** What is stored now; null when the file does not exist. Transport errors throw. */
  read(): Promise<StoredCertificate | null>;
}

export interface PkiFileLocation extends CertificateLocation {
  readonly kind: 'pki-file';
  /**
   * The file's new content with `certificate` in place of the stored one: the certificate alone,
   * or, when the file holds its key, the certificate then the key (the order the kubelet writes),
   * `newKey` (key policy rotate) or the key it holds now.
   */
  render(stored: StoredCertificate, certificate: Certificate, newKey?: string): string;
}

function stored(content: Buffer, st: FileStat | null): StoredCertificate {
  const text = content.toString('latin1');
  const found: StoredCertificate = { certificate: undefined, chain: [], content, holdsKey: containsPrivateKey(text), keyBlock: privateKeyBlock(text), st };
  try {
    [found.certificate, ...found.chain] = parseCertificates(content);
  } catch (err) {
    found.malformed = err as Error;
  }
  return found;
}

/** A certificate file on a host (read through `become`), its key beside it or inside it. */
export function pkiFileLocation(transport: Transport, become: boolean | undefined, file: { cert: string; key?: string }, kubeconfig?: string): PkiFileLocation {
  return {
    kind: 'pki-file',
    label: file.cert,
    path: file.cert,
    keyPath: file.key,
    kubeconfig,
    async read() {
      const { st, content } = await statAndRead(transport, file.cert, become);
      return content === null ? null : stored(content, st);
    },
    render(current, certificate, newKey) {
      const key = newKey ?? current.keyBlock;
      if (current.keyBlock === undefined || key === undefined) return certificate.pem;
      return `${certificate.pem.replace(/\n*$/, '\n')}${key.replace(/\n*$/, '\n')}`;
    },
  };
}

/** The client certificate a kubeconfig embeds (`client-certificate-data`), already read with it. */
function embeddedLocation(kubeconfig: string, certPem: Buffer): CertificateLocation {
  return {
    kind: 'kubeconfig-embedded',
    label: `${kubeconfig} (client-certificate-data)`,
    path: kubeconfig,
    kubeconfig,
    read: async () => stored(certPem, null),
  };
}

/**
 * Where the client certificate of a kubeconfig on the host lives, found the way the kubelet finds
 * its own: embedded data, or the file `client-certificate` names (kubelet-client-current.pem holds
 * its key too; `client-key` is its keyPath). null when the kubeconfig does not exist; 'none' when
 * its user has no client certificate (token or exec credentials). E_PKI for a broken kubeconfig.
 */
export async function kubeconfigClientLocation(
  transport: Transport,
  become: boolean | undefined,
  kubeconfig: string,
): Promise<CertificateLocation | 'none' | null> {
  const { content } = await statAndRead(transport, kubeconfig, become);
  if (content === null) return null;
  const client = kubeconfigClientCert(content.toString('utf8'), kubeconfig, transport.host);
  if (!client) return 'none';
  if (client.kind === 'embedded') return embeddedLocation(kubeconfig, client.certPem);
  return pkiFileLocation(transport, become, { cert: client.certPath, key: client.keyPath }, kubeconfig);
}

/**
 * The stored certificate; the parse error when the PEM is malformed; E_PKI naming the host and file
 * (or `what`) when it holds none.
 */
export function requireCertificate(host: string, location: CertificateLocation, found: StoredCertificate, what = `${location.label} holds no PEM certificate`): Certificate {
  if (found.malformed) throw found.malformed;
  if (found.certificate) return found.certificate;
  throw new KcarunError('E_PKI', `${host}: ${what}`, { host, path: location.path });
}
