import { Type, type Static } from '@sinclair/typebox';
import { ArtifactPathSchema, BecomeSchema, ModeSchema, RemotePathSchema } from '../shared/schemas.js';

export const FileUploadSchema = Type.Object(
  {
    dest: RemotePathSchema('Path on the host.'),
    artifact: Type.Optional(ArtifactPathSchema('Source: a file in the state dir artifacts/.')),
    content: Type.Optional(Type.String({ description: 'Source: inline content (instead of artifact).' })),
    mode: Type.Optional(ModeSchema),
    owner: Type.Optional(Type.String({ minLength: 1 })),
    group: Type.Optional(Type.String({ minLength: 1 })),
    onlyIfExists: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Replace the destination only where it already exists; elsewhere write nothing (changed=false). A new CA key goes only to the hosts that held the old one.',
      }),
    ),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type FileUploadParams = Static<typeof FileUploadSchema>;
