/**
 * The stock rotation on a hand-installed ("binary") lab: systemd units whose ExecStart carries the
 * flags, /etc/etcd/ssl and /etc/kubernetes/ssl, kubeconfigs with file paths, no front-proxy CA.
 * The vars are `kcarun discover`'s, from an inventory of hosts and groups alone (issue 15), and the
 * run follows its dry run (plan-check.ts: the dry run changes nothing). Mid-run, a node's sshd is
 * stopped (its connections cut): the run stops, the stage is rolled back, the cluster keeps serving;
 * with sshd back, --resume completes the rotation with zero failures, and the two runs together
 * change exactly the (host, file) pairs the dry run planned, through the same stages.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFault } from '../../lab/commands/fault.js';
import { jsonEvents, waitForEvent } from '../helpers/cli.js';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, report, useLab } from './lab-session.js';
import { changedFiles, discoverVars, dryRunRotation, plannedFiles, stageStatuses } from './plan-check.js';

const lab = labSession({ name: 'binary', ipPrefix: '127.0.52', layout: 'binary', nodes: 3 });

describe('rotate-ca on a binary-layout lab', () => {
  useLab(lab, { beforeAll, afterAll });

  it('a node lost over SSH mid-stage: the stage is rolled back, the cluster keeps serving, --resume completes what the dry run planned', async () => {
    const { bare, varsFile } = await discoverVars(lab, 'binary');
    const dry = await dryRunRotation(lab, bare, varsFile);
    const rotate = (...extra: string[]) => [join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', bare, '--yes', '--output', 'json', ...FAST_GATES, '-e', `@${varsFile}`, ...extra];
    const run = lab.start(rotate());
    // trust-apiserver runs host after host; while cp1's apiserver restarts, cp3 becomes unreachable.
    await waitForEvent(run, (e) => e.event === 'task-start' && e['stage'] === 'trust-apiserver' && e['taskIndex'] === 2 && e['host'] === 'cp1', 600_000);
    await labFault('stop-sshd', 'cp3', lab.dir);
    const failed = await run.done;
    expect(failed.code, failed.stdout.slice(-3000)).toBe(1);
    const events = jsonEvents(failed.stdout);
    const cp3Failures = events.filter((e) => e.event === 'task-end' && e.status === 'failed' && e.host === 'cp3');
    expect(cp3Failures.map((e) => (e.error as { message: string }).message).join('\n')).toMatch(/unreachable|connect|ECONNREFUSED|connection/i);
    expect(events.filter((e) => e.event === 'rollback-start').map((e) => e.stage)).toEqual(['trust-apiserver']);
    expect(events.find((e) => e.event === 'rollback-end')).toMatchObject({ stage: 'trust-apiserver', status: 'ok' });
    expect(String(events.at(-1)?.message)).toMatch(/stage "trust-apiserver" failed and was rolled back/);
    const during = await lab.verify();
    report('binary, sshd of cp3 stopped mid-stage (after rollback)', during, lab.dir);
    expect(during.failures, JSON.stringify(during.failuresByTarget)).toBe(0);
    expect(during.componentErrors, JSON.stringify(during.componentErrorsByComponent)).toBe(0);

    await labFault('start-sshd', 'cp3', lab.dir);
    const resumed = await lab.kcarun(rotate('--resume'));
    expect(resumed.code, resumed.stdout.slice(-3000) + resumed.stderr).toBe(0);
    // The stages the two runs ran: the resumed run's verdict on each (done before, or run now).
    expect(Object.keys(stageStatuses(jsonEvents(resumed.stdout)))).toEqual(Object.keys(stageStatuses(dry)));
    expect(Object.entries(stageStatuses(jsonEvents(resumed.stdout))).filter(([, s]) => s === 'failed')).toEqual([]);
    // A rolled-back stage runs again on resume, so the union is what ended up changed.
    const changed = new Set([...changedFiles(jsonEvents(failed.stdout)), ...changedFiles(jsonEvents(resumed.stdout))]);
    expect([...plannedFiles(dry)].sort()).toEqual([...changed].sort());
    await expectCleanRotation(lab, 'binary rotation, resumed after the sshd fault', [...events, ...jsonEvents(resumed.stdout)]);
  }, 1_500_000);
});
