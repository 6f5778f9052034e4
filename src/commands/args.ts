import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, KcarunError } from '../core/errors.js';
import type { CommandIO } from './io.js';

export { Command, Option };

/**
 * Parses one command's arguments with its own option table (commander). An option the command
 * does not have (`kcarun status --dry-run`), a missing argument or a stray one is E_USAGE (exit 2)
 * naming the command; `--help` prints that command's help. Returns the parsed options and
 * arguments, or the exit code when the help was printed.
 */
export function parseCommand<O extends object>(
  command: Command,
  argv: string[],
  io: Pick<CommandIO, 'stdout'>,
): { options: O; args: string[] } | { exit: number } {
  command
    .exitOverride()
    .helpOption('-h, --help', 'show this help')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: () => {}, outputError: () => {} })
    .configureHelp({ commandUsage: (cmd) => `kcarun ${cmd.name()} ${cmd.usage()}` })
    .showSuggestionAfterError(true);
  try {
    command.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed') return { exit: EXIT.ok };
      const what = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      throw new KcarunError('E_USAGE', `kcarun ${command.name()}: ${what} (kcarun ${command.name()} --help lists its options)`);
    }
    throw err;
  }
  return { options: command.opts() as O, args: command.args };
}

/**
 * An option given at most once (`-i`): commander keeps the last of several silently, so
 * `-i staging.yaml -i prod.yaml` would run against prod without a word.
 */
const once = (value: string, previous: string | undefined): string => {
  if (previous !== undefined) throw new InvalidArgumentError(`given twice (${previous}, then ${value}); give it once`);
  return value;
};

/**
 * `-i, --inventory <file>`, the one option table entry every command that reads an inventory uses:
 * given at most once (`once`), required where the command cannot work without hosts (certs
 * expiry, discover). `description` says what the command reads from it.
 */
export function inventoryOption(description: string, options: { required?: boolean } = {}): Option {
  return new Option('-i, --inventory <file>', description).argParser(once).makeOptionMandatory(options.required ?? false);
}

/** -e can be given many times. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--output`: auto (live list on a terminal, lines otherwise), plain, or json (one event per line). */
export function outputOption(): Option {
  return new Option('-o, --output <mode>', 'auto | plain | json').choices(['auto', 'plain', 'json']).default('auto');
}

/**
 * Whether a command line asks for `--output json` (`--output json`, `--output=json`, `-o json`,
 * `-ojson`; the last one given wins, as in commander; nothing after `--`). Read from the words
 * themselves, not from commander, so that src/cli.ts can answer in JSON also when parsing failed
 * before reaching the option (`--forks 0 -o json`). Not recognised: `-o` inside a group of short
 * flags (`-yo json`).
 */
export function jsonOutputRequested(argv: readonly string[]): boolean {
  let mode: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    if (word === '--output' || word === '-o') mode = argv[++i];
    else if (word.startsWith('--output=')) mode = word.slice('--output='.length);
    else if (/^-o[^-]/.test(word)) mode = word.slice(2);
  }
  return mode === 'json';
}

/** A comma list (`--tags a,b`) as its words. */
export function list(s: string | undefined): string[] {
  return s ? s.split(',').map((x) => x.trim()).filter(Boolean) : [];
}
