import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { ExecParamsSchema, planExec, runExec } from '../shared/exec-common.js';

/** A command on the operator machine (the `local` host), e.g. kubectl or a backup script. */
export const localExecTask = defineTask({
  type: 'local-exec',
  description: 'Runs a command on the operator machine.',
  schema: Type.Object(ExecParamsSchema, { additionalProperties: false }),
  run: (ctx) => runExec(ctx),
  dryRun: (ctx) => planExec(ctx),
});
