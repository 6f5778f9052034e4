/**
 * kcarun's health tasks (etcd-snapshot, wait-healthy, leader probes, the Kubernetes API tasks,
 * preflight) on a genuine kubeadm HA cluster of their own (`lab up --layout kubeadm`: real kubeadm
 * init/join, kubelet, containerd, control plane and etcd 3.6 as static pods, haproxy in front); the
 * tests themselves are in health-real.ts, and last the etcd restore procedure of docs/health.md
 * (health-restore-real.ts), which stops the whole control plane. They stop, pause and move members of
 * the cluster, so they do not share a lab with a file whose rotations count component errors. Then
 * lab down leaves the machine as it was. Subnet: $KCARUN_REAL_HEALTH_SUBNET or 10.235.0.0/16.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeHealthTasks } from './health-real.js';
import { describeEtcdRestore } from './health-restore-real.js';
import { downAndExpectMachineRestored, realLabSession } from './real-lab-session.js';

const SUBNET = process.env['KCARUN_REAL_HEALTH_SUBNET'] ?? '10.235.0.0/16';

describe('health tasks on a genuine kubeadm HA cluster (kubeadm-real)', () => {
  const lab = realLabSession({ name: 'healthreal', layout: 'kubeadm', nodes: 3, subnet: SUBNET }, { beforeAll, afterAll });

  describeHealthTasks(lab);
  describeEtcdRestore(lab);

  it('lab down stops everything; the lab addresses and the service IP then fail at once; the machine is as before', async () => {
    await downAndExpectMachineRestored(lab);
  }, 120_000);
});
