import { Type, type Static } from '@sinclair/typebox';
import { ExecParamsSchema } from '../shared/exec-common.js';
import { BecomeSchema } from '../shared/schemas.js';

export const SshExecSchema = Type.Object({ ...ExecParamsSchema, become: BecomeSchema }, { additionalProperties: false });
export type SshExecParams = Static<typeof SshExecSchema>;
