/** The operator machine's transport: what local-exec and `connection: local` hosts rely on. */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KcarunError } from '../../src/core/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import { makeTempDir } from '../helpers/task-context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-local-'));
});
afterEach(async () => cleanup());

const exists = (p: string) => access(p).then(() => true, () => false);
const PATH = '/usr/local/bin:/usr/bin:/bin';

describe('LocalTransport', () => {
  it('runs with the environment it was given (not the process environment), plus the call env', async () => {
    const t = new LocalTransport('local', { PATH, FROM_CLI: 'cli' });
    const r = await t.exec('echo "$FROM_CLI $EXTRA ${HOME:-no-home}"', { env: { EXTRA: 'x y' } });
    expect(r).toEqual({ stdout: 'cli x y no-home\n', stderr: '', rc: 0 });
  });

  it('closes stdin (a command reading it ends) and survives a command that never reads it', async () => {
    const t = new LocalTransport('local', { PATH });
    expect((await t.exec('cat')).stdout).toBe('');
    expect((await t.exec('cat', { stdin: 'abc' })).stdout).toBe('abc');
    expect((await t.exec('exit 4', { stdin: 'x'.repeat(1 << 20) })).rc).toBe(4);
  });

  it('on timeout kills the whole pipeline, backgrounded children included, and fails with E_TIMEOUT', async () => {
    const t = new LocalTransport('cp1', { PATH });
    const marker = join(dir, 'late');
    const t0 = Date.now();
    const err = await t.exec(`(sleep 3; touch ${marker}) & sleep 3; touch ${marker}`, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunError);
    expect((err as KcarunError).code).toBe('E_TIMEOUT');
    expect((err as KcarunError).message).toBe('command timed out after 200 ms');
    // Well before the commands would have ended by themselves (generous: the test machine is shared).
    expect(Date.now() - t0).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await exists(marker)).toBe(false);
  });

  it('on abort kills the command: exit status 137 (SIGKILL), nothing runs after', async () => {
    const t = new LocalTransport('local', { PATH });
    const marker = join(dir, 'aborted');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await t.exec(`sleep 3; touch ${marker}`, { signal: ac.signal });
    expect(r.rc).toBe(137);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await exists(marker)).toBe(false);
  });
});
