import type { LeaderProbeDefinition, TaskDefinition } from '../define.js';
import { etcdLeaderProbe } from './etcd-leader-probe.js';
import { etcdSnapshotTask } from './etcd-snapshot.js';
import { leaseLeaderProbe } from './lease-leader-probe.js';
import { waitHealthyTask } from './wait-healthy.js';

/** etcd snapshots, health gates, Kubernetes API tasks and preflight. */
export const healthTasks: TaskDefinition[] = [etcdSnapshotTask, waitHealthyTask] as TaskDefinition[];

/** Leader probes for `order: leader-last`. */
export const leaderProbes: LeaderProbeDefinition[] = [etcdLeaderProbe, leaseLeaderProbe] as LeaderProbeDefinition[];
