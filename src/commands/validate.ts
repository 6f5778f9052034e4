import { Command, collect, inventoryOption, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';
import { preparePlaybook } from './prepare.js';

/** `kcarun validate PLAYBOOK [-i INVENTORY] [-e VARS] [--output json]`: its option table, then the check. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('validate')
    .description('check a playbook (with its inventory and vars) without touching a host')
    .argument('<playbook>', 'the playbook file')
    .addOption(inventoryOption('the inventory (hosts, groups, vars)'))
    .option('-e, --extra-vars <vars>', 'key=value, @file.yaml or {yaml}; repeatable', collect, [])
    .addOption(outputOption());
  const parsed = parseCommand<{ inventory?: string; extraVars: string[]; output: 'auto' | 'plain' | 'json' }>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  return validateCommand({ playbook: parsed.args[0]!, inventory: parsed.options.inventory, extraVars: parsed.options.extraVars, output: parsed.options.output }, io);
}

/**
 * `kcarun validate PLAYBOOK [-i INVENTORY] [-e ...] [--output json]`: exit 0 when valid; problems
 * throw (exit 2; with --output json src/cli.ts prints them as one `error` line, each problem with its
 * file, line and col). Valid, with --output json: one line
 *   {"ts", "event": "valid", "playbook", "name", "version", "stages", "tasks", "skipped": [{"stage", "reason"}]}
 * for a CI job that checks a customised playbook before it is scheduled.
 */
export async function validateCommand(args: { playbook: string; inventory?: string; extraVars: string[]; output?: 'auto' | 'plain' | 'json' }, io: CommandIO): Promise<number> {
  const prepared = await preparePlaybook({ ...args, cwd: io.cwd });
  const tasks = prepared.plan.reduce((n, s) => n + s.stage.spec.tasks.length, 0);
  const skipped = prepared.plan.filter((s) => s.skipped);
  if (args.output === 'json') {
    const { name, version } = prepared.playbook.spec.metadata;
    const line = { ts: new Date().toISOString(), event: 'valid', playbook: args.playbook, name, version, stages: prepared.plan.length, tasks, skipped: skipped.map((s) => ({ stage: s.stage.spec.name, reason: s.skipped })) };
    io.stdout(`${JSON.stringify(line)}\n`);
    return 0;
  }
  io.stdout(`${args.playbook}: valid (${prepared.playbook.spec.metadata.name} ${prepared.playbook.spec.metadata.version}, ${prepared.plan.length} stages, ${tasks} tasks${skipped.length ? `, ${skipped.length} stages skipped` : ''})\n`);
  for (const s of skipped) io.stdout(`  skipped: ${s.stage.spec.name} (${s.skipped})\n`);
  return 0;
}
