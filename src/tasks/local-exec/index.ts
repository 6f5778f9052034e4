import { defineTask } from '../define.js';
import { planExec, runExec } from '../shared/exec-common.js';
import { LocalExecSchema } from './schema.js';

/** A command on the operator machine (the `local` host), e.g. kubectl or a backup script. */
export const localExecTask = defineTask({
  type: 'local-exec',
  description: 'Runs a command on the operator machine.',
  schema: LocalExecSchema,
  run: (ctx) => runExec(ctx),
  dryRun: (ctx) => planExec(ctx),
});
