import { Type, type Static } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { BecomeSchema, ModeSchema } from './schemas.js';

export const FileUploadSchema = Type.Object(
  {
    dest: Type.String({ minLength: 1, description: 'Path on the host.' }),
    artifact: Type.Optional(Type.String({ minLength: 1, description: 'Source: a file in the state dir artifacts/.' })),
    content: Type.Optional(Type.String({ description: 'Source: inline content (instead of artifact).' })),
    mode: Type.Optional(ModeSchema),
    owner: Type.Optional(Type.String({ minLength: 1 })),
    group: Type.Optional(Type.String({ minLength: 1 })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type FileUploadParams = Static<typeof FileUploadSchema>;

/**
 * Puts a state-dir artifact (a new CA, a bundle, a re-issued certificate or key) on a host,
 * atomically. Same checksum, mode and owner -> changed=false and nothing written. Private keys
 * default to 0600.
 */
export const fileUploadTask = defineTask({
  type: 'file-upload',
  description: 'Copies an artifact (or inline content) to a host atomically, with mode/owner and checksum compare; backup and undo.',
  schema: FileUploadSchema,
  run: async (ctx) => (await import('./impl/file-transfer.js')).runFileUpload(ctx),
  dryRun: async (ctx) => (await import('./impl/file-transfer.js')).planFileUpload(ctx),
  rollback: async (ctx, undo) => (await import('./impl/backup.js')).restoreBackup(ctx, undo),
});
