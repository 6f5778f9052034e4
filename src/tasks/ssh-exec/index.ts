import { defineTask } from '../define.js';
import { planExec, runExec } from '../shared/exec-common.js';
import { SshExecSchema } from './schema.js';

/** A command on an inventory host over SSH; registers stdout, stderr and rc. */
export const sshExecTask = defineTask({
  type: 'ssh-exec',
  description: 'Runs a command on the host over SSH (guards, retries until a condition, expected exit codes).',
  schema: SshExecSchema,
  run: (ctx) => runExec(ctx),
  dryRun: (ctx) => planExec(ctx),
});
