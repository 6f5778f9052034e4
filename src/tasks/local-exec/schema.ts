import { Type, type Static } from '@sinclair/typebox';
import { ExecParamsSchema } from '../shared/exec-common.js';

export const LocalExecSchema = Type.Object(ExecParamsSchema, { additionalProperties: false });
export type LocalExecParams = Static<typeof LocalExecSchema>;
