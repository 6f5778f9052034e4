import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { ExecParamsSchema, planExec, runExec } from '../shared/exec-common.js';
import { BecomeSchema } from '../shared/remote-schemas.js';

/** A command on an inventory host over SSH; registers stdout, stderr and rc. */
export const sshExecTask = defineTask({
  type: 'ssh-exec',
  description: 'Runs a command on the host over SSH (guards, retries until a condition, expected exit codes).',
  schema: Type.Object({ ...ExecParamsSchema, become: BecomeSchema }, { additionalProperties: false }),
  run: (ctx) => runExec(ctx),
  dryRun: (ctx) => planExec(ctx),
});
