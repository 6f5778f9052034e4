/**
 * The task context the engine builds for a step (src/engine/step.ts buildContext): what earlier steps
 * of the stage changed on the host (TaskContext.changedInStage, read by service-restart to tell a
 * manifest the kubelet acts on by itself) is read from the journal only when the task asks, once.
 */
import { DEFAULT_FORKS } from '../../src/engine/run.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStateDir } from '../../src/engine/state-dir.js';
import { buildContext, type StepInput } from '../../src/engine/step.js';
import type { TransportProvider } from '../../src/engine/transports.js';
import { taskTypes } from '../../src/tasks/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { makeHost, makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir('kcarun-step-context-')));
afterEach(async () => cleanup());

async function input(changedInStage?: () => readonly string[]): Promise<StepInput> {
  const host = makeHost('h1');
  const transport = new LocalTransport('h1');
  const transports: TransportProvider = { get: async () => transport, opened: 0, closeAll: async () => undefined };
  return {
    task: { name: 't', type: 'local-exec', with: { command: 'true' } },
    def: taskTypes.get('local-exec')!,
    host,
    scope: {},
    stepId: 'stage/0/h1',
    state: await openStateDir(dir, { pid: process.pid, env: {} }),
    transports,
    inventoryHosts: new Map([[host.name, host]]),
    forks: DEFAULT_FORKS,
    log: { info: () => {}, warn: () => {}, debug: () => {} },
    hardStop: new AbortController().signal,
    ...(changedInStage ? { changedInStage } : {}),
  };
}

describe('a step\'s TaskContext.changedInStage', () => {
  it('is not computed for a task that does not read it (a journal scan per step made a run quadratic in its hosts)', async () => {
    let calls = 0;
    const ctx = await buildContext(await input(() => (calls++, ['/etc/kubernetes/manifests/etcd.yaml'])), new AbortController().signal);
    expect(ctx.params).toEqual({ command: 'true' });
    expect(calls).toBe(0);
  });

  it('is computed once, on first read, and gives the journal\'s answer', async () => {
    let calls = 0;
    const ctx = await buildContext(await input(() => (calls++, ['/etc/kubernetes/manifests/etcd.yaml'])), new AbortController().signal);
    expect(ctx.changedInStage).toEqual(['/etc/kubernetes/manifests/etcd.yaml']);
    expect(ctx.changedInStage).toEqual(['/etc/kubernetes/manifests/etcd.yaml']);
    expect(calls).toBe(1);
  });

  it('is empty where nothing is known (dry run, rollback)', async () => {
    const ctx = await buildContext(await input(), new AbortController().signal);
    expect(ctx.changedInStage).toEqual([]);
  });
});
