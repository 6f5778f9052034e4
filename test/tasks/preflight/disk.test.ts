/**
 * preflight's free-space check on real file systems (df through the real local transport): a small
 * tmpfs whose mount point has spaces in its name is measured right and refused when short, and a
 * path df cannot measure is a problem of its own, never a pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { KcarunErrorList } from '../../../src/core/errors.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { LocalTransport } from '../../../src/transport/local.js';
import { makeTaskContext } from '../../helpers/task-context.js';
import { tmpfsDisks } from '../../helpers/tmpfs.js';

describe('preflight disk check', () => {
  const disks = tmpfsDisks('kcarun-preflight-disk-', { 'backup disk': '20m' }, { beforeAll, afterAll });
  let small: string;
  let root: string;
  beforeAll(() => {
    ({ 'backup disk': small, root } = disks());
  });

  const run = async (disk: Record<string, unknown>) => {
    const ctx = await makeTaskContext({ params: { hosts: ['local'], lock: false, disk: { localMinFreeMb: 1, ...disk } } as never, stateDir: join(root, 'state'), transport: new LocalTransport() });
    return preflightTask.run(ctx).then(
      () => [] as string[],
      (e: unknown) => (e as KcarunErrorList).errors.map((x) => x.message),
    );
  };

  it('passes a folder with the room asked for', async () => {
    expect(await run({ path: small, minFreeMb: 10 })).toEqual([]);
  });

  it('refuses a 20 MB disk when 500 MB are asked for, naming the folder and both figures', async () => {
    expect(await run({ path: small, minFreeMb: 500 })).toEqual([`local: ${small} has 20 MB free, 500 MB needed for backups`]);
  });

  it('a folder df cannot measure is a problem, not a pass', async () => {
    const [msg] = await run({ path: join(root, 'absent'), minFreeMb: 1 });
    expect(msg).toMatch(/^local: cannot measure free space of .*absent: df: /);
  });
});
