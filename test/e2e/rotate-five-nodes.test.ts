/**
 * The stock rotation on a 5-node kubeadm lab (5 etcd members, 5 control-plane nodes, kubelets in
 * batches of 40%): zero failed requests with traffic running, every certificate on the new CAs,
 * etcd data intact.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';

const lab = labSession({ name: 'five', ipPrefix: '127.0.53', layout: 'kubeadm', nodes: 5 });

describe('rotate-ca on a 5-node kubeadm lab', () => {
  useLab(lab, { beforeAll, afterAll });

  it('rotates every CA with zero failed requests', async () => {
    const res = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', lab.inventory, '--yes', ...FAST_GATES, '-e', 'kubelet_batch=40%', '--output', 'json']);
    expect(res.code, res.stdout.slice(-3000) + res.stderr).toBe(0);
    const batches = res.stdout
      .split('\n')
      .filter((l) => l.includes('"event":"stage-start"') && l.includes('"stage":"trust-kubelets"'))
      .map((l) => (JSON.parse(l) as { batches: string[][] }).batches);
    expect(batches).toEqual([[['cp1', 'cp2'], ['cp3', 'cp4'], ['cp5']]]);
    await expectCleanRotation(lab, '5-node kubeadm rotation');
  }, 1_500_000);
});
