/**
 * The stock rotation on a hand-installed ("binary") lab: systemd units whose ExecStart carries the
 * flags, /etc/etcd/ssl and /etc/kubernetes/ssl, kubeconfigs with file paths, no front-proxy CA.
 * Mid-run, a node's sshd is stopped (its connections cut): the run stops, the stage is rolled back,
 * the cluster keeps serving; with sshd back, --resume completes the rotation with zero failures.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFault } from '../../lab/commands/fault.js';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, report, runStatus, useLab } from './lab-session.js';

const lab = labSession({ name: 'binary', ipPrefix: '127.0.52', layout: 'binary', nodes: 3 });
const rotate = (...extra: string[]) => [join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, ...extra];

/** Waits until a step has begun (started, or already done: a quick step can finish between two looks). */
async function waitForStepBegun(key: string): Promise<void> {
  for (const deadline = Date.now() + 300_000; Date.now() < deadline; ) {
    const step = (await runStatus(lab, join(lab.work, '.kcarun'))).stepStatus[key];
    if (step === 'started' || step === 'ok') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`step ${key} never began`);
}

describe('rotate-ca on a binary-layout lab', () => {
  useLab(lab, { beforeAll, afterAll });

  it('a node lost over SSH mid-stage: the stage is rolled back, the cluster keeps serving, --resume completes', async () => {
    const run = lab.start(rotate());
    // trust-apiserver runs host after host; while cp1's apiserver restarts, cp3 becomes unreachable.
    await waitForStepBegun('trust-apiserver/2/cp1');
    await labFault('stop-sshd', 'cp3', lab.dir);
    const failed = await run.done;
    expect(failed.code, failed.stdout.slice(-3000)).toBe(1);
    expect(failed.stdout).toMatch(/cp3.*(unreachable|connect|ECONNREFUSED|connection)/i);
    expect(failed.stdout).toMatch(/rolling back stage trust-apiserver/);
    expect(failed.stdout).toMatch(/stage "trust-apiserver" failed and was rolled back/);
    const during = await lab.verify();
    report('binary, sshd of cp3 stopped mid-stage (after rollback)', during, lab.dir);
    expect(during.failures, JSON.stringify(during.failuresByTarget)).toBe(0);
    expect(during.componentErrors, JSON.stringify(during.componentErrorsByComponent)).toBe(0);

    await labFault('start-sshd', 'cp3', lab.dir);
    const resumed = await lab.kcarun(rotate('--resume'));
    expect(resumed.code, resumed.stdout.slice(-3000) + resumed.stderr).toBe(0);
    await expectCleanRotation(lab, 'binary rotation, resumed after the sshd fault');
  }, 1_500_000);
});
