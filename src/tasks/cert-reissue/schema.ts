import { Type, type Static, type TLiteral } from '@sinclair/typebox';
import { PROFILE_NAMES, type ProfileName } from '../../pki/profile-names.js';
import { CaNameSchema, RemotePathSchema, TargetsSchema } from '../shared/schemas.js';

export const KeyPolicySchema = Type.Union([Type.Literal('reuse'), Type.Literal('rotate')], {
  default: 'reuse',
  description: 'reuse: re-sign the existing public key (the private key never leaves the host); rotate: new key of the same algorithm and size.',
});

// The map loses the tuple's literal types; the cast restores them so `profile` is a ProfileName.
export const ProfileSchema = Type.Union(PROFILE_NAMES.map((p) => Type.Literal(p)) as TLiteral<ProfileName>[]);

export const GenerateSchema = Type.Object(
  {
    cert: RemotePathSchema(),
    key: Type.Optional(RemotePathSchema()),
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
export type GenerateEntry = Static<typeof GenerateSchema>;

export const CertReissueSchema = Type.Object(
  {
    ca: CaNameSchema,
    ...TargetsSchema,
    kubeconfigs: Type.Optional(
      Type.Array(RemotePathSchema(), {
        description:
          "Kubeconfigs whose user has a client certificate, in either style: embedded (client-certificate-data) -> hosts/<host>/<kubeconfig>.client.crt, registered under `certificates` with `kubeconfig` set, for a file-patch kubeconfig-user edit; or a file the kubeconfig names (client-certificate, e.g. kubelet-client-current.pem holding certificate and key) -> hosts/<host>/<file>, registered under `certificateFiles`, for cert-install.",
      }),
    ),
    keyPolicy: Type.Optional(KeyPolicySchema),
    renew: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Renewal from the same CA: a certificate already in the state dir is reused only if it is newer than the host's (a resumed run), never the host's own expiring certificate.",
      }),
    ),
    skipSelfSigned: Type.Optional(
      Type.Boolean({
        description:
          "A certificate that neither the new CA nor the old one (ca/<ca>-old.crt) issued, but that is self-signed or signed by a CA in its own file (the kubelet's kubelet.crt without serverTLSBootstrap), is outside the rotation: not re-issued, listed under `selfSigned` (and `skipped`).",
      }),
    ),
    generate: Type.Optional(Type.Array(GenerateSchema)),
    backdateMinutes: Type.Optional(Type.Integer({ minimum: 0, default: 60 })),
    validityDays: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3650,
        description:
          'New validity of the re-issued certificates: they end this many days from now (e.g. 365). Default: each keeps its old length (NotAfter - NotBefore). Never beyond the CA (shortened, with a warning).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CertReissueParams = Static<typeof CertReissueSchema>;
