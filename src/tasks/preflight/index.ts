import { Type } from '@sinclair/typebox';
import { defineTask } from '../define.js';
import { EtcdTlsSchema, KubeconfigParam } from '../shared/health-schemas.js';

const hostsField = Type.Optional(Type.Array(Type.String(), { description: 'Hosts where this applies (default: every preflight host).' }));

/**
 * Looks at every host before anything changes, collects EVERY problem and refuses with one
 * E_PREFLIGHT message listing them all. Runs on one host (or `local`) and reaches the others with
 * transportFor, so an unreachable host is one line of the list rather than the end of the run.
 */
export const preflightTask = defineTask({
  type: 'preflight',
  description: 'Checks reachability, clocks, disk, etcd, certificates/keys/chains, CA keys, the lock and webhook CA bundles; refuses listing every problem.',
  schema: Type.Object(
    {
      hosts: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Hosts to check (default: every inventory host).' })),
      clockToleranceSeconds: Type.Optional(Type.Number({ minimum: 0, description: 'Default 5.' })),
      disk: Type.Optional(
        Type.Object(
          {
            path: Type.String({ minLength: 1, description: 'Folder on each host whose file system must have room (backups).' }),
            minFreeMb: Type.Number({ minimum: 0 }),
            localMinFreeMb: Type.Optional(Type.Number({ minimum: 0, description: "Room needed in the state dir's file system (snapshots, backups)." })),
          },
          { additionalProperties: false },
        ),
      ),
      etcd: Type.Optional(Type.Object({ ...EtcdTlsSchema, host: Type.Optional(Type.String({ description: 'Ask from this host (default: the first that answers).' })) }, { additionalProperties: false })),
      certificates: Type.Optional(
        Type.Array(
          Type.Object(
            {
              path: Type.String({ minLength: 1 }),
              key: Type.Optional(Type.String({ description: 'Its private key; must match.' })),
              ca: Type.String({ minLength: 1, description: 'CA (bundle) on the host it must chain to.' }),
              hosts: hostsField,
              optional: Type.Optional(Type.Boolean({ description: 'A missing file is no problem.' })),
            },
            { additionalProperties: false },
          ),
        ),
      ),
      caKeys: Type.Optional(
        Type.Array(
          Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }), hosts: hostsField }, { additionalProperties: false }),
          { description: 'CA certificates whose keys must be present (and match) where signing happens.' },
        ),
      ),
      lock: Type.Optional(Type.Boolean({ description: 'Refuse when another run holds the state dir lock (default true).' })),
      webhooks: Type.Optional(
        Type.Object(
          {
            oldCaFile: Type.String({ minLength: 1, description: 'The old cluster CA on the host: a webhook caBundle equal to it is a warning.' }),
            host: Type.Optional(Type.String()),
            ...KubeconfigParam,
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  run: async (ctx) => (await import('./run.js')).runPreflight(ctx),
  async dryRun() {
    return { changed: false, summary: 'would check hosts, clocks, disk, etcd, certificates and the lock (read-only)' };
  },
});
