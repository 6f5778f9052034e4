import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs the openssl CLI; resolves with stdout, rejects with stderr on a non-zero exit. */
export async function openssl(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await execFileAsync('openssl', args, { cwd, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** openssl's exit code and output, for commands that are expected to fail. */
export async function opensslResult(args: string[], cwd?: string): Promise<{ rc: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args, { cwd });
    return { rc: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { rc: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export type KeyAlg = 'rsa' | 'ec';

function keyArgs(alg: KeyAlg): string[] {
  return alg === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

/** A self-signed CA made by OpenSSL only (never by kcarun's code), like an existing cluster's. */
export async function opensslCa(dir: string, name: string, subj: string, alg: KeyAlg = 'rsa', days = 3650): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...keyArgs(alg), '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', subj,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

export interface LeafSpec {
  subj: string;
  alg?: KeyAlg;
  sans?: string[];
  keyUsage?: string;
  extKeyUsage?: string;
  days?: number;
  /** PrintableString where possible (OpenSSL `string_mask = default`) and `+` for multi-valued RDNs. */
  legacyStrings?: boolean;
  /** The extfile's authorityKeyIdentifier (default `keyid`; `keyid,issuer` for a CA without SKI). */
  authorityKeyIdentifier?: string;
}

/** A leaf certificate signed by an OpenSSL CA, with the given SANs and usages. */
export async function opensslLeaf(dir: string, name: string, ca: { cert: string; key: string }, spec: LeafSpec): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const extra: string[] = [];
  if (spec.legacyStrings) {
    const cnf = join(dir, `${name}.cnf`);
    await writeFile(cnf, '[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n');
    extra.push('-config', cnf, '-multivalue-rdn');
  }
  await openssl(['req', '-new', ...keyArgs(spec.alg ?? 'rsa'), '-nodes', '-keyout', key, '-out', csr, '-subj', spec.subj, ...extra]);
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    `keyUsage=critical,${spec.keyUsage ?? 'digitalSignature,keyEncipherment'}`,
    `extendedKeyUsage=${spec.extKeyUsage ?? 'serverAuth,clientAuth'}`,
    `authorityKeyIdentifier=${spec.authorityKeyIdentifier ?? 'keyid'}`,
  ];
  if (spec.sans?.length) lines.push(`subjectAltName=${spec.sans.join(',')}`);
  await writeFile(ext, `${lines.join('\n')}\n`);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', String(spec.days ?? 365), '-extfile', ext, '-out', cert]);
  return { cert, key };
}

/** `openssl x509 -noout -ext ...` of the extensions a re-issue must preserve. */
export async function preservedExtensions(certPath: string): Promise<string> {
  return openssl(['x509', '-in', certPath, '-noout', '-ext', 'subjectAltName,keyUsage,extendedKeyUsage,basicConstraints']);
}

/** The subject with each value's ASN.1 string type, so an encoding change shows up. */
export async function subjectWithTypes(certPath: string): Promise<string> {
  return openssl(['x509', '-in', certPath, '-noout', '-subject', '-nameopt', 'multiline,show_type']);
}

/** The public key of a certificate or of a private key file, as PEM (compares RSA and EC alike). */
export async function certPublicKey(certPath: string): Promise<string> {
  return openssl(['x509', '-in', certPath, '-noout', '-pubkey']);
}
export async function keyPublicKey(keyPath: string): Promise<string> {
  return openssl(['pkey', '-in', keyPath, '-pubout']);
}

/** A CA without subjectKeyIdentifier (nor AKI), as some hand-made or very old clusters have. */
export async function opensslCaWithoutSki(dir: string, name: string, subj: string, days = 3650): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', subj,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none',
  ]);
  return { cert, key };
}

/** An intermediate CA signed by `root` (kubeadm external-CA style: ca.crt is this one). */
export async function opensslIntermediate(dir: string, name: string, root: { cert: string; key: string }, subj: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subj]);
  await writeFile(ext, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await openssl(['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-CAcreateserial', '-days', '1825', '-extfile', ext, '-out', cert]);
  return { cert, key };
}

/** What kubeadm documents for the join hash: the SPKI DER of the CA's public key, SHA-256. */
export async function opensslJoinHash(caCertPath: string): Promise<string> {
  const { stdout } = await promisify(execFile)('sh', ['-c', 'openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform der | sha256sum', 'sh', caCertPath]);
  return `sha256:${stdout.split(' ')[0]}`;
}
