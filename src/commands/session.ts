import { setMaxListeners } from 'node:events';
import { KcarunError } from '../core/errors.js';
import type { RunState } from '../core/types.js';
import type { Reporter } from '../engine/events.js';
import { Journal, readOnlyJournal, type JournalLike } from '../engine/journal.js';
import { acquireLock, PROCESS_GROUPS_FILE, type RunLock } from '../engine/lock.js';
import { recordProcessGroupsIn } from '../core/process-groups.js';
import { join } from 'node:path';
import type { Interrupt } from '../engine/run.js';
import { openScratchStateDir, openStateDir } from '../engine/state-dir.js';
import { createTransportProvider, type TransportProvider } from '../engine/transports.js';
import type { Inventory } from '../formats/inventory/load.js';
import type { CommandIO } from './io.js';
import { createJsonReporter } from './render/json.js';
import { createPlainReporter } from './render/plain.js';
import { withRunReport } from './render/run-report.js';

export interface SessionOptions {
  stateDir: string;
  inventory: Inventory;
  output: 'auto' | 'plain' | 'json';
  verbose?: boolean;
  /** A dry run changes nothing: no lock, no journal written, no report. */
  dryRun: boolean;
  breakLock: boolean;
  acceptNewHostKeys: boolean;
  /** The command line recorded in the lock (`status` shows who holds it). */
  command: string;
  /** A real run leaves its report in the state dir; a rollback does not. */
  report: boolean;
  /** The live task list on a terminal (run); rollback prints plain lines. */
  liveList: boolean;
}

/** What a command that changes hosts works with; every part is released by withSession. */
export interface Session {
  state: RunState;
  lock: RunLock | null;
  reporter: Reporter;
  transports: TransportProvider;
  /** Set by the first SIGINT/SIGTERM (finish what is in flight, then stop); its signal aborts on the second. */
  interrupt: Interrupt;
  /** The journal for writing (released with the session); a dry run gets a read-only one. */
  openJournal(options: { fresh: boolean }): Promise<JournalLike>;
}

/**
 * The setup `kcarun run` and `kcarun rollback` share, then `work`, then the cleanup in reverse
 * order of setup: the state dir, the run lock, the reporter, the SSH connections, the interrupt
 * handler (first SIGINT: finish the steps in flight and stop; second: abort them), the journal.
 * A cleanup failure never hides the error `work` threw.
 */
export async function withSession<T>(options: SessionOptions, io: CommandIO, work: (session: Session) => Promise<T>): Promise<T> {
  const cleanups: (() => Promise<void> | void)[] = [];
  let result: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  try {
    const realState = await openStateDir(options.stateDir, { pid: io.pid, env: io.env, readOnly: options.dryRun });
    // A dry run makes its artifacts (new CAs, bundles, re-issued certificates) for real, in a
    // throwaway copy of the state dir, so later steps plan against the real predicted bytes.
    const scratch = options.dryRun ? await openScratchStateDir(realState, { pid: io.pid }) : undefined;
    if (scratch) cleanups.push(() => scratch.dispose());
    const state = scratch ?? realState;
    // A dry run changes nothing, so it takes no lock.
    const lock = options.dryRun ? null : await acquireLock(realState.dir, { breakLock: options.breakLock, command: options.command, pid: io.pid, isRunning: (pid) => io.isRunning(pid), now: io.now });
    if (lock) cleanups.push(() => lock.release());
    // After the lock: a run that takes it over later (this one killed) finds our local commands here.
    if (lock) {
      recordProcessGroupsIn(join(state.dir, PROCESS_GROUPS_FILE));
      cleanups.push(async () => recordProcessGroupsIn(undefined));
    }
    const display = chooseReporter(options, io);
    const reporter = options.report && !options.dryRun ? withRunReport(display, realState.dir) : display;
    cleanups.push(() => reporter.close());
    const transports = createTransportProvider(options.inventory, {
      acceptNewHostKeys: options.acceptNewHostKeys,
      env: io.env,
      log: { info: () => {}, warn: (m) => reporter.emit({ event: 'log', level: 'warn', message: m }), debug: () => {} },
    });
    cleanups.push(() => transports.closeAll().catch(() => {}));
    const hardStop = new AbortController();
    // Every running step listens on it (hundreds with a large --forks): not a leak.
    setMaxListeners(0, hardStop.signal);
    const interrupt = { requested: false, hardStop: hardStop.signal };
    cleanups.push(
      io.onInterrupt(() => {
        if (interrupt.requested) {
          hardStop.abort(new KcarunError('E_INTERRUPTED', 'interrupted twice: stopping the steps in flight'));
          return;
        }
        interrupt.requested = true;
        reporter.emit({ event: 'log', level: 'warn', message: 'interrupt: finishing the steps in flight, then stopping (interrupt again to stop now)' });
      }),
    );
    if (lock?.takeoverNote) reporter.emit({ event: 'log', level: 'warn', message: lock.takeoverNote });
    const openJournal = async ({ fresh }: { fresh: boolean }): Promise<JournalLike> => {
      if (options.dryRun) return readOnlyJournal(realState.dir);
      const journal = await Journal.open(realState.dir, { fresh });
      cleanups.push(() => journal.close());
      return journal;
    };
    result = { ok: true, value: await work({ state, lock, reporter, transports, interrupt, openJournal }) };
  } catch (error) {
    result = { ok: false, error };
  }
  let cleanupError: unknown;
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      cleanupError ??= err;
    }
  }
  if (!result.ok) throw result.error;
  if (cleanupError !== undefined) throw cleanupError;
  return result.value;
}

function chooseReporter(options: SessionOptions, io: CommandIO): Reporter {
  if (options.output === 'json') return createJsonReporter((l) => io.stdout(l));
  // A dry run's output is its diffs and summary: plain lines, also on a terminal.
  if (options.liveList && !options.dryRun && options.output === 'auto' && io.interactive) {
    // Loaded only for terminals: cron and CI never pay for it.
    return lazyListrReporter(io);
  }
  return createPlainReporter((t) => io.stdout(t), { verbose: options.verbose ?? false });
}

function lazyListrReporter(io: CommandIO): Reporter {
  const queue: Parameters<Reporter['emit']>[0][] = [];
  let real: Reporter | undefined;
  const ready = import('./render/listr.js').then(({ createListrReporter }) => {
    real = createListrReporter((t) => io.stdout(t));
    for (const e of queue) real.emit(e);
  });
  return {
    emit: (e) => (real ? real.emit(e) : queue.push(e)),
    close: async () => {
      await ready;
      await real!.close();
    },
  };
}
