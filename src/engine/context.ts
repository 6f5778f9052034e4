import type { DryRunWorld } from './dry-run.js';
import type { Emit } from './emit.js';
import type { StepRecord } from './journal.js';
import type { Registry, ScopeInput } from './scope.js';
import type { TransportProvider } from './transports.js';
import type { EngineInput } from './types.js';

/** What the modules of one run share: its input, the journal's earlier steps, and the tallies. */
export interface RunContext {
  input: EngineInput;
  emit: Emit;
  scopeInput: ScopeInput;
  /** The latest record of every step of the run being resumed (empty for a new run). */
  previous: Map<string, StepRecord>;
  registry: Registry;
  /** Narrowed by --limit; null: every host. */
  limitHosts: Set<string> | null;
  tally: { changed: number; failed: number; ranAnything: boolean };
  now: () => number;
  /**
   * A dry run: the world of its planned changes, and the transports steps use (host reads go
   * through that world's overlay; see dry-run.ts). Absent in a real run.
   */
  dryRun?: { world: DryRunWorld; transports: TransportProvider };
}

export function isoAt(now: () => number): string {
  return new Date(now()).toISOString();
}

export function setRegistered(registry: Registry, host: string, name: string, output: Record<string, unknown>): void {
  registry.set(host, { ...registry.get(host), [name]: output });
}

/** A resumed run sees what the earlier run registered. */
export function restoreRegistry(previous: Map<string, StepRecord>, registry: Registry): void {
  for (const step of previous.values()) {
    if (step.status === 'ok' && step.register) setRegistered(registry, step.host, step.register, step.output ?? {});
  }
}
