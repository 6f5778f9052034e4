/**
 * `npm run lab -- add-worker` makes a kubeadm worker (kubelet.service + 10-kubeadm.conf, `kubeadm
 * join`): on a binary or kubespray lab it must refuse before touching the lab, naming the layout,
 * rather than join a node laid out the wrong way (session 22's review).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realAddWorker, realJoinNewWorker } from '../../lab/real/worker.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * A lab folder whose state says a real lab of `layout` is up (nothing else in it). Its node's holder
 * is a pid no process has (above Linux's pid_max ceiling), so a guard that regressed could not reach
 * into any namespace of this machine.
 */
function labOf(layout: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kcarun-addworker-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ layout, nodes: [{ name: 'cp1', ip: '10.239.0.11', holderPid: 2 ** 22 + 7 }], real: { range: '10.239.0.0/16' } }));
  return dir;
}

describe('add-worker on a lab that is not kubeadm\'s', () => {
  for (const layout of ['binary-real', 'kubespray-real']) {
    it(`${layout}: refused, naming the layout, the lab folder unchanged`, async () => {
      const dir = labOf(layout);
      await expect(realJoinNewWorker({ dir, log: () => undefined })).rejects.toThrow(new RegExp(`add-worker joins kubeadm workers: .* is ${layout}, not kubeadm`));
      expect(readdirSync(dir)).toEqual(['state.json']);
    });
  }

  it('realAddWorker alone refuses too', async () => {
    const dir = labOf('binary-real');
    await expect(realAddWorker({ dir, log: () => undefined })).rejects.toThrow(/add-worker joins kubeadm workers: .* is binary-real, not kubeadm/);
  });
});
