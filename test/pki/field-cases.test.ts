import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsExpiry } from '../../src/commands/certs-expiry.js';
import { certsInspect } from '../../src/commands/certs-inspect.js';
import { KcarunError } from '../../src/core/errors.js';
import { type CertificateAuthority, createCa } from '../../src/pki/ca.js';
import { parseCertificates, parseSingleCertificate } from '../../src/pki/certificate.js';
import { checkCertificate } from '../../src/pki/checks.js';
import { discoveryTokenCaCertHash } from '../../src/pki/issuer.js';
import { loadPrivateKey, privateKeyToPem } from '../../src/pki/keys.js';
import { issueFromProfile } from '../../src/pki/profiles.js';
import { reissueLeafCertificate } from '../../src/pki/reissue.js';
import { LocalTransport } from '../../src/transport/local.js';
import { makeTempDir } from '../helpers/task-context.js';
import { openssl, opensslCa, opensslCaWithoutSki, opensslIntermediate, opensslJoinHash, opensslLeaf, opensslResult } from './openssl.js';

// Certificates as they are found in the field (issue 16), each with the value that is right for it,
// cross-checked with the openssl CLI.
let dir: string;
let cleanup: () => Promise<void>;

const DAY = 86_400_000;

async function caFrom(files: { cert: string; key: string }): Promise<CertificateAuthority> {
  return { certificate: parseSingleCertificate(await readFile(files.cert), files.cert), privateKey: loadPrivateKey(await readFile(files.key), files.key) };
}

function capture(): { io: { stdout: (s: string) => void }; text: () => string } {
  const chunks: string[] = [];
  return { io: { stdout: (s) => chunks.push(s) }, text: () => chunks.join('') };
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-field-'));
});
afterAll(async () => cleanup());

describe('kubeadm discovery-token-ca-cert-hash', () => {
  it('is sha256:<hex> of the SubjectPublicKeyInfo DER, as openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum gives, not the fingerprint', async () => {
    const rsa = await opensslCa(dir, 'hash-rsa', '/CN=kubernetes');
    const ec = await opensslCa(dir, 'hash-ec', '/CN=kubernetes-ec', 'ec');
    for (const ca of [rsa, ec]) {
      const cert = parseSingleCertificate(await readFile(ca.cert), ca.cert);
      const hash = discoveryTokenCaCertHash(cert);
      expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(hash).toBe(await opensslJoinHash(ca.cert));
      expect(hash).not.toBe(`sha256:${cert.fingerprintSha256}`);
    }
  });

  it('certs inspect shows it for CAs (plain and JSON), with SKI and AKI as openssl prints them', async () => {
    const d = join(dir, 'inspect-hash');
    await mkdir(d);
    const ca = await opensslCa(d, 'ca', '/CN=kubernetes');
    await opensslLeaf(d, 'apiserver', ca, { subj: '/CN=kube-apiserver' });
    const plain = capture();
    expect(await certsInspect({ target: d, output: 'table' }, plain.io)).toBe(0);
    const hash = await opensslJoinHash(ca.cert);
    expect(plain.text()).toContain(`kubeadm join hash of ${ca.cert} (CN=kubernetes): --discovery-token-ca-cert-hash ${hash}\n`);
    const json = capture();
    await certsInspect({ target: d, output: 'json' }, json.io);
    const rows = (JSON.parse(json.text()) as { certificates: Array<{ path: string; caCertHash: string | null; subjectKeyId: string | null; authorityKeyId: string | null }> }).certificates;
    const caRow = rows.find((r) => r.path === ca.cert);
    const leafRow = rows.find((r) => r.path.endsWith('apiserver.crt'));
    expect(caRow?.caCertHash).toBe(hash);
    expect(leafRow?.caCertHash).toBeNull();
    const text = await openssl(['x509', '-in', join(d, 'apiserver.crt'), '-noout', '-text']);
    const caText = await openssl(['x509', '-in', ca.cert, '-noout', '-text']);
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(caText)?.[1];
    expect(ski).toBeDefined();
    expect(caRow?.subjectKeyId).toBe(ski);
    expect(leafRow?.authorityKeyId).toBe(ski);
    expect(text).toContain(ski!);
  });
});

