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
import { KcarunError } from '../../src/core/errors.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir('kcarun-step-context-')));
afterEach(async () => cleanup());

async function input(changedInStage?: () => readonly string[], task: StepInput['task'] = { name: 't', type: 'local-exec', with: { command: 'true' } }, scope: Record<string, unknown> = {}): Promise<StepInput> {
  const host = makeHost('h1');
  const transport = new LocalTransport('h1');
  const transports: TransportProvider = { get: async () => transport, opened: 0, closeAll: async () => undefined };
  return {
    task,
    def: taskTypes.get(task.type)!,
    host,
    scope,
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

describe('paths known only once templated are checked before the task runs', () => {
  it('refuses a remote path that renders relative (it would depend on the SSH login folder)', async () => {
    const task = { name: 't', type: 'file-patch', with: { path: '{{ dir }}/admin.conf', edits: [{ op: 'line', match: '^x', line: 'x' }] } };
    const err = await buildContext(await input(undefined, task, { dir: 'etc/kubernetes' }), new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).message).toBe(
      'task "t": params after templating do not fit file-patch: path: must be an absolute path (starting with /) with no control character (a newline, a tab): a relative path on a host depends on the folder the SSH login starts in, and a control character breaks the line-based output of the tools that print paths (sha256sum, ls)',
    );
    expect((err as KcarunError).context.host).toBe('h1');
  });

  it('refuses an artifact path that renders outside artifacts/', async () => {
    const task = { name: 't', type: 'file-fetch', with: { src: '/etc/hostname', artifact: '{{ up }}/x' } };
    const err = await buildContext(await input(undefined, task, { up: '../..' }), new AbortController().signal).catch((e: unknown) => e);
    expect((err as KcarunError).message).toBe(
      'task "t": params after templating do not fit file-fetch: artifact: must be a path inside the state dir\'s artifacts/ folder: relative, with no ".." segment',
    );
  });

  it('accepts the absolute and inside-artifacts paths they render to', async () => {
    const task = { name: 't', type: 'file-fetch', with: { src: '{{ dir }}/hostname', artifact: 'hosts/{{ dir }}/x..y' } };
    const ctx = await buildContext(await input(undefined, task, { dir: '/etc' }), new AbortController().signal);
    expect(ctx.params).toEqual({ src: '/etc/hostname', artifact: 'hosts//etc/x..y' });
  });
});
