#!/usr/bin/env node
/**
 * The only file that touches process.argv, process.exit, signals and the terminal. Everything
 * below takes its inputs as arguments (see src/commands/io.ts).
 */
import { createInterface } from 'node:readline/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, KcarunError, KcarunErrorList, exitCodeFor, formatError } from './core/errors.js';
import type { CommandIO } from './commands/io.js';
import { usePrecompiledValidators } from './formats/schema-check.js';
import { redactSecrets } from './core/redact.js';

const VERSION = '0.1.0';

const USAGE = `kcarun ${VERSION} — rotate Kubernetes and etcd CAs without downtime

Usage:
  kcarun PLAYBOOK -i INVENTORY [options]     run a playbook (same as: kcarun run ...)
  kcarun validate PLAYBOOK [-i INVENTORY] [-e VARS]
  kcarun status -i INVENTORY [--output json]
  kcarun rollback -i INVENTORY [--to STAGE] [--yes]
  kcarun certs inspect FILE|DIR [--output json]
  kcarun certs expiry -i INVENTORY [--warn-days 30] [--prometheus FILE] [--path P]... [--output json]

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

const runOptions = {
  inventory: { type: 'string', short: 'i' },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  'dry-run': { type: 'boolean' },
  check: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  resume: { type: 'boolean' },
  fresh: { type: 'boolean' },
  force: { type: 'boolean' },
  'start-at': { type: 'string' },
  limit: { type: 'string', short: 'l' },
  tags: { type: 'string', short: 't' },
  'skip-tags': { type: 'string' },
  forks: { type: 'string', short: 'f' },
  'state-dir': { type: 'string' },
  output: { type: 'string', short: 'o' },
  'accept-new-host-keys': { type: 'boolean' },
  'break-lock': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  to: { type: 'string' },
  'warn-days': { type: 'string' },
  prometheus: { type: 'string' },
  path: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

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

export async function main(argv: string[], io: CommandIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: runOptions, allowPositionals: true, strict: true });
  } catch (err) {
    throw new KcarunError('E_USAGE', `${(err as Error).message}\n\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  if (v.version) {
    io.stdout(`${VERSION}\n`);
    return EXIT.ok;
  }
  if (v.help || positionals.length === 0) {
    io.stdout(`${USAGE}\n`);
    return positionals.length === 0 && !v.help ? EXIT.invalidInput : EXIT.ok;
  }
  await usePrecompiled();
  const output = parseOutput(v.output);
  const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const [verb, ...rest] = positionals;
  const needOne = (what: string) => {
    if (rest.length !== 1) throw new KcarunError('E_USAGE', `${verb} takes one ${what}\n\n${USAGE}`);
    return rest[0]!;
  };

  switch (verb) {
    case 'validate': {
      const { validateCommand } = await import('./commands/validate.js');
      return validateCommand({ playbook: needOne('PLAYBOOK'), inventory: v.inventory, extraVars: v['extra-vars'] ?? [] }, io);
    }
    case 'status': {
      const { statusCommand } = await import('./commands/status.js');
      return statusCommand({ inventory: v.inventory, stateDir: v['state-dir'], output }, io);
    }
    case 'rollback': {
      const { rollbackCommand } = await import('./commands/rollback.js');
      return rollbackCommand(
        {
          inventory: v.inventory,
          stateDir: v['state-dir'],
          to: v.to,
          extraVars: v['extra-vars'] ?? [],
          yes: v.yes ?? false,
          force: v.force ?? false,
          breakLock: v['break-lock'] ?? false,
          acceptNewHostKeys: v['accept-new-host-keys'] ?? false,
          output,
        },
        io,
      );
    }
    case 'certs':
      return certsCommand(rest, v, output, io);
    default: {
      const playbook = verb === 'run' ? needOne('PLAYBOOK') : verb!;
      if (verb !== 'run' && rest.length > 0) throw new KcarunError('E_USAGE', `unexpected arguments: ${rest.join(' ')}\n\n${USAGE}`);
      const forks = v.forks === undefined ? 10 : Number(v.forks);
      if (!Number.isInteger(forks) || forks < 1) throw new KcarunError('E_USAGE', `--forks must be a positive whole number, not "${v.forks}"`);
      const { runCommand } = await import('./commands/run.js');
      return runCommand(
        {
          playbook,
          inventory: v.inventory,
          extraVars: v['extra-vars'] ?? [],
          stateDir: v['state-dir'],
          output,
          dryRun: (v['dry-run'] ?? false) || (v.check ?? false),
          yes: v.yes ?? false,
          resume: v.resume ?? false,
          fresh: v.fresh ?? false,
          force: v.force ?? false,
          breakLock: v['break-lock'] ?? false,
          acceptNewHostKeys: v['accept-new-host-keys'] ?? false,
          limit: v.limit,
          tags: list(v.tags),
          skipTags: list(v['skip-tags']),
          startAt: v['start-at'],
          forks,
          verbose: v.verbose ?? false,
        },
        io,
      );
    }
  }
}

