/**
 * The etcd CA alone (playbooks/rotate-etcd-ca.yaml) on a 3-node kubeadm lab with traffic, through
 * finalize: nothing else restarts the apiservers in an etcd-only rotation, so this is where an
 * apiserver still holding its old-CA etcd client certificate in memory would be cut off when etcd
 * drops the old CA (finalize restarts the apiservers first for that reason).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_GATES, labSession, PLAYBOOKS, report, useLab } from './lab-session.js';

const lab = labSession({ name: 'etcd-only', ipPrefix: '127.0.71', layout: 'kubeadm', nodes: 3 });
const isEtcd = (where: string) => where.includes('etcd');

describe('rotate-etcd-ca on a 3-node kubeadm lab', () => {
  useLab(lab, { beforeAll, afterAll });

  it('rotates the etcd CA through finalize with zero failed requests and leaves the Kubernetes CA alone', async () => {
    const res = await lab.kcarun([join(PLAYBOOKS, 'rotate-etcd-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, '--output', 'json']);
    expect(res.code, res.stdout.slice(-3000) + res.stderr).toBe(0);
    const stages = res.stdout
      .split('\n')
      .filter((l) => l.includes('"event":"stage-end"') && l.includes('"status":"ok"'))
      .map((l) => (JSON.parse(l) as { stage: string }).stage);
    expect(stages).toEqual(expect.arrayContaining(['switch-etcd', 'trust-apiserver', 'finalize-apiserver', 'finalize-etcd']));
    // The apiservers drop the old etcd CA and load their new-CA etcd client certificate before etcd
    // stops trusting the old CA (the other way round, 60 requests failed here: docs/playbooks.md).
    expect(stages.indexOf('finalize-apiserver')).toBeLessThan(stages.indexOf('finalize-etcd'));
    expect(stages).not.toContain('switch-control-plane');

    await new Promise((r) => setTimeout(r, 3000));
    const v = await lab.verify();
    report('etcd-only rotation', v, lab.dir);
    expect(v.requests).toBeGreaterThan(300);
    expect(v.failures, JSON.stringify(v.failuresByTarget)).toBe(0);
    expect(v.componentErrors, JSON.stringify(v.componentErrorsByComponent)).toBe(0);
    expect(v.dataIntact).toBe(true);
    // etcd's certificates (and the apiservers' etcd client certificate) are on the new etcd CA and
    // nothing trusts the old one; the Kubernetes CA's certificates were not touched.
    expect(v.leavesOnOldCa.filter(isEtcd)).toEqual([]);
    expect(v.filesTrustingOldCa.filter(isEtcd)).toEqual([]);
    expect(v.leavesOnOldCa.filter((w) => w.endsWith('/apiserver.crt'))).toHaveLength(3);
  }, 1_200_000);
});