describe('authorityKeyIdentifier when the CA has no subjectKeyIdentifier', () => {
  it('re-issued and profile certificates carry the issuer+serial form, no keyid; openssl verifies them', async () => {
    const files = await opensslCaWithoutSki(dir, 'noski', '/CN=hand-made-ca');
    const ca = await caFrom(files);
    expect(ca.certificate.subjectKeyId).toBeUndefined();
    // OpenSSL itself falls back to issuer+serial here (`keyid,issuer`): kcarun must write the same bytes.
    const leafFiles = await opensslLeaf(dir, 'noski-leaf', files, { subj: '/CN=client', extKeyUsage: 'clientAuth', authorityKeyIdentifier: 'keyid,issuer' });
    const leaf = parseSingleCertificate(await readFile(leafFiles.cert), 'leaf');
    const { certificate: reissued } = await reissueLeafCertificate(leaf, ca);
    const { certificate: generated } = await issueFromProfile('admin', {}, ca);
    const serial = (await openssl(['x509', '-in', files.cert, '-noout', '-serial'])).trim().replace('serial=', '');
    for (const [name, cert] of [['noski-reissued', reissued], ['noski-generated', generated]] as const) {
      const path = join(dir, `${name}.crt`);
      await writeFile(path, cert.pem);
      const text = await openssl(['x509', '-in', path, '-noout', '-ext', 'authorityKeyIdentifier']);
      expect(text).toContain('DirName:/CN=hand-made-ca');
      expect(text.replace(/[^0-9A-F]/gi, '')).toContain(serial.replace(/^0+/, ''));
      expect(text).not.toMatch(/keyid/i);
      expect(cert.authorityKeyId).toBeUndefined();
      const akiOf = (c: typeof leaf) => c.extensions.find((e) => e.oid === '2.5.29.35')?.value.toString('hex');
      expect(akiOf(cert)).toBe(akiOf(leaf));
      expect((await opensslResult(['verify', '-CAfile', files.cert, path])).out).toContain(': OK');
    }
  });

  it('a new CA always carries an SKI, and its AKI keyid is that SKI', async () => {
    const made = await createCa({ commonName: 'fresh' });
    expect(made.certificate.subjectKeyId?.length).toBe(20);
    expect(made.certificate.authorityKeyId?.equals(made.certificate.subjectKeyId!)).toBe(true);
  });
});

describe('signing with an expired CA', () => {
  it('is refused (E_PKI, naming offline-replace.yaml and its command) for re-issue and profiles; nothing with notBefore > notAfter is made', async () => {
    const longAgo = new Date(Date.now() - 400 * DAY);
    const expired = await createCa({ commonName: 'expired-ca', now: longAgo, validityDays: 30 });
    const { certificate: leaf } = await issueFromProfile('scheduler', {}, expired, { now: longAgo, validityDays: 20 });
    const err = await reissueLeafCertificate(leaf, expired).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).code).toBe('E_PKI');
    expect((err as KcarunError).message).toMatch(/^CA "CN=expired-ca" expired on \S+: it cannot sign/);
    expect((err as KcarunError).message).toContain('kcarun playbooks/offline-replace.yaml -i <inventory> --yes -e accept_downtime=true');
    await expect(issueFromProfile('admin', {}, expired)).rejects.toThrow(/expired on .*offline-replace\.yaml/);
    // The check that preflight and cert-check report says the same.
    const problems = checkCertificate(leaf, { now: new Date(), bundle: [expired.certificate] });
    expect(problems.find((p) => p.kind === 'ca-expired')?.message).toContain('offline-replace.yaml): kcarun playbooks/offline-replace.yaml -i <inventory>');
  });
});

