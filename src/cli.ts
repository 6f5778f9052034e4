#!/usr/bin/env node
/**
 * The only file that touches process.argv, process.exit, signals and the terminal. Everything
 * below takes its inputs as arguments (see src/commands/io.ts).
 */
import { createInterface } from 'node:readline/promises';
import { EXIT, KcarunError, KcarunErrorList, exitCodeFor, formatError } from './core/errors.js';
import type { CommandIO } from './commands/io.js';
import { usePrecompiledValidators } from './formats/schema-check.js';
import { redactSecrets } from './core/redact.js';
import { terminalText } from './core/terminal.js';
import { jsonOutputRequested } from './commands/args.js';
import { jsonErrorLine } from './commands/render/json.js';

const VERSION = '0.1.0';

const USAGE = `kcarun ${VERSION} — rotate Kubernetes and etcd CAs without downtime

Usage:
  kcarun PLAYBOOK -i INVENTORY [options]     run a playbook (same as: kcarun run ...)
  kcarun validate PLAYBOOK [-i INVENTORY] [-e VARS] [--output json]
  kcarun status -i INVENTORY [--output json]
  kcarun rollback -i INVENTORY [--to STAGE] [--yes]
  kcarun certs inspect FILE|DIR [--output json]
  kcarun certs expiry -i INVENTORY [--warn-days 30] [--prometheus FILE] [--path P]... [--output json]
  kcarun discover -i INVENTORY [--output plain|json] [--write-vars FILE] [--accept-new-host-keys]

Run options:
  -i, --inventory FILE      the inventory (hosts, groups, vars)
  -e, --extra-vars VARS     key=value, @file.yaml or {yaml}; repeatable; highest precedence
      --dry-run             show what every task would do (commands, diffs); change nothing
      --yes                 apply without asking (required when stdin/stdout is not a terminal)
      --resume              continue the last run after its last completed step
      --fresh               start over although the last run did not finish
      --force               resume although the playbook changed
      --start-at STAGE      begin at this stage (e.g. finalize)
      --limit PATTERN       only these hosts (group, host, glob; comma-separated)
      --tags T1,T2          only tasks with these tags; --skip-tags T1,T2 to leave some out
      --forks N             hosts worked on at once within a batch (default 10)
      --state-dir DIR       journal, artifacts, backups (default: .kcarun/ beside the inventory)
      --output auto|plain|json   live list on a terminal, lines otherwise; json: one event per line
      --accept-new-host-keys     add unknown SSH host keys to known_hosts (changed keys are always refused)
      --break-lock          take the run lock from a run on another host that is gone
  -v, --verbose             more detail in plain output

Exit codes: 0 success or nothing to do, 1 a run failed (after rollback), 2 invalid input,
3 another run holds the lock, 130 interrupted.`;

/**
 * The schema validators `npm run build` compiled ahead of time (dist/validators.js beside this
 * file). Run from the sources (tsx) there is none, and validators are compiled when first used.
 */
async function usePrecompiled(): Promise<void> {
  const built = (await import(new URL('./validators.js', import.meta.url).href).catch(() => undefined)) as
    | { byFingerprint?: Parameters<typeof usePrecompiledValidators>[0] }
    | undefined;
  if (built?.byFingerprint) usePrecompiledValidators(built.byFingerprint);
}

/** The commands; each module owns its option table (src/commands/args.ts) and is loaded only when used. */
const COMMANDS: Record<string, () => Promise<{ main(argv: string[], io: CommandIO): Promise<number> }>> = {
  run: () => import('./commands/run.js'),
  validate: () => import('./commands/validate.js'),
  status: () => import('./commands/status.js'),
  rollback: () => import('./commands/rollback.js'),
  certs: () => import('./commands/certs.js'),
  discover: () => import('./commands/discover.js'),
};

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [first, ...rest] = argv;
  if (argv.includes('--version')) {
    io.stdout(`${VERSION}\n`);
    return EXIT.ok;
  }
  if (first === undefined || first === '-h' || first === '--help') {
    io.stdout(`${USAGE}\n`);
    return first === undefined ? EXIT.invalidInput : EXIT.ok;
  }
  await usePrecompiled();
  const command = COMMANDS[first];
  // `kcarun PLAYBOOK ...` is `kcarun run PLAYBOOK ...`.
  if (!command) return (await COMMANDS.run!()).main(argv, io);
  return (await command()).main(rest, io);
}

function processIO(): CommandIO {
  const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY) && !process.env.CI;
  return {
    // Every byte kcarun writes passes the redactor and the terminal escaper once, here.
    stdout: (s) => process.stdout.write(terminalText(redactSecrets(s), { newlines: 'keep' })),
    stderr: (s) => process.stderr.write(terminalText(redactSecrets(s), { newlines: 'keep' })),
    interactive,
    env: process.env,
    cwd: process.cwd(),
    pid: process.pid,
    isRunning(pid) {
      // Signal 0 checks without signalling; EPERM: it exists, as another user's process.
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
    async confirm(question) {
      if (!interactive) return false;
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return /^y(es)?$/i.test((await rl.question(question)).trim());
      } finally {
        rl.close();
      }
    },
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
  };
}

async function cli(): Promise<void> {
  // A closed pipe (`kcarun ... | head`) is the reader's choice, not a failure of the run.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const io = processIO();
  const argv = process.argv.slice(2);
  let code: number;
  try {
    code = await main(argv, io);
  } catch (err) {
    code = exitCodeFor(err);
    // With --output json stdout carries JSON only, and a script reading it must see the failure
    // too, not just an exit code: the same error as one JSON line (stderr keeps the text).
    if (jsonOutputRequested(argv)) io.stdout(jsonErrorLine(err, code));
    if (err instanceof KcarunErrorList) io.stderr(`${redactSecrets(err.message)}\n`);
    else if (err instanceof KcarunError) io.stderr(`error: ${redactSecrets(formatError(err))}\n`);
    else io.stderr(`internal error: ${redactSecrets((err as Error)?.stack ?? String(err))}\n`);
  }
  // Exit once stdout and stderr have flushed: writes to a pipe are asynchronous, and a JSON report
  // read by a slow consumer must not be cut short. (Exiting at all, rather than waiting for the
  // event loop to empty, stops a stray timer or socket from keeping a cron job alive.)
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

await cli();
