import { Type, type Static } from '@sinclair/typebox';
import { ArtifactPathSchema, RemotePathSchema } from '../shared/schemas.js';

export const CertInstallSchema = Type.Object(
  {
    path: RemotePathSchema('The file the kubeconfig names (client-certificate), e.g. /var/lib/kubelet/pki/kubelet-client-current.pem.'),
    artifact: ArtifactPathSchema('The re-issued certificate in the state dir (cert-reissue registers it as certificateFiles[].artifact).'),
    keyArtifact: Type.Optional(
      ArtifactPathSchema('Key policy rotate: the new key in the state dir; without it the key the file holds now is kept.'),
    ),
    keyPath: Type.Optional(
      RemotePathSchema('Where the key lives when it is a separate file (client-key); ignored for a combined file.'),
    ),
    become: Type.Optional(Type.Boolean({ description: "Write as root through sudo (default: the host's become)." })),
  },
  { additionalProperties: false },
);
export type CertInstallParams = Static<typeof CertInstallSchema>;
