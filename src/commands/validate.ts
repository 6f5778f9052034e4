import type { CommandIO } from './io.js';
import { preparePlaybook } from './prepare.js';

/** `kcarun validate PLAYBOOK [-i INVENTORY] [-e ...]`: exit 0 when valid; problems throw (exit 2). */
export async function validateCommand(args: { playbook: string; inventory?: string; extraVars: string[] }, io: CommandIO): Promise<number> {
  const prepared = await preparePlaybook({ ...args, cwd: io.cwd });
  const tasks = prepared.plan.reduce((n, s) => n + s.stage.spec.tasks.length, 0);
  io.stdout(`${args.playbook}: valid (${prepared.playbook.spec.metadata.name} ${prepared.playbook.spec.metadata.version}, ${prepared.plan.length} stages, ${tasks} tasks)\n`);
  return 0;
}
