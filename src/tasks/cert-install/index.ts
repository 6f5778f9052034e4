import { defineTask } from '../define.js';
import { CertInstallSchema } from './schema.js';

/**
 * Installs a client certificate from the state dir into the file a kubeconfig names, keeping the
 * key that file already holds (kubelet-client-current.pem: certificate and key in one file).
 */
export const certInstallTask = defineTask({
  type: 'cert-install',
  description:
    'Installs a re-issued client certificate into the file a kubeconfig names. A `*-current.pem` symlink gets a new timestamped file (certificate + key, 0600) and the link is swapped atomically; the old file stays as the rollback. A plain file is rewritten atomically.',
  schema: CertInstallSchema,
  run: async (ctx) => (await import('./run.js')).runCertInstall(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planCertInstall(ctx),
  rollback: async (ctx, undo) => (await import('./run.js')).rollbackCertInstall(ctx, undo),
});
