import { Type, type Static } from '@sinclair/typebox';
import { ArtifactPathSchema, BecomeSchema, ModeSchema, RemotePathSchema } from '../shared/schemas.js';

export const FileFetchSchema = Type.Object(
  {
    src: RemotePathSchema('Path on the host.'),
    artifact: ArtifactPathSchema('Where to store it in the state dir artifacts/, e.g. hosts/cp1/apiserver.crt.'),
    mode: Type.Optional(ModeSchema),
    missingOk: Type.Optional(Type.Boolean({ default: false, description: 'A missing file is not an error (output.exists=false).' })),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type FileFetchParams = Static<typeof FileFetchSchema>;
