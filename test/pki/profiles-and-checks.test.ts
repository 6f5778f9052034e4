import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCa, rotatedCommonName } from '../../src/pki/ca.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { checkCa, checkCertificate, checkClockSkew, checkNewCaSubject, verifyChain } from '../../src/pki/checks.js';
import { formatIp, parseIp } from '../../src/pki/extensions.js';
import { generateKey } from '../../src/pki/keys.js';
import { issueFromProfile } from '../../src/pki/profiles.js';
import { reissueLeafCertificate } from '../../src/pki/reissue.js';
import { makeTempDir } from '../helpers/task-context.js';
import { openssl, opensslResult } from './openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
const NOW = new Date();

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-pki-checks-'));
  ca = await createCa({ commonName: 'kubernetes', keySpec: { type: 'ecdsa', curve: 'P-256' } });
  otherCa = await createCa({ commonName: 'somebody-else', keySpec: { type: 'ecdsa', curve: 'P-256' } });
});
afterAll(async () => cleanup());

async function write(name: string, pem: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, pem);
  return p;
}

describe('kubeadm profiles', () => {
  it('apiserver: kubeadm SANs and serverAuth, verified by openssl', async () => {
    const { certificate } = await issueFromProfile('apiserver', { nodeName: 'cp1', advertiseAddress: '192.168.56.11', extraSans: ['DNS:api.example.com', '10.0.0.5'] }, ca);
    const path = await write('apiserver.crt', certificate.pem);
    const text = await openssl(['x509', '-in', path, '-noout', '-text']);
    expect(text).toContain('Subject: CN = kube-apiserver');
    expect(text).toContain(
      'DNS:cp1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:192.168.56.11, DNS:api.example.com, IP Address:10.0.0.5',
    );
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    const caPath = await write('ca.crt', ca.certificate.pem);
    expect((await opensslResult(['verify', '-CAfile', caPath, path])).rc).toBe(0);
    expect(Math.round((certificate.notAfter.getTime() - NOW.getTime()) / 86_400_000)).toBe(365);
  });

  it.each([
    ['kubelet-client', 'O = system:nodes, CN = system:node:worker-1'],
    ['admin', 'O = kubeadm:cluster-admins, CN = kubernetes-admin'],
    ['super-admin', 'O = system:masters, CN = kubernetes-super-admin'],
    ['controller-manager', 'CN = system:kube-controller-manager'],
    ['scheduler', 'CN = system:kube-scheduler'],
    ['apiserver-etcd-client', 'CN = kube-apiserver-etcd-client'],
    ['front-proxy-client', 'CN = front-proxy-client'],
  ] as const)('%s: subject %s, clientAuth only', async (profile, subject) => {
    const { certificate } = await issueFromProfile(profile, { nodeName: 'worker-1' }, ca);
    const text = await openssl(['x509', '-in', await write(`${profile}.crt`, certificate.pem), '-noout', '-subject', '-ext', 'extendedKeyUsage']);
    expect(text).toContain(`subject=${subject}`);
    expect(text).toMatch(/TLS Web Client Authentication\n/);
    expect(text).not.toContain('Server');
  });

  it('etcd-peer: node name, localhost and loopback IPs; server and client auth', async () => {
    const { certificate } = await issueFromProfile('etcd-peer', { nodeName: 'etcd-1', advertiseAddress: '127.0.10.1' }, ca);
    expect(certificate.subjectAltNames.map((s) => `${s.type}:${s.value}`)).toEqual(['dns:etcd-1', 'dns:localhost', 'ip:127.0.10.1', 'ip:127.0.0.1', 'ip:::1']);
    expect(certificate.extKeyUsage).toEqual(['serverAuth', 'clientAuth']);
  });

  it('needs a node name where kubeadm uses one', async () => {
    await expect(issueFromProfile('etcd-server', {}, ca)).rejects.toThrow(/needs nodeName/);
  });
});

