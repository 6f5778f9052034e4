import { Type, type Static } from '@sinclair/typebox';
import { ExecParamsSchema } from '../shared/exec-common.js';
import { BecomeSchema, RemotePathSchema } from '../shared/schemas.js';

/**
 * local-exec's params, with the paths on the host absolute (RemotePathSchema). local-exec keeps
 * relative ones: they are relative to the folder kcarun was started in, which the operator chose.
 */
export const SshExecSchema = Type.Object(
  {
    ...ExecParamsSchema,
    cwd: Type.Optional(RemotePathSchema('Working directory on the host.')),
    creates: Type.Optional(RemotePathSchema(ExecParamsSchema.creates.description)),
    removes: Type.Optional(RemotePathSchema(ExecParamsSchema.removes.description)),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type SshExecParams = Static<typeof SshExecSchema>;
