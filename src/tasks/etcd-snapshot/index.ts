import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { EtcdTlsSchema } from '../shared/health-schemas.js';

/**
 * `etcdctl snapshot save` on a healthy member, verified with `snapshot status` (hash, revision,
 * keys), copied into the state dir with a sha256 that must equal `sha256sum` on the host.
 * Resume: a step re-run reuses the snapshot this same step made when its local copy is intact
 * and younger than `reuseWithinMinutes` (nothing this step does changes etcd, so that snapshot is
 * as good as a new one); otherwise it takes a new one.
 */
export const etcdSnapshotTask = defineTask({
  type: 'etcd-snapshot',
  description: 'Saves, verifies and copies off an etcd snapshot into the state dir; keeps the last N.',
  schema: Type.Object(
    {
      ...EtcdTlsSchema,
      remoteDir: Type.Optional(Type.String({ description: 'Folder on the host for the snapshot while it is taken (default /var/lib/kcarun/snapshots).' })),
      keep: Type.Optional(Type.Integer({ minimum: 1, description: 'Snapshots of this host kept in the state dir (default 3).' })),
      keepOnHost: Type.Optional(Type.Boolean({ description: 'Leave the snapshot file on the host too (default false).' })),
      reuseWithinMinutes: Type.Optional(Type.Number({ minimum: 0, description: 'On a re-run of the same step, reuse its snapshot when younger (default 60; 0 always takes a new one).' })),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runEtcdSnapshot(ctx),
  async dryRun(ctx) {
    return { changed: false, summary: `would save an etcd snapshot from ${ctx.host.name} into the state dir (keep ${ctx.params.keep ?? 3})` };
  },
});
