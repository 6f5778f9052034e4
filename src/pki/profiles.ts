import type { KeyObject } from 'node:crypto';
import { KcarunError } from '../core/errors.js';
import type { CertificateAuthority } from './ca.js';
import { DEFAULT_BACKDATE_MINUTES } from './ca.js';
import type { Certificate } from './certificate.js';
import {
  encodeBasicConstraints,
  encodeExtKeyUsage,
  encodeKeyUsage,
  encodeSubjectAltNames,
  parseSubjectAltName,
  type RawExtension,
  type SubjectAltName,
} from './extensions.js';
import { assertCaCanSign, authorityKeyIdentifierFor } from './issuer.js';
import { generateKey, type KeySpec, spkiDer } from './keys.js';
import { buildName } from './name.js';
import { COMMON_NAME, OID, ORGANIZATION } from './oids.js';
import { signCertificate } from './sign.js';
import type { ProfileName } from './profile-names.js';

// Certificates kubeadm makes, with the same subject, SANs and usages.
export { PROFILE_NAMES, type ProfileName } from './profile-names.js';

/** Which CA signs each profile. */
export const PROFILE_CA: Record<ProfileName, 'kubernetes' | 'etcd' | 'front-proxy'> = {
  apiserver: 'kubernetes',
  'apiserver-kubelet-client': 'kubernetes',
  'apiserver-etcd-client': 'etcd',
  'front-proxy-client': 'front-proxy',
  'etcd-server': 'etcd',
  'etcd-peer': 'etcd',
  'etcd-healthcheck-client': 'etcd',
  admin: 'kubernetes',
  'super-admin': 'kubernetes',
  'controller-manager': 'kubernetes',
  scheduler: 'kubernetes',
  'kubelet-client': 'kubernetes',
};

export interface ProfileInput {
  /** The node's name: CN of etcd server/peer and kubelet, and a SAN of apiserver/etcd. */
  nodeName?: string;
  /** The node's IP (apiserver --advertise-address, etcd's listen IP). */
  advertiseAddress?: string;
  /** First IP of the service CIDR (default 10.96.0.1). */
  serviceIp?: string;
  dnsDomain?: string;
  /** Extra SANs: `DNS:x`, `IP:x` or bare values. */
  extraSans?: string[];
}

interface Shape {
  subject: Array<{ oid: string; value: string }>;
  sans: SubjectAltName[];
  extKeyUsage: string[];
}

function need(value: string | undefined, what: string, profile: string): string {
  if (!value) throw new KcarunError('E_PKI', `profile ${profile} needs ${what}`);
  return value;
}

function shapeOf(profile: ProfileName, input: ProfileInput): Shape {
  const cn = (value: string) => ({ oid: COMMON_NAME, value });
  const o = (value: string) => ({ oid: ORGANIZATION, value });
  const client = (...subject: Array<{ oid: string; value: string }>): Shape => ({ subject, sans: [], extKeyUsage: ['clientAuth'] });
  const dns = (value: string): SubjectAltName => ({ type: 'dns', value });
  const ip = (value: string): SubjectAltName => parseSubjectAltName(`IP:${value}`);
  switch (profile) {
    case 'apiserver': {
      const domain = input.dnsDomain ?? 'cluster.local';
      const node = need(input.nodeName, 'nodeName', profile);
      const sans = [
        dns(node),
        dns('kubernetes'),
        dns('kubernetes.default'),
        dns('kubernetes.default.svc'),
        dns(`kubernetes.default.svc.${domain}`),
        ip(input.serviceIp ?? '10.96.0.1'),
        ip(need(input.advertiseAddress, 'advertiseAddress', profile)),
      ];
      return { subject: [cn('kube-apiserver')], sans, extKeyUsage: ['serverAuth'] };
    }
    case 'etcd-server':
    case 'etcd-peer': {
      const node = need(input.nodeName, 'nodeName', profile);
      const sans = [dns(node), dns('localhost'), ip(need(input.advertiseAddress, 'advertiseAddress', profile)), ip('127.0.0.1'), ip('::1')];
      return { subject: [cn(node)], sans, extKeyUsage: ['serverAuth', 'clientAuth'] };
    }
    case 'apiserver-kubelet-client':
      return client(o('kubeadm:cluster-admins'), cn('kube-apiserver-kubelet-client'));
    case 'apiserver-etcd-client':
      return client(cn('kube-apiserver-etcd-client'));
    case 'front-proxy-client':
      return client(cn('front-proxy-client'));
    case 'etcd-healthcheck-client':
      return client(cn('kube-etcd-healthcheck-client'));
    case 'admin':
      return client(o('kubeadm:cluster-admins'), cn('kubernetes-admin'));
    case 'super-admin':
      return client(o('system:masters'), cn('kubernetes-super-admin'));
    case 'controller-manager':
      return client(cn('system:kube-controller-manager'));
    case 'scheduler':
      return client(cn('system:kube-scheduler'));
    case 'kubelet-client':
      return client(o('system:nodes'), cn(`system:node:${need(input.nodeName, 'nodeName', profile)}`));
  }
}

export interface IssueOptions {
  keySpec?: KeySpec;
  validityDays?: number;
  now?: Date;
  backdateMinutes?: number;
}

/** A new certificate and key for a kubeadm profile, for hosts where none exists yet. */
export async function issueFromProfile(
  profile: ProfileName,
  input: ProfileInput,
  ca: CertificateAuthority,
  options: IssueOptions = {},
): Promise<{ certificate: Certificate; privateKey: KeyObject }> {
  const now = options.now ?? new Date();
  assertCaCanSign(ca.certificate, now);
  const shape = shapeOf(profile, input);
  const sans = [...shape.sans];
  for (const extra of input.extraSans ?? []) {
    const san = parseSubjectAltName(extra);
    if (!sans.some((s) => s.type === san.type && s.value === san.value)) sans.push(san);
  }
  const { privateKey, publicKey } = await generateKey(options.keySpec ?? { type: 'rsa', bits: 2048 });
  const notBefore = new Date(now.getTime() - (options.backdateMinutes ?? DEFAULT_BACKDATE_MINUTES) * 60_000);
  let notAfter = new Date(now.getTime() + (options.validityDays ?? 365) * 86_400_000);
  if (notAfter > ca.certificate.notAfter) notAfter = ca.certificate.notAfter;
  const usages = publicKey.asymmetricKeyType === 'rsa' ? (['digitalSignature', 'keyEncipherment'] as const) : (['digitalSignature'] as const);
  const extensions: RawExtension[] = [
    { oid: OID.keyUsage, critical: true, value: encodeKeyUsage(usages) },
    { oid: OID.extKeyUsage, critical: false, value: encodeExtKeyUsage(shape.extKeyUsage) },
    { oid: OID.basicConstraints, critical: true, value: encodeBasicConstraints({ ca: false }) },
    { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierFor(ca.certificate) },
  ];
  if (sans.length > 0) extensions.push({ oid: OID.subjectAltName, critical: false, value: encodeSubjectAltNames(sans) });
  const certificate = signCertificate(
    { issuerDer: ca.certificate.subjectDer, subjectDer: buildName(shape.subject), notBefore, notAfter, spkiDer: spkiDer(publicKey), extensions },
    ca.privateKey,
  );
  return { certificate, privateKey };
}
