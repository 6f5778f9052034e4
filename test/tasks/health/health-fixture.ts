/** Calls health tasks and leader probes directly against a lab, over the real SSH transport. */
import { DEFAULT_FORKS } from '../../../src/engine/run.js';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInventory, type Inventory } from '../../../src/formats/inventory/load.js';
import { createTransportProvider, type TransportProvider } from '../../../src/engine/transports.js';
import { openStateDir } from '../../../src/engine/state-dir.js';
import type { HostInfo, LeaderProbeDefinition, TaskContext, TaskDefinition, TaskOutcome, TaskPlan } from '../../../src/tasks/define.js';
import { labInventory } from '../../../lab/commands/inventory.js';

export interface LabTasks {
  inventory: Inventory;
  inventoryFile: string;
  transports: TransportProvider;
  logs: string[];
  /** Runs `task` as one step of a run: `runId` defaults to one id per LabTasks (one run), as the engine gives it. */
  run<P>(task: TaskDefinition, host: string, params: P, options?: { stepId?: string; runId?: string; stateDir?: string; signal?: AbortSignal; changedInStage?: string[] }): Promise<TaskOutcome>;
  /** The step's `--dry-run` plan (task.dryRun), with the same context run() gives. */
  plan<P>(task: TaskDefinition, host: string, params: P, options?: { stepId?: string }): Promise<TaskPlan>;
  leader<P>(probe: LeaderProbeDefinition, hosts: string[], params: P): Promise<string | null>;
  host(name: string): HostInfo;
}

export async function labTasks(labDir: string, workDir: string): Promise<LabTasks> {
  const inventoryFile = join(workDir, 'inventory.yaml');
  writeFileSync(inventoryFile, labInventory(labDir));
  const inventory = await loadInventory(inventoryFile);
  const runId = randomUUID();
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(`info ${m}`), warn: (m: string) => logs.push(`warn ${m}`), debug: () => undefined };
  const transports = createTransportProvider(inventory, { acceptNewHostKeys: false, log, env: process.env });
  const host = (name: string): HostInfo => {
    const h = inventory.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return { ...h, vars: { ...inventory.vars, ...h.vars } };
  };
  const context = async (hostName: string, params: unknown, options: { stepId?: string; runId?: string; stateDir?: string; signal?: AbortSignal; changedInStage?: string[] }): Promise<TaskContext<unknown>> => {
    const ctx: TaskContext<unknown> = {
      params,
      host: host(hostName),
      transport: await transports.get(hostName),
      state: await openStateDir(options.stateDir ?? join(workDir, 'state'), { pid: process.pid, env: process.env }),
      log,
      signal: options.signal ?? new AbortController().signal,
      stepId: options.stepId ?? `test/0/${hostName}`,
      runId: options.runId ?? runId,
      changedInStage: options.changedInStage ?? [],
      transportFor: (n) => transports.get(n),
      inventoryHosts: new Map([...inventory.hosts.keys()].map((n) => [n, host(n)])),
      forks: DEFAULT_FORKS,
      evaluate: async () => {
        throw new Error('evaluate() is not available here');
      },
    };
    return ctx;
  };
  return {
    inventory,
    inventoryFile,
    transports,
    logs,
    host,
    async run(task, hostName, params, options = {}) {
      return task.run((await context(hostName, params, options)) as never);
    },
    async plan(task, hostName, params, options = {}) {
      if (!task.dryRun) throw new Error(`${task.type} has no dryRun`);
      return task.dryRun((await context(hostName, params, options)) as never);
    },
    async leader(probe, hosts, params) {
      return probe.findLeader({
        params: params as never,
        hosts: hosts.map(host),
        transportFor: (n) => transports.get(n),
        state: await openStateDir(join(workDir, 'state'), { pid: process.pid, env: process.env }),
        log,
        signal: new AbortController().signal,
      });
    },
  };
}