describe('intermediate CAs (kubeadm external-CA style)', () => {
  let root: { cert: string; key: string };
  let inter: { cert: string; key: string };
  let leafFile: string;
  beforeAll(async () => {
    const d = join(dir, 'intermediate');
    await mkdir(d);
    root = await opensslCa(d, 'root', '/O=Example/CN=example-root');
    inter = await opensslIntermediate(d, 'ca', root, '/O=Example/CN=kubernetes-intermediate');
    const leaf = await opensslLeaf(d, 'apiserver', inter, { subj: '/CN=kube-apiserver', sans: ['DNS:kubernetes'], extKeyUsage: 'serverAuth' });
    leafFile = join(d, 'apiserver-chain.crt');
    await writeFile(leafFile, (await readFile(leaf.cert, 'utf8')) + (await readFile(inter.cert, 'utf8')));
    expect((await opensslResult(['verify', '-CAfile', root.cert, '-untrusted', leafFile, leafFile])).out).toContain(': OK');
  });

  it('a renewal from the same intermediate keeps the chain after the leaf; openssl verify -CAfile root -untrusted chain passes', async () => {
    const [leaf, ...chain] = parseCertificates(await readFile(leafFile));
    const result = await reissueLeafCertificate(leaf!, await caFrom(inter), { chain });
    expect(result.chain.map((c) => c.fingerprintSha256)).toEqual(chain.map((c) => c.fingerprintSha256));
    const out = join(dir, 'intermediate/apiserver-renewed.crt');
    await writeFile(out, result.certificate.pem + result.chain.map((c) => c.pem).join(''));
    expect((await opensslResult(['verify', '-CAfile', root.cert, '-untrusted', out, out])).out).toBe(`${out}: OK\n`);
    expect(result.warnings).toEqual([]);
  });

  it('a re-issue from another CA drops the old chain and says so', async () => {
    const [leaf, ...chain] = parseCertificates(await readFile(leafFile));
    const other = await createCa({ commonName: 'other root' });
    const result = await reissueLeafCertificate(leaf!, other, { chain });
    expect(result.chain).toEqual([]);
    expect(result.warnings.join('\n')).toMatch(/the 1 certificate\(s\) that followed it \(issuer "O=Example, CN=kubernetes-intermediate"\) are dropped/);
  });

  it('ca-generate from an intermediate refuses without an explicit choice, and makes a self-signed root with fromIntermediate', async () => {
    const oldCa = parseSingleCertificate(await readFile(inter.cert), 'ca.crt');
    const err = await createCa({ oldCa }).catch((e: unknown) => e);
    expect((err as KcarunError).code).toBe('E_PKI');
    expect((err as KcarunError).message).toMatch(/is an intermediate, issued by "O=Example, CN=example-root".*fromIntermediate: self-signed-root/);
    const made = await createCa({ oldCa, fromIntermediate: 'self-signed-root' });
    expect(made.certificate.issuerDer.equals(made.certificate.subjectDer)).toBe(true);
    expect(made.certificate.subjectText).toMatch(/^O=Example, CN=kubernetes-intermediate \(rotated /);
  });
});

describe('an expired legacy client certificate beside a valid kubelet-client-current.pem', () => {
  it('certs expiry names the kubeconfig and points at the valid current pair', async () => {
    const root = join(dir, 'legacy');
    const kpki = join(root, 'var/lib/kubelet/pki');
    await mkdir(kpki, { recursive: true });
    await mkdir(join(root, 'etc/kubernetes'), { recursive: true });
    const ca = await createCa({ commonName: 'kubernetes', now: new Date(Date.now() - 800 * DAY) });
    const old = await issueFromProfile('kubelet-client', { nodeName: 'node1' }, ca, { now: new Date(Date.now() - 400 * DAY), validityDays: 365 });
    const fresh = await issueFromProfile('kubelet-client', { nodeName: 'node1' }, ca, { keySpec: { type: 'ecdsa', curve: 'P-256' } });
    await writeFile(join(kpki, 'kubelet-client.crt'), old.certificate.pem);
    await writeFile(join(kpki, 'kubelet-client.key'), privateKeyToPem(old.privateKey), { mode: 0o600 });
    await writeFile(join(kpki, 'kubelet-client-2026-01-01-00-00-00.pem'), fresh.certificate.pem + privateKeyToPem(fresh.privateKey), { mode: 0o600 });
    await symlink(join(kpki, 'kubelet-client-2026-01-01-00-00-00.pem'), join(kpki, 'kubelet-client-current.pem'));
    const kubeletConf = join(root, 'etc/kubernetes/kubelet.conf');
    await writeFile(
      kubeletConf,
      `apiVersion: v1\nkind: Config\nusers:\n- name: system:node:node1\n  user:\n    client-certificate: ${kpki}/kubelet-client.crt\n    client-key: ${kpki}/kubelet-client.key\n`,
    );
    const json = capture();
    const hosts = [{ host: 'node1', transport: new LocalTransport() }];
    expect(await certsExpiry({ hosts, paths: [root], output: 'json' }, json.io)).toBe(1);
    const rows = (JSON.parse(json.text()) as { certificates: Array<{ path: string; kubeconfigs: string[]; hint: string | null; daysLeft: number }> }).certificates;
    const legacy = rows.find((r) => r.path === join(kpki, 'kubelet-client.crt'));
    expect(legacy?.kubeconfigs).toEqual([kubeletConf]);
    expect(legacy?.hint).toBe(
      `${kubeletConf} names ${kpki}/kubelet-client.crt, which expired on ${old.certificate.notAfter.toISOString()}; ${kpki}/kubelet-client-current.pem beside it is valid until ${fresh.certificate.notAfter.toISOString()} ` +
        `(O=system:nodes, CN=system:node:node1): point client-certificate and client-key of ${kubeletConf} at ${kpki}/kubelet-client-current.pem instead of renewing the expired file`,
    );
    expect(rows.find((r) => r.path.endsWith('kubelet-client-current.pem'))?.hint).toBeNull();
    const plain = capture();
    await certsExpiry({ hosts, paths: [root], output: 'table' }, plain.io);
    expect(plain.text()).toContain(`node1: ${kpki}/kubelet-client.crt is the client certificate of ${kubeletConf}: ${legacy?.hint}\n`);
    // And the re-issue warns before renewing the expired file.
    const again = await reissueLeafCertificate(old.certificate, ca);
    expect(again.warnings.join('\n')).toMatch(/the certificate being re-issued expired on/);
  });
});

describe('certs inspect on files with several certificates', () => {
  it('matches the key to whichever certificate it belongs to, says which, and flags duplicates', async () => {
    const d = join(dir, 'several');
    await mkdir(d);
    const other = await opensslCa(d, 'other', '/CN=other-ca');
    const mine = await opensslCa(d, 'mine', '/CN=kubernetes');
    // A ca.crt in the wrong order: another CA first, then the one ca.key belongs to.
    await writeFile(join(d, 'ca.crt'), (await readFile(other.cert, 'utf8')) + (await readFile(mine.cert, 'utf8')));
    await writeFile(join(d, 'ca.key'), await readFile(mine.key));
    // The same certificate twice in one bundle.
    await writeFile(join(d, 'dup-bundle.crt'), (await readFile(mine.cert, 'utf8')).repeat(2));
    const json = capture();
    expect(await certsInspect({ target: d, output: 'json' }, json.io)).toBe(0);
    type Row = { path: string; source: string; keyMatch: boolean | null; keyPath: string | null; duplicateOf: string | null };
    const rows = (JSON.parse(json.text()) as { certificates: Row[] }).certificates;
    const ca = rows.filter((r) => r.path === join(d, 'ca.crt')).map((r) => [r.source, r.keyMatch, r.keyPath]);
    expect(ca).toEqual([
      ['pem#1', null, null],
      ['pem#2', true, join(d, 'ca.key')],
    ]);
    expect(rows.filter((r) => r.path === join(d, 'dup-bundle.crt')).map((r) => [r.source, r.duplicateOf])).toEqual([
      ['pem#1', null],
      ['pem#2', 'pem#1'],
    ]);
    const plain = capture();
    await certsInspect({ target: d, output: 'table' }, plain.io);
    expect(plain.text()).toContain(`key ${join(d, 'ca.key')}: matches ${join(d, 'ca.crt')} (pem#2) (CN=kubernetes), certificate 2 of 2 in the file\n`);
    expect(plain.text()).toContain(`duplicate: ${join(d, 'dup-bundle.crt')} (pem#2) (CN=kubernetes) is the same certificate as pem#1 of the same file\n`);
    expect(plain.text()).toMatch(/dup-bundle\.crt \(pem#2\)\s.*CA \(DUPLICATE\)\s+-\n/);
    // A key that belongs to none of them: the first certificate shows MISMATCH, exit 1.
    const third = await opensslCa(d, 'third', '/CN=third');
    await writeFile(join(d, 'ca.key'), await readFile(third.key));
    const bad = capture();
    expect(await certsInspect({ target: join(d, 'ca.crt'), output: 'table' }, bad.io)).toBe(1);
    expect(bad.text()).toMatch(/ca\.crt \(pem#1\)\s.*MISMATCH\n/);
    expect(bad.text()).toContain(`key ${join(d, 'ca.key')}: matches none of the 2 certificate(s) in ${join(d, 'ca.crt')}\n`);
  });

  it('a leaf + chain file: the key matches the leaf; kubelet-client-current.pem: the key in the file itself', async () => {
    const d = join(dir, 'leafchain');
    await mkdir(d);
    const ca = await opensslCa(d, 'ca', '/CN=kubernetes');
    const leaf = await opensslLeaf(d, 'leaf', ca, { subj: '/CN=kube-apiserver' });
    await writeFile(join(d, 'apiserver.crt'), (await readFile(leaf.cert, 'utf8')) + (await readFile(ca.cert, 'utf8')));
    await writeFile(join(d, 'apiserver.key'), await readFile(leaf.key));
    await writeFile(join(d, 'kubelet-client-current.pem'), (await readFile(leaf.cert, 'utf8')) + (await readFile(leaf.key, 'utf8')), { mode: 0o600 });
    const json = capture();
    expect(await certsInspect({ target: d, output: 'json' }, json.io)).toBe(0);
    const rows = (JSON.parse(json.text()) as { certificates: Array<{ path: string; source: string; keyMatch: boolean | null; keyPath: string | null }> }).certificates;
    expect(rows.filter((r) => r.path.endsWith('apiserver.crt')).map((r) => [r.source, r.keyMatch])).toEqual([
      ['pem#1', true],
      ['pem#2', null],
    ]);
    expect(rows.find((r) => r.path.endsWith('kubelet-client-current.pem'))).toMatchObject({ keyMatch: true, keyPath: join(d, 'kubelet-client-current.pem') });
    expect(json.text()).not.toContain('PRIVATE KEY');
  });
});

describe('the signing guard', () => {
  it('refuses any template whose NotAfter is not after its NotBefore', async () => {
    const { signCertificate } = await import('../../src/pki/sign.js');
    const ca = await createCa({ commonName: 'guard' });
    const now = new Date();
    const template = { issuerDer: ca.certificate.subjectDer, subjectDer: ca.certificate.subjectDer, notBefore: now, notAfter: new Date(now.getTime() - 1000), spkiDer: ca.certificate.spkiDer, extensions: [] };
    expect(() => signCertificate(template, ca.privateKey)).toThrow(/refusing to sign a certificate that ends .* before it begins/);
  });
});
