/**
 * Small real file systems for tests of free-space checks: tmpfs mounts (root only, as the suite
 * runs) under one temporary folder, made in beforeAll and unmounted in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './task-context.js';

/**
 * Registers hooks that mount one tmpfs per entry of `disks` (folder name -> tmpfs `size=`, e.g.
 * '100m') under a new temporary folder. Returns a getter of the mount points by name and of that
 * folder (`root`), valid inside the tests.
 */
export function tmpfsDisks<K extends string>(
  prefix: string,
  disks: Record<K, string>,
  hooks: { beforeAll: (fn: () => Promise<void>) => void; afterAll: (fn: () => Promise<void>) => void },
): () => Record<K, string> & { root: string } {
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  const mounted: string[] = [];
  const paths = {} as Record<K, string> & { root: string };
  hooks.beforeAll(async () => {
    tmp = await makeTempDir(prefix);
    paths.root = tmp.dir;
    for (const [name, size] of Object.entries(disks) as Array<[K, string]>) {
      const dir = join(tmp.dir, name);
      mkdirSync(dir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
      mounted.push(dir);
      paths[name] = dir as (Record<K, string> & { root: string })[K];
    }
  });
  hooks.afterAll(async () => {
    for (const dir of mounted) execFileSync('umount', [dir]);
    await tmp?.cleanup();
  });
  return () => paths;
}
