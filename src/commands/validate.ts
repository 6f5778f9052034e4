import { Command, collect, inventoryOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';
import { preparePlaybook } from './prepare.js';

/** `kcarun validate PLAYBOOK [-i INVENTORY] [-e VARS]`: its option table, then the check. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('validate')
    .description('check a playbook (with its inventory and vars) without touching a host')
    .argument('<playbook>', 'the playbook file')
    .addOption(inventoryOption('the inventory (hosts, groups, vars)'))
    .option('-e, --extra-vars <vars>', 'key=value, @file.yaml or {yaml}; repeatable', collect, []);
  const parsed = parseCommand<{ inventory?: string; extraVars: string[] }>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  return validateCommand({ playbook: parsed.args[0]!, inventory: parsed.options.inventory, extraVars: parsed.options.extraVars }, io);
}

/** `kcarun validate PLAYBOOK [-i INVENTORY] [-e ...]`: exit 0 when valid; problems throw (exit 2). */
export async function validateCommand(args: { playbook: string; inventory?: string; extraVars: string[] }, io: CommandIO): Promise<number> {
  const prepared = await preparePlaybook({ ...args, cwd: io.cwd });
  const tasks = prepared.plan.reduce((n, s) => n + s.stage.spec.tasks.length, 0);
  const skipped = prepared.plan.filter((s) => s.skipped);
  io.stdout(`${args.playbook}: valid (${prepared.playbook.spec.metadata.name} ${prepared.playbook.spec.metadata.version}, ${prepared.plan.length} stages, ${tasks} tasks${skipped.length ? `, ${skipped.length} stages skipped` : ''})\n`);
  for (const s of skipped) io.stdout(`  skipped: ${s.stage.spec.name} (${s.skipped})\n`);
  return 0;
}
