import type { LeaderProbeDefinition, TaskDefinition } from './define.js';
import { assertTask } from './assert/index.js';
import { caBundleTask } from './ca-bundle/index.js';
import { caGenerateTask } from './ca-generate/index.js';
import { caStatusTask } from './ca-status/index.js';
import { certCheckTask } from './cert-check/index.js';
import { certInstallTask } from './cert-install/index.js';
import { certReissueTask } from './cert-reissue/index.js';
import { commandLeaderProbe } from './command-leader-probe/index.js';
import { etcdLeaderProbe } from './etcd-leader-probe/index.js';
import { etcdSnapshotTask } from './etcd-snapshot/index.js';
import { fileFetchTask } from './file-fetch/index.js';
import { filePatchTask } from './file-patch/index.js';
import { flagReadTask } from './flag-read/index.js';
import { fileUploadTask } from './file-upload/index.js';
import { kubeConfigMapPatchTask } from './kube-configmap-patch/index.js';
import { kubeRolloutRestartTask } from './kube-rollout-restart/index.js';
import { kubeWaitTask } from './kube-wait/index.js';
import { leaseLeaderProbe } from './lease-leader-probe/index.js';
import { localExecTask } from './local-exec/index.js';
import { preflightTask } from './preflight/index.js';
import { serviceRestartTask } from './service-restart/index.js';
import { sshExecTask } from './ssh-exec/index.js';
import { staticPodHoldTask } from './static-pod-hold/index.js';
import { waitHealthyTask } from './wait-healthy/index.js';

/**
 * Every task type, by `type`. A new task type is one folder (src/tasks/<type>/index.ts with its
 * defineTask) plus one line here. Task modules must not import ssh2 or node-forge at the top:
 * `kcarun validate` loads this registry for the schemas and must stay fast, so heavy modules are
 * imported inside run() (conventionally from the folder's run.ts).
 */
export const taskTypes: ReadonlyMap<string, TaskDefinition> = new Map(
  [
    localExecTask,
    assertTask,
    sshExecTask,
    filePatchTask,
    fileUploadTask,
    fileFetchTask,
    flagReadTask,
    serviceRestartTask,
    staticPodHoldTask,
    caGenerateTask,
    caStatusTask,
    caBundleTask,
    certReissueTask,
    certInstallTask,
    certCheckTask,
    etcdSnapshotTask,
    waitHealthyTask,
    kubeRolloutRestartTask,
    kubeConfigMapPatchTask,
    kubeWaitTask,
    preflightTask,
  ].map((t) => [t.type, t as unknown as TaskDefinition]),
);

/** Leader probes for `order: leader-last`, by `type`. */
export const leaderProbeTypes: ReadonlyMap<string, LeaderProbeDefinition> = new Map(
  [commandLeaderProbe, etcdLeaderProbe, leaseLeaderProbe].map((p) => [p.type, p as unknown as LeaderProbeDefinition]),
);
