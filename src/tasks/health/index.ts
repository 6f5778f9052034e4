import type { LeaderProbeDefinition, TaskDefinition } from '../define.js';
import { etcdLeaderProbe } from './etcd-leader-probe.js';
import { etcdSnapshotTask } from './etcd-snapshot.js';
import { kubeConfigMapPatchTask } from './kube-configmap-patch.js';
import { kubeRolloutRestartTask } from './kube-rollout-restart.js';
import { kubeWaitTask } from './kube-wait.js';
import { leaseLeaderProbe } from './lease-leader-probe.js';
import { preflightTask } from './preflight.js';
import { waitHealthyTask } from './wait-healthy.js';

/** etcd snapshots, health gates, Kubernetes API tasks and preflight. */
export const healthTasks: TaskDefinition[] = [
  etcdSnapshotTask,
  waitHealthyTask,
  kubeRolloutRestartTask,
  kubeConfigMapPatchTask,
  kubeWaitTask,
  preflightTask,
] as TaskDefinition[];

/** Leader probes for `order: leader-last`. */
export const leaderProbes: LeaderProbeDefinition[] = [etcdLeaderProbe, leaseLeaderProbe] as LeaderProbeDefinition[];
