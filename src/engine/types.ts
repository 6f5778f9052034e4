import type { Inventory } from '../formats/inventory/load.js';
import type { LoadedPlaybook } from '../formats/playbook/load.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import type { LeaderProbeDefinition, RunState, TaskDefinition } from '../tasks/define.js';
import type { Reporter } from './events.js';
import type { JournalLike } from './journal.js';
import type { ScopeInput } from './scope.js';
import type { TransportProvider } from './transports.js';

/** `--forks` when not given (kcarun run; kcarun rollback, which has no such flag, always). */
export const DEFAULT_FORKS = 10;

/** The run options the CLI passes down (flags of `kcarun run`). */
export interface RunOptions {
  dryRun: boolean;
  /** A host pattern that narrows every stage's hosts. */
  limit?: string;
  tags: string[];
  skipTags: string[];
  startAt?: string;
  /** Hosts worked on at once within a batch (`--forks`, default DEFAULT_FORKS). */
  forks: number;
  resume: boolean;
}

export interface Interrupt {
  /** Set by the first SIGINT: finish the steps in flight, checkpoint, stop. */
  readonly requested: boolean;
  /** Aborted by a second SIGINT: stop now. */
  readonly hardStop: AbortSignal;
}

/** Everything a run needs, passed in: the engine reads no globals (no process, no wall clock of its own). */
export interface EngineInput {
  playbook: LoadedPlaybook;
  inventory: Inventory;
  plan: PlannedStage[];
  extraVars: ScopeInput['extraVars'];
  options: RunOptions;
  state: RunState;
  journal: JournalLike;
  transports: TransportProvider;
  reporter: Reporter;
  interrupt: Interrupt;
  taskTypes: ReadonlyMap<string, TaskDefinition>;
  leaderProbes: ReadonlyMap<string, LeaderProbeDefinition>;
  /** The process id recorded in the journal's run record (status shows who ran it). */
  pid: number;
  /** The clock, in epoch milliseconds (default Date.now). */
  now?: () => number;
}

export interface RunResult {
  status: 'succeeded' | 'failed' | 'interrupted' | 'nothing-to-do' | 'planned';
  exitCode: number;
  message?: string;
}