async function certsCommand(rest: string[], v: { inventory?: string; 'warn-days'?: string; prometheus?: string; path?: string[]; 'accept-new-host-keys'?: boolean }, output: 'auto' | 'plain' | 'json', io: CommandIO): Promise<number> {
  const [sub, ...args] = rest;
  const table = output === 'json' ? 'json' : 'table';
  if (sub === 'inspect') {
    if (args.length !== 1) throw new KcarunError('E_USAGE', 'certs inspect takes one FILE or DIR');
    const { certsInspect } = await import('./commands/certs-inspect.js');
    return certsInspect({ target: args[0]!, output: table }, io);
  }
  if (sub === 'expiry') {
    if (!v.inventory) throw new KcarunError('E_USAGE', 'certs expiry needs -i INVENTORY');
    const warnDays = v['warn-days'] === undefined ? undefined : Number(v['warn-days']);
    if (warnDays !== undefined && !(warnDays >= 0)) throw new KcarunError('E_USAGE', `--warn-days must be a number of days, not "${v['warn-days']}"`);
    const [{ loadInventory }, { createTransportProvider }, { certsExpiry }] = await Promise.all([
      import('./formats/inventory/load.js'),
      import('./engine/transports.js'),
      import('./commands/certs-expiry.js'),
    ]);
    const { resolve } = await import('node:path');
    const inventory = await loadInventory(resolve(io.cwd, v.inventory));
    const transports = createTransportProvider(inventory, { acceptNewHostKeys: v['accept-new-host-keys'] ?? false, env: io.env, log: { info: () => {}, warn: (m) => io.stderr(`${m}\n`), debug: () => {} } });
    try {
      const hosts = [...inventory.hosts.values()].map((h) => ({ host: h.name, transport: lazyTransport(() => transports.get(h.name), h.name) }));
      return await certsExpiry({ hosts, paths: v.path, warnDays, output: table, prometheusFile: v.prometheus }, io);
    } finally {
      await transports.closeAll();
    }
  }
  throw new KcarunError('E_USAGE', `unknown certs command "${sub ?? ''}" (inspect, expiry)`);
}

/** A transport that connects on first use, so one unreachable host is reported, not fatal for all. */
function lazyTransport(open: () => Promise<import('./transport/types.js').Transport>, host: string): import('./transport/types.js').Transport {
  let t: Promise<import('./transport/types.js').Transport> | undefined;
  const get = () => (t ??= open());
  return {
    host,
    exec: async (c, o) => (await get()).exec(c, o),
    readFile: async (p, o) => (await get()).readFile(p, o),
    writeFile: async (p, d, o) => (await get()).writeFile(p, d, o),
    stat: async (p, o) => (await get()).stat(p, o),
    // Not known before connecting; the shell path works either way.
    directFileAccess: () => false,
    close: async () => {
      if (t) await (await t).close();
    },
  };
}

function parseOutput(value: string | undefined): 'auto' | 'plain' | 'json' {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'plain' || value === 'json') return value;
  throw new KcarunError('E_USAGE', `--output must be auto, plain or json, not "${value}"`);
}

function processIO(): CommandIO {
  const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY) && !process.env.CI;
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
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
  let code: number;
  try {
    code = await main(process.argv.slice(2), io);
  } catch (err) {
    code = exitCodeFor(err);
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
