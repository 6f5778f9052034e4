import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../src/pki/bundle.js';
import { type CertificateAuthority, createCa } from '../../src/pki/ca.js';
import { parseSingleCertificate } from '../../src/pki/certificate.js';
import { privateKeyToPem } from '../../src/pki/keys.js';
import { reissueLeafCertificate } from '../../src/pki/reissue.js';
import { makeTempDir } from '../helpers/task-context.js';
import {
  certPublicKey,
  keyPublicKey,
  openssl,
  opensslCa,
  opensslLeaf,
  opensslResult,
  preservedExtensions,
  subjectWithTypes,
} from './openssl.js';

// Certificates made by OpenSSL, the way an existing cluster's are, re-issued by kcarun and checked by OpenSSL.
let dir: string;
let cleanup: () => Promise<void>;
let oldRsaCa: { cert: string; key: string };
let oldEcCa: { cert: string; key: string };
let rsaLeaf: { cert: string; key: string };
let ecLeaf: { cert: string; key: string };
let newRsaCa: CertificateAuthority;
let newEcCa: CertificateAuthority;

const MANY_SANS = [
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc.cluster.local',
  'DNS:cp1',
  'IP:10.96.0.1',
  'IP:127.0.0.1',
  'IP:::1',
  'IP:fd00:10::20',
  'URI:spiffe://cluster.local/ns/kube-system/sa/apiserver',
  'email:ops@example.com',
];

async function write(name: string, pem: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, pem);
  return path;
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-'));
  oldRsaCa = await opensslCa(dir, 'old-rsa-ca', '/O=Example Corp/OU=Platform/CN=kubernetes');
  oldEcCa = await opensslCa(dir, 'old-ec-ca', '/CN=etcd-ca', 'ec');
  rsaLeaf = await opensslLeaf(dir, 'apiserver', oldRsaCa, { subj: '/CN=kube-apiserver', sans: MANY_SANS, extKeyUsage: 'serverAuth' });
  ecLeaf = await opensslLeaf(dir, 'etcd-peer', oldEcCa, {
    subj: '/C=DE/ST=Berlin/O=system:masters/O=second org/CN=etcd-1',
    alg: 'ec',
    sans: ['DNS:etcd-1', 'DNS:localhost', 'IP:192.168.10.11', 'IP:127.0.0.1', 'IP:::1'],
    keyUsage: 'digitalSignature',
    extKeyUsage: 'serverAuth,clientAuth',
    days: 400,
  });
  newRsaCa = await createCa({ oldCa: parseSingleCertificate(await readFile(oldRsaCa.cert), 'old') });
  newEcCa = await createCa({ oldCa: parseSingleCertificate(await readFile(oldEcCa.cert), 'old'), keySpec: { type: 'ecdsa', curve: 'P-256' } });
});

afterAll(async () => {
  await cleanup();
});

