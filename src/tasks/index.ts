import type { LeaderProbeDefinition, TaskDefinition } from './define.js';
import { healthTasks, leaderProbes as healthLeaderProbes } from './health/index.js';
import { pkiTasks } from './pki/index.js';
import { remoteTasks } from './remote/index.js';
import { assertTask } from './assert.js';
import { localExecTask } from './local-exec.js';
import { commandLeaderProbe } from './command-leader-probe.js';

/**
 * Every task type, by `type`. A new task type is one file plus one line here (or in its area's
 * index). Task modules must not import ssh2 or node-forge at the top: `kcarun validate` loads this
 * registry for the schemas and must stay fast, so heavy modules are imported inside run().
 */
export const taskTypes: ReadonlyMap<string, TaskDefinition> = new Map(
  [localExecTask, assertTask, ...remoteTasks, ...pkiTasks, ...healthTasks].map((t) => [t.type, t as TaskDefinition]),
);

export const leaderProbeTypes: ReadonlyMap<string, LeaderProbeDefinition> = new Map(
  [commandLeaderProbe, ...healthLeaderProbes].map((p) => [p.type, p as LeaderProbeDefinition]),
);
