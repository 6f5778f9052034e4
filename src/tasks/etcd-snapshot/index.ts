import { defineTask } from '../define.js';
import { EtcdSnapshotSchema } from './schema.js';

/**
 * `etcdctl snapshot save` on a healthy member, verified with `snapshot status` (hash, revision,
 * keys), copied into the state dir with a sha256 that must equal `sha256sum` on the host.
 * Resume: a step re-run reuses the snapshot this same step made in the same run (TaskContext.runId,
 * kept by --resume) when its local copy is intact
 * and younger than `reuseWithinMinutes` (nothing this step does changes etcd, so that snapshot is
 * as good as a new one); otherwise it takes a new one.
 */
export const etcdSnapshotTask = defineTask({
  type: 'etcd-snapshot',
  description: 'Saves, verifies and copies off an etcd snapshot into the state dir; keeps the last N.',
  schema: EtcdSnapshotSchema,
  run: async (ctx) => (await import('./run.js')).runEtcdSnapshot(ctx),
  dryRun: async (ctx) => (await import('./run.js')).planEtcdSnapshot(ctx),
});
