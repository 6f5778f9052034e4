import { afterAll, beforeAll, beforeEach } from 'vitest';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostInfo, TaskContext } from '../../../src/tasks/define.js';
import { createSshPool, type SshPool } from '../../../src/transport/ssh.js';
import type { Transport } from '../../../src/transport/types.js';
import { startSshd, type SshdHarness, type SshdOptions } from '../../helpers/sshd.js';
import { makeTaskContext } from '../../helpers/task-context.js';

/**
 * One real sshd for a test file, its SSH transport, a "remote" folder (the sshd is local, so the
 * test can look at the files directly) and a state dir. Per test, call `fresh()` for new folders.
 */
export interface RemoteEnv {
  sshd: SshdHarness;
  pool: SshPool;
  host: HostInfo;
  transport: Transport;
  /** Folder the tasks work in on the "remote" host (world-traversable, so sudo users can reach it). */
  remoteDir: string;
  stateDir: string;
  logs: string[];
  ctx<P>(params: P, options?: { host?: HostInfo; transport?: Transport; signal?: AbortSignal; changedInStage?: string[] }): Promise<TaskContext<P>>;
  /** New remote and state folders for the next test (the old ones are removed). */
  fresh(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRemoteEnv(options: SshdOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<RemoteEnv> {
  const sshd = await startSshd({ name: 'node1', ...options });
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), debug: (m: string) => logs.push(m) };
  const pool = createSshPool({ resolveHost: () => undefined, sshConfigPath: null, log, env: options.env });
  const transport = await pool.get(sshd.host);
  const env: RemoteEnv = {
    sshd,
    pool,
    host: sshd.host,
    transport,
    remoteDir: '',
    stateDir: '',
    logs,
    async ctx<P>(params: P, o: { host?: HostInfo; transport?: Transport; signal?: AbortSignal; changedInStage?: string[] } = {}) {
      const ctx = await makeTaskContext({ params, stateDir: env.stateDir, transport: o.transport ?? transport, host: o.host ?? sshd.host, signal: o.signal, changedInStage: o.changedInStage });
      return { ...ctx, log };
    },
    async fresh() {
      await Promise.all([env.remoteDir, env.stateDir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
      env.remoteDir = await mkdtemp(join(tmpdir(), 'kcarun-remote-'));
      await chmod(env.remoteDir, 0o755);
      env.stateDir = await mkdtemp(join(tmpdir(), 'kcarun-state-'));
      logs.length = 0;
    },
    async stop() {
      await pool.closeAll();
      await Promise.all([env.remoteDir, env.stateDir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
      await sshd.stop();
    },
  };
  await env.fresh();
  return env;
}

/**
 * The lifecycle every test file over the real sshd repeats: one env for the file (started in
 * beforeAll, stopped in afterAll), fresh folders before each test. Returns a view of that env,
 * usable once beforeAll has run.
 */
export function useRemoteEnv(options?: SshdOptions & { env?: NodeJS.ProcessEnv }): RemoteEnv {
  let env: RemoteEnv | undefined;
  beforeAll(async () => {
    env = await startRemoteEnv(options);
  });
  afterAll(async () => {
    await env?.stop();
  });
  beforeEach(async () => {
    await env!.fresh();
  });
  return new Proxy({} as RemoteEnv, {
    get: (_t, key) => {
      if (!env) throw new Error('useRemoteEnv: the env is started in beforeAll; read it inside a test');
      return Reflect.get(env, key);
    },
  });
}