describe('checks', () => {
  it('finds the CA a leaf chains to, and reports a leaf of another CA as untrusted', async () => {
    const { certificate } = await issueFromProfile('scheduler', {}, ca);
    expect(verifyChain(certificate, [otherCa.certificate, ca.certificate]).trusted).toBe(true);
    const problems = checkCertificate(certificate, { now: NOW, bundle: [otherCa.certificate] });
    expect(problems.map((p) => p.kind)).toEqual(['untrusted']);
    expect(problems[0]?.message).toContain('CN=kubernetes');
  });

  it('detects an expired CA, and an expired or expiring leaf', async () => {
    const longAgo = new Date(NOW.getTime() - 11 * 365 * 86_400_000);
    const expiredCa = await createCa({ commonName: 'old', now: longAgo, keySpec: { type: 'ecdsa', curve: 'P-256' } });
    expect(checkCa(expiredCa.certificate, NOW).map((p) => p.kind)).toEqual(['ca-expired']);
    expect(checkCa(ca.certificate, NOW)).toEqual([]);
    const { certificate } = await issueFromProfile('admin', {}, expiredCa, { now: longAgo });
    const kinds = checkCertificate(certificate, { now: NOW, bundle: [expiredCa.certificate] }).map((p) => p.kind);
    expect(kinds).toEqual(['expired', 'ca-expired']);
    const { certificate: fresh } = await issueFromProfile('admin', {}, ca, { validityDays: 10 });
    expect(checkCertificate(fresh, { now: NOW, minDaysLeft: 30 }).map((p) => p.kind)).toEqual(['expiring']);
    expect(checkCertificate(fresh, { now: NOW, minDaysLeft: 5 })).toEqual([]);
  });

  it('detects a key that does not match, and a missing SAN', async () => {
    const { certificate, privateKey } = await issueFromProfile('etcd-server', { nodeName: 'etcd-1', advertiseAddress: '127.0.10.1' }, ca);
    expect(checkCertificate(certificate, { now: NOW, privateKey, requiredSans: ['etcd-1', 'IP:127.0.10.1', '::1'] })).toEqual([]);
    const wrong = await generateKey({ type: 'rsa', bits: 2048 });
    const problems = checkCertificate(certificate, { now: NOW, privateKey: wrong.privateKey, requiredSans: ['DNS:etcd-2'] });
    expect(problems.map((p) => [p.kind, p.message])).toEqual([
      ['missing-san', 'lacks SAN DNS:etcd-2'],
      ['key-mismatch', 'the private key does not match the certificate'],
    ]);
  });

  it('detects a new CA whose subject equals the old one', async () => {
    const twin = await createCa({ commonName: 'kubernetes', keySpec: { type: 'ecdsa', curve: 'P-256' } });
    expect(checkNewCaSubject(twin.certificate, ca.certificate).map((p) => p.kind)).toEqual(['same-subject']);
    expect(checkNewCaSubject(otherCa.certificate, ca.certificate)).toEqual([]);
  });

  it('detects clock skew beyond the tolerance', () => {
    expect(checkClockSkew(new Date(NOW.getTime() + 30_000), NOW, 60)).toEqual([]);
    expect(checkClockSkew(new Date(NOW.getTime() - 600_000), NOW, 60)[0]?.message).toBe('clock is behind by 600 s (tolerance 60 s)');
  });

  it('rotation suffixes replace each other instead of stacking', () => {
    const day = new Date('2026-11-28T10:00:00Z');
    expect(rotatedCommonName('etcd-ca', day)).toBe('etcd-ca (rotated 2026-11-28)');
    expect(rotatedCommonName('etcd-ca (rotated 2025-01-02)', day)).toBe('etcd-ca (rotated 2026-11-28)');
    expect(rotatedCommonName('etcd-ca (rotated 2026-11-28)', day)).toBe('etcd-ca (rotated 2026-11-28T10:00:00Z)');
  });

  it('caps a re-issued validity at the CA end', async () => {
    const shortCa = await createCa({ commonName: 'short', validityDays: 30, keySpec: { type: 'ecdsa', curve: 'P-256' } });
    const { certificate } = await issueFromProfile('admin', {}, ca, { validityDays: 365 });
    const r = await reissueLeafCertificate(certificate, shortCa);
    expect(r.certificate.notAfter.getTime()).toBe(shortCa.certificate.notAfter.getTime());
    expect(r.warnings[0]).toContain('validity shortened');
  });

  it('parses every certificate of a bundle and round-trips IPv6 SANs', () => {
    const certs = parseCertificates(`junk\n${ca.certificate.pem}\n${otherCa.certificate.pem}`);
    expect(certs.map((c) => c.commonName)).toEqual(['kubernetes', 'somebody-else']);
    for (const ip of ['::1', 'fd00:10::20', '2001:db8::', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8', '10.0.0.1']) {
      expect(formatIp(parseIp(ip))).toBe(ip === '::ffff:10.0.0.1' ? '::ffff:a00:1' : ip);
    }
  });
});
