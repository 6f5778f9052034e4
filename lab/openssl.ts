/**
 * The lab's old PKI, made with the `openssl` CLI only (never kcarun's src/pki code), so that kcarun
 * is tested against certificates it did not make itself. `openssl ca` is used because it is the one
 * OpenSSL 3.0 command that can backdate a certificate (-startdate): the lab's CAs look like 10-year
 * CAs issued long ago that are now close to expiry.
 */
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './exec.js';

export interface KeyPair {
  certFile: string;
  keyFile: string;
}

export interface Validity {
  start: Date;
  end: Date;
}

export interface CertRequest {
  /** e.g. [['O', 'system:nodes'], ['CN', 'system:node:cp1']] */
  subject: Array<[string, string]>;
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'ca' | 'server' | 'client' | 'peer';
  validity: Validity;
  /** Issuer; omitted for a self-signed CA. */
  issuer?: KeyPair;
  certFile: string;
  keyFile: string;
  /** rsa (default, kubeadm's choice) or ec-p256 (what the kubelet makes for its client pair), written as SEC1 "EC PRIVATE KEY". */
  keyAlgorithm?: 'rsa' | 'ec-p256';
  /**
   * Sign a certificate for the key already in keyFile instead of generating one (as `kubeadm certs
   * renew` does): a renewal then changes one file, which a component that re-reads its pair per TLS
   * handshake (etcd) can never see half-written.
   */
  reuseKey?: boolean;
}

const CA_CONFIG = `[ ca ]
default_ca = lab
[ lab ]
database = ./index.txt
new_certs_dir = .
rand_serial = yes
default_md = sha256
policy = pol
unique_subject = no
email_in_dn = no
[ pol ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
`;

function opensslTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

function subjectString(subject: Array<[string, string]>): string {
  return subject.map(([k, v]) => `/${k}=${v.replace(/[/\\]/g, (c) => `\\${c}`)}`).join('');
}

function extensions(req: CertRequest): string {
  const lines = ['[x]'];
  if (req.usage === 'ca') {
    lines.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', 'subjectKeyIdentifier=hash');
  } else {
    // An EC key cannot encipher: the kubelet's ECDSA client pair asks for digital signature only.
    const keyUsage = req.keyAlgorithm === 'ec-p256' ? 'digitalSignature' : 'digitalSignature,keyEncipherment';
    lines.push('basicConstraints=critical,CA:FALSE', `keyUsage=critical,${keyUsage}`, 'authorityKeyIdentifier=keyid');
    const eku = { server: 'serverAuth', client: 'clientAuth', peer: 'serverAuth,clientAuth' }[req.usage];
    lines.push(`extendedKeyUsage=${eku}`);
  }
  const sans = [...(req.dnsNames ?? []).map((d) => `DNS:${d}`), ...(req.ipAddresses ?? []).map((i) => `IP:${i}`)];
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(',')}`);
  return lines.join('\n') + '\n';
}

/** Generates a key (RSA 2048 as kubeadm does by default, or EC P-256; or reuses keyFile) and a certificate for it. */
export async function issueCertificate(req: CertRequest): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kcarun-lab-openssl-'));
  try {
    if (req.reuseKey) {
      // the key stays as it is
    } else if (req.keyAlgorithm === 'ec-p256') await runOk('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', req.keyFile]);
    else await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', req.keyFile]);
    if (!req.reuseKey) await chmod(req.keyFile, 0o600);
    const csr = join(work, 'req.csr');
    await runOk('openssl', ['req', '-new', '-key', req.keyFile, '-subj', subjectString(req.subject), '-out', csr]);
    await writeFile(join(work, 'ca.cnf'), CA_CONFIG);
    await writeFile(join(work, 'index.txt'), '');
    await writeFile(join(work, 'ext.cnf'), extensions(req));
    const signer = req.issuer ? ['-cert', req.issuer.certFile, '-keyfile', req.issuer.keyFile] : ['-selfsign', '-keyfile', req.keyFile];
    await runOk(
      'openssl',
      ['ca', '-batch', '-config', 'ca.cnf', ...signer, '-in', csr, '-out', join(work, 'out.crt'), '-startdate', opensslTime(req.validity.start),
        '-enddate', opensslTime(req.validity.end), '-extfile', 'ext.cnf', '-extensions', 'x', '-notext', '-preserveDN'],
      { cwd: work },
    );
    await writeFile(req.certFile, await readFile(join(work, 'out.crt')));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Validity of the old CAs: a 10-year CA issued long ago with `daysLeft` days to go. */
export function caValidity(now: Date, daysLeft: number): Validity {
  const day = 86_400_000;
  return { start: new Date(now.getTime() - (3650 - daysLeft) * day), end: new Date(now.getTime() + daysLeft * day) };
}

/** Validity of the old leaves: issued 100 days ago for a year, but never past their CA. */
export function leafValidity(now: Date, ca: Validity): Validity {
  const day = 86_400_000;
  const end = Math.min(now.getTime() + 265 * day, ca.end.getTime() - day / 2);
  return { start: new Date(now.getTime() - 100 * day), end: new Date(end) };
}
