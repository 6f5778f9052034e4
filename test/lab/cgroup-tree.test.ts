/**
 * lab/real/host.ts's cgroup walk, which `lab down` uses to find and remove the real lab's processes
 * and cgroups. Plain folders stand in for a cgroup hierarchy: the walk only lists folders and reads
 * cgroup.procs. (A folder vanishing in the middle of the walk, the ENOENT a CI-like run hit in
 * `lab down`, has no hook to be made here on purpose; the walk treats it as a root that is gone.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pidsInCgroupTree, removeCgroupTree } from '../../lab/real/host.js';

describe('cgroup tree walk', () => {
  const h = mkdtempSync(join(tmpdir(), 'kcarun-cgroup-'));
  afterEach(() => rmSync(join(h, 'lab-n1'), { recursive: true, force: true }));
  afterAll(() => rmSync(h, { recursive: true, force: true }));

  it('reads every cgroup.procs under the root, and gives nothing for a root that is gone', () => {
    mkdirSync(join(h, 'lab-n1', 'kubepods', 'pod1', 'c1'), { recursive: true });
    writeFileSync(join(h, 'lab-n1', 'cgroup.procs'), '11\n');
    writeFileSync(join(h, 'lab-n1', 'kubepods', 'pod1', 'c1', 'cgroup.procs'), '12\n13\n');
    expect(pidsInCgroupTree('lab-n1', [h]).sort((a, b) => a - b)).toEqual([11, 12, 13]);
    expect(pidsInCgroupTree('lab-gone', [h])).toEqual([]);
  });

  it('removes the tree children first, and a second removal finds nothing left', () => {
    mkdirSync(join(h, 'lab-n1', 'kubepods', 'pod1'), { recursive: true });
    expect(removeCgroupTree('lab-n1', [h])).toEqual([]);
    expect(removeCgroupTree('lab-n1', [h])).toEqual([]);
  });
});
