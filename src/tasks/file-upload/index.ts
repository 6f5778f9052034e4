import { defineTask } from '../define.js';
import { FileUploadSchema } from './schema.js';

export * from './schema.js';

/**
 * Puts a state-dir artifact (a new CA, a bundle, a re-issued certificate or key) on a host,
 * atomically. Same checksum, mode and owner -> changed=false and nothing written. Private keys
 * default to 0600.
 */
export const fileUploadTask = defineTask({
  type: 'file-upload',
  description: 'Copies an artifact (or inline content) to a host atomically, with mode/owner and checksum compare; backup and undo.',
  schema: FileUploadSchema,
  run: async (ctx) => (await import('./run.js')).runFileUpload(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planFileUpload(ctx),
  rollback: async (ctx, undo) => (await import('../shared/backup.js')).restoreBackup(ctx, undo),
});
