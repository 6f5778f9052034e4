import type { LeaderProbeDefinition, TaskDefinition } from '../define.js';

/** etcd snapshots, health gates, Kubernetes API tasks and preflight. */
export const healthTasks: TaskDefinition[] = [];

/** Leader probes for `order: leader-last`. */
export const leaderProbes: LeaderProbeDefinition[] = [];
