/**
 * `-i, --inventory` is one option table entry (src/commands/args.ts inventoryOption) shared by the
 * six commands that read an inventory: given twice it is refused, and where hosts are needed it is
 * required; each command keeps its own help text.
 */
import { describe, expect, it } from 'vitest';
import { Command, inventoryOption, parseCommand } from '../../src/commands/args.js';
import { KcarunError } from '../../src/core/errors.js';
import { runCli } from '../helpers/cli.js';

const noOutput = { stdout: () => {} };

function parse(required: boolean, argv: string[]): unknown {
  try {
    const parsed = parseCommand<{ inventory?: string }>(new Command('x').addOption(inventoryOption('the inventory', { required })), argv, noOutput);
    return 'exit' in parsed ? parsed.exit : parsed.options.inventory;
  } catch (err) {
    return err instanceof KcarunError ? `${err.code}: ${err.message}` : err;
  }
}

describe('inventoryOption', () => {
  it('takes one inventory, refuses a second, and is required only when asked', () => {
    expect(parse(false, ['-i', 'a.yaml'])).toBe('a.yaml');
    expect(parse(false, ['--inventory=a.yaml'])).toBe('a.yaml');
    expect(parse(false, [])).toBeUndefined();
    expect(parse(false, ['-i', 'a.yaml', '--inventory', 'b.yaml'])).toBe(
      "E_USAGE: kcarun x: option '-i, --inventory <file>' argument 'b.yaml' is invalid. given twice (a.yaml, then b.yaml); give it once (kcarun x --help lists its options)",
    );
    expect(parse(true, [])).toBe("E_USAGE: kcarun x: required option '-i, --inventory <file>' not specified (kcarun x --help lists its options)");
    expect(parse(true, ['-i', 'a.yaml'])).toBe('a.yaml');
  });

  const commands: [string[], string, boolean][] = [
    [['run'], 'the inventory (hosts, groups, vars)', false],
    [['validate'], 'the inventory (hosts, groups, vars)', false],
    [['status'], 'the inventory (its state dir is .kcarun/ beside it)', false],
    [['rollback'], 'the inventory (hosts, groups, vars)', false],
    [['certs', 'expiry'], 'the inventory (hosts to read)', true],
    [['discover'], 'the inventory (hosts to read)', true],
  ];
  it.each(commands)('%j: its help line (%s), -i twice refused (exit 2), required: %s', async (command, description, required) => {
    const help = await runCli([...command, '--help'], { cwd: import.meta.dirname });
    expect(help.stdout).toMatch(new RegExp(`^ {2}-i, --inventory <file> +${description.replace(/[().]/g, '\\$&')}$`, 'm'));
    const twice = await runCli([...command, 'x.yaml', '-i', 'a.yaml', '-i', 'b.yaml'], { cwd: import.meta.dirname });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain("argument 'b.yaml' is invalid. given twice (a.yaml, then b.yaml); give it once");
    if (required) {
      const none = await runCli(command, { cwd: import.meta.dirname });
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("required option '-i, --inventory <file>' not specified");
    }
  });
});
