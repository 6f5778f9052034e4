import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';

/**
 * Installs a client certificate from the state dir into the file a kubeconfig names, keeping the
 * key that file already holds (kubelet-client-current.pem: certificate and key in one file).
 */
export const certInstallTask = defineTask({
  type: 'cert-install',
  description:
    'Installs a re-issued client certificate into the file a kubeconfig names. A `*-current.pem` symlink gets a new timestamped file (certificate + key, 0600) and the link is swapped atomically; the old file stays as the rollback. A plain file is rewritten atomically.',
  schema: Type.Object(
    {
      path: Type.String({ minLength: 1, description: 'The file the kubeconfig names (client-certificate), e.g. /var/lib/kubelet/pki/kubelet-client-current.pem.' }),
      artifact: Type.String({ minLength: 1, description: 'The re-issued certificate in the state dir (cert-reissue registers it as certificateFiles[].artifact).' }),
      keyArtifact: Type.Optional(
        Type.String({ minLength: 1, description: 'Key policy rotate: the new key in the state dir; without it the key the file holds now is kept.' }),
      ),
      keyPath: Type.Optional(
        Type.String({ minLength: 1, description: 'Where the key lives when it is a separate file (client-key); ignored for a combined file.' }),
      ),
      become: Type.Optional(Type.Boolean({ description: "Write as root through sudo (default: the host's become)." })),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runCertInstall(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCertInstall(ctx),
  rollback: async (ctx, undo) => (await import('./run.js')).rollbackCertInstall(ctx, undo),
});
