import { defineTask } from '../define.js';
import { FilePatchSchema } from './schema.js';

export * from './schema.js';

/** Edits a file on the host in place; keeps a backup, undoes from it; unchanged files are not written. */
export const filePatchTask = defineTask({
  type: 'file-patch',
  description: 'Edits a remote file in place (YAML/JSON path, command-line flag, kubeconfig CA/credentials, regex, line), with backup, diff and undo.',
  schema: FilePatchSchema,
  run: async (ctx) => (await import('./run.js')).runFilePatch(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planFilePatch(ctx),
  rollback: async (ctx, undo) => (await import('../shared/backup.js')).restoreBackup(ctx, undo),
});
