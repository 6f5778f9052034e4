import { mkdtemp, rm } from 'node:fs/promises';
import { DEFAULT_FORKS } from '../../src/engine/run.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostInfo, RunState, TaskContext, TaskDefinition } from '../../src/tasks/define.js';
import { openStateDir } from '../../src/engine/state-dir.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';

/** A temp folder for one test; call the returned cleanup in afterEach. */
export async function makeTempDir(prefix = 'kcarun-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function makeHost(name = 'local', vars: Record<string, unknown> = {}): HostInfo {
  return { name, address: '127.0.0.1', port: 22, user: 'root', groups: [], vars, ssh: {}, become: false };
}

/**
 * A TaskContext for calling a task definition directly, the way the runner does, without a
 * playbook. Params are passed as they would be after templating.
 */
export async function makeTaskContext<P>(options: {
  params: P;
  stateDir: string;
  transport?: Transport;
  host?: HostInfo;
  transports?: Record<string, Transport>;
  signal?: AbortSignal;
  /** TaskContext.changedInStage: what earlier steps of the stage changed on this host. */
  changedInStage?: string[];
}): Promise<TaskContext<P>> {
  const state: RunState = await openStateDir(options.stateDir, { pid: process.pid, env: process.env });
  const host = options.host ?? makeHost();
  const transport = options.transport ?? new LocalTransport();
  const hosts = new Map<string, HostInfo>([[host.name, host]]);
  return {
    params: options.params,
    host,
    transport,
    state,
    log: { info: () => {}, warn: () => {}, debug: () => {} },
    signal: options.signal ?? new AbortController().signal,
    stepId: `test/0/${host.name}`,
    changedInStage: options.changedInStage ?? [],
    transportFor: async (name) => options.transports?.[name] ?? transport,
    inventoryHosts: hosts,
    forks: DEFAULT_FORKS,
    evaluate: async () => {
      throw new Error('evaluate() is not available in makeTaskContext');
    },
  };
}

export type AnyTask = TaskDefinition;