describe('new CA', () => {
  it('keeps the old subject with a rotated CN, is a critical CA with keyCertSign, and is backdated', async () => {
    const path = await write('new-rsa-ca.crt', newRsaCa.certificate.pem);
    const text = await openssl(['x509', '-in', path, '-noout', '-text']);
    expect(text).toMatch(/Subject: O = Example Corp, OU = Platform, CN = kubernetes \(rotated \d{4}-\d\d-\d\d\)/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain('Subject Key Identifier');
    expect(text).toContain('Authority Key Identifier');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toContain('sha256WithRSAEncryption');
    const c = newRsaCa.certificate;
    const now = Date.now();
    expect(now - c.notBefore.getTime()).toBeGreaterThan(59 * 60_000);
    expect(now - c.notBefore.getTime()).toBeLessThan(61 * 60_000);
    expect(Math.round((c.notAfter.getTime() - now) / 86_400_000)).toBe(3650);
    expect((await opensslResult(['verify', '-CAfile', path, path])).rc).toBe(0);
  });

  it('makes ECDSA P-256 CAs signed with ecdsa-with-SHA256', async () => {
    const path = await write('new-ec-ca.crt', newEcCa.certificate.pem);
    const text = await openssl(['x509', '-in', path, '-noout', '-text']);
    expect(text).toContain('ecdsa-with-SHA256');
    expect(text).toContain('NIST CURVE: P-256');
    expect(text).toMatch(/Subject: CN = etcd-ca \(rotated /);
    expect((await opensslResult(['verify', '-CAfile', path, path])).rc).toBe(0);
  });

  it('makes RSA 3072 CAs, and refuses a subject equal to the old one', async () => {
    const old = parseSingleCertificate(await readFile(oldRsaCa.cert), 'old');
    const big = await createCa({ oldCa: old, keySpec: { type: 'rsa', bits: 3072 } });
    expect(big.certificate.keyDescription).toBe('RSA 3072');
    await expect(createCa({ oldCa: old, commonName: 'kubernetes' })).rejects.toThrow(/must differ from the old CA/);
  });
});

describe('re-issue (reuse)', () => {
  it.each([
    ['RSA leaf from an RSA CA', () => rsaLeaf, () => newRsaCa],
    ['ECDSA leaf from an ECDSA CA', () => ecLeaf, () => newEcCa],
    ['ECDSA leaf from an RSA CA', () => ecLeaf, () => newRsaCa],
    ['RSA leaf from an ECDSA CA', () => rsaLeaf, () => newEcCa],
  ])('%s keeps subject, SANs, usages, validity length and the public key', async (_name, leafOf, caOf) => {
    const leafFiles = leafOf();
    const ca = caOf();
    const leaf = parseSingleCertificate(await readFile(leafFiles.cert), 'leaf');
    const { certificate, privateKey } = await reissueLeafCertificate(leaf, ca, { keyPolicy: 'reuse' });
    expect(privateKey).toBeUndefined();
    const newPath = await write(`reissued-${Math.random().toString(36).slice(2)}.crt`, certificate.pem);
    const caPath = await write(`ca-${Math.random().toString(36).slice(2)}.crt`, ca.certificate.pem);

    expect((await opensslResult(['verify', '-CAfile', caPath, newPath])).out).toContain(': OK');
    expect(await preservedExtensions(newPath)).toBe(await preservedExtensions(leafFiles.cert));
    expect(await subjectWithTypes(newPath)).toBe(await subjectWithTypes(leafFiles.cert));
    expect(await certPublicKey(newPath)).toBe(await certPublicKey(leafFiles.cert));
    // The existing private key on the host still fits the new certificate.
    expect(await keyPublicKey(leafFiles.key)).toBe(await certPublicKey(newPath));
    expect(certificate.notAfter.getTime() - certificate.notBefore.getTime()).toBe(leaf.notAfter.getTime() - leaf.notBefore.getTime());
    const issuer = await openssl(['x509', '-in', newPath, '-noout', '-issuer']);
    expect(issuer).toContain('(rotated ');
  });

  it('shows every SAN kind in openssl x509 -text', async () => {
    const leaf = parseSingleCertificate(await readFile(rsaLeaf.cert), 'leaf');
    const { certificate } = await reissueLeafCertificate(leaf, newRsaCa);
    const text = await openssl(['x509', '-in', await write('sans.crt', certificate.pem), '-noout', '-text']);
    for (const s of ['DNS:kubernetes.default.svc.cluster.local', 'IP Address:10.96.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:FD00:10:0:0:0:0:0:20', 'URI:spiffe://cluster.local/ns/kube-system/sa/apiserver', 'email:ops@example.com']) {
      expect(text).toContain(s);
    }
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(leaf.subjectAltNames).toHaveLength(MANY_SANS.length);
  });

  it('does not verify against the old CA alone', async () => {
    const leaf = parseSingleCertificate(await readFile(rsaLeaf.cert), 'leaf');
    const { certificate } = await reissueLeafCertificate(leaf, newRsaCa);
    const res = await opensslResult(['verify', '-CAfile', oldRsaCa.cert, await write('only-old.crt', certificate.pem)]);
    expect(res.rc).not.toBe(0);
  });

  it('keeps PrintableString values and multi-valued RDNs byte for byte, and the RSA modulus', async () => {
    const legacy = await opensslLeaf(dir, 'legacy', oldRsaCa, { subj: '/C=DE/O=Acme+OU=Ops/CN=etcd-1', legacyStrings: true, sans: ['DNS:etcd-1'] });
    const leaf = parseSingleCertificate(await readFile(legacy.cert), 'leaf');
    const { certificate } = await reissueLeafCertificate(leaf, newRsaCa);
    const newPath = await write('legacy-new.crt', certificate.pem);
    const types = await subjectWithTypes(legacy.cert);
    expect(types).toContain('PRINTABLESTRING');
    expect(types).toContain('+');
    expect(await subjectWithTypes(newPath)).toBe(types);
    expect(certificate.subjectDer.equals(leaf.subjectDer)).toBe(true);
    const modulus = await openssl(['x509', '-in', newPath, '-noout', '-modulus']);
    expect(modulus).toBe(await openssl(['x509', '-in', legacy.cert, '-noout', '-modulus']));
    expect(modulus).toBe(await openssl(['rsa', '-in', legacy.key, '-noout', '-modulus']));
  });

  it('refuses to re-issue a CA certificate', async () => {
    const oldCa = parseSingleCertificate(await readFile(oldRsaCa.cert), 'old');
    await expect(reissueLeafCertificate(oldCa, newRsaCa)).rejects.toThrow(/is a CA certificate/);
  });
});

describe('re-issue (rotate)', () => {
  it.each([
    ['RSA', () => rsaLeaf, 'Public-Key: (2048 bit)'],
    ['ECDSA P-256', () => ecLeaf, 'NIST CURVE: P-256'],
  ])('%s: a new key of the same algorithm and size that matches the new certificate', async (_name, leafOf, keyText) => {
    const files = leafOf();
    const leaf = parseSingleCertificate(await readFile(files.cert), 'leaf');
    const { certificate, privateKey } = await reissueLeafCertificate(leaf, newRsaCa, { keyPolicy: 'rotate' });
    expect(privateKey).toBeDefined();
    const certPath = await write(`rot-${_name}.crt`, certificate.pem);
    const keyPath = await write(`rot-${_name}.key`, privateKeyToPem(privateKey!));
    expect(await keyPublicKey(keyPath)).toBe(await certPublicKey(certPath));
    expect(await certPublicKey(certPath)).not.toBe(await certPublicKey(files.cert));
    expect(await openssl(['x509', '-in', certPath, '-noout', '-text'])).toContain(keyText);
    expect(await preservedExtensions(certPath)).toBe(await preservedExtensions(files.cert));
    const caPath = await write('rot-ca.crt', newRsaCa.certificate.pem);
    expect((await opensslResult(['verify', '-CAfile', caPath, certPath])).rc).toBe(0);
  });
});

describe('bundles', () => {
  it('new+old: new first, and both old and new leaves verify; new only: old leaves fail', async () => {
    const old = parseSingleCertificate(await readFile(oldRsaCa.cert), 'old');
    const both = buildBundle([newRsaCa.certificate], [old, newRsaCa.certificate], 'new+old');
    expect(both.certificates.map((c) => c.fingerprintSha256)).toEqual([newRsaCa.certificate.fingerprintSha256, old.fingerprintSha256]);
    const bundlePath = await write('bundle.crt', both.pem);
    const firstSubject = await openssl(['x509', '-in', bundlePath, '-noout', '-subject']);
    expect(firstSubject).toContain('(rotated ');
    const leaf = parseSingleCertificate(await readFile(rsaLeaf.cert), 'leaf');
    const newLeaf = await write('bundle-leaf.crt', (await reissueLeafCertificate(leaf, newRsaCa)).certificate.pem);
    expect((await opensslResult(['verify', '-CAfile', bundlePath, newLeaf, rsaLeaf.cert])).rc).toBe(0);

    const onlyNew = await write('bundle-new.crt', buildBundle([newRsaCa.certificate], [old], 'new').pem);
    expect((await opensslResult(['verify', '-CAfile', onlyNew, newLeaf])).rc).toBe(0);
    expect((await opensslResult(['verify', '-CAfile', onlyNew, rsaLeaf.cert])).rc).not.toBe(0);
  });
});
