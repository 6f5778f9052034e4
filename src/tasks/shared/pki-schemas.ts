import { Type, type Static } from '@sinclair/typebox';
import { PROFILE_NAMES } from '../../pki/profile-names.js';

/**
 * Params shared by the certificate task types. Only TypeBox here: this module is loaded with the
 * registry by `kcarun validate`, the heavy code lives in ./impl and is imported inside run().
 */

/** Where a certificate (or bundle) comes from: a state-dir artifact, or a file on a host. */
export const CertSourceSchema = Type.Union(
  [
    Type.Object({ artifact: Type.String({ minLength: 1, description: 'Path inside the state dir artifacts, e.g. ca/etcd-ca.crt.' }) }, { additionalProperties: false }),
    Type.Object(
      {
        path: Type.String({ minLength: 1, description: 'Absolute path on the host.' }),
        host: Type.Optional(Type.String({ description: "Inventory host to read it from (default: the task's host)." })),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'A certificate file: { artifact } from the state dir, or { path, host? } on a host.' },
);
export type CertSource = Static<typeof CertSourceSchema>;

export const CaNameSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Name of a CA made by ca-generate: its files are artifacts ca/<name>.crt and ca/<name>.key.',
});

/** A certificate on the host; `key` defaults to foo.crt -> foo.key, foo.pem -> foo-key.pem. */
export const CertPathSchema = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object(
    {
      cert: Type.String({ minLength: 1 }),
      key: Type.Optional(Type.String({ minLength: 1 })),
      /** cert-check only: SANs this certificate must carry. */
      sans: Type.Optional(Type.Array(Type.String())),
    },
    { additionalProperties: false },
  ),
]);
export type CertPath = Static<typeof CertPathSchema>;

/** kubeadm's leaf certificates, by the CA that signs them. */
export const KubeadmSetSchema = Type.Union([Type.Literal('kubeadm-kubernetes'), Type.Literal('kubeadm-etcd'), Type.Literal('kubeadm-front-proxy')], {
  description: "kubeadm's leaf certificates signed by one CA (files missing on a host are skipped).",
});

export const TargetsSchema = {
  paths: Type.Optional(Type.Array(CertPathSchema, { description: 'Certificate files on the host.' })),
  set: Type.Optional(KubeadmSetSchema),
  pkiDir: Type.Optional(Type.String({ default: '/etc/kubernetes/pki', description: "Where `set` looks (kubeadm's pki dir)." })),
  missing: Type.Optional(
    Type.Union([Type.Literal('error'), Type.Literal('skip')], { default: 'error', description: 'What to do when a listed path does not exist on the host.' }),
  ),
};

export const KeyPolicySchema = Type.Union([Type.Literal('reuse'), Type.Literal('rotate')], {
  default: 'reuse',
  description: 'reuse: re-sign the existing public key (the private key never leaves the host); rotate: new key of the same algorithm and size.',
});

export const ProfileSchema = Type.Union(PROFILE_NAMES.map((p) => Type.Literal(p)));

export const GenerateSchema = Type.Object(
  {
    cert: Type.String({ minLength: 1 }),
    key: Type.Optional(Type.String({ minLength: 1 })),
    profile: ProfileSchema,
    nodeName: Type.Optional(Type.String()),
    advertiseAddress: Type.Optional(Type.String()),
    serviceIp: Type.Optional(Type.String()),
    dnsDomain: Type.Optional(Type.String()),
    extraSans: Type.Optional(Type.Array(Type.String())),
    validityDays: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false, description: 'A certificate to create from a kubeadm profile when the host has none at `cert`.' },
);
