import { Type, type Static } from '@sinclair/typebox';
import { EtcdTlsSchema, RemotePathSchema } from '../shared/schemas.js';

export const EtcdSnapshotSchema = Type.Object(
  {
    ...EtcdTlsSchema,
    remoteDir: Type.Optional(RemotePathSchema('Folder on the host for the snapshot while it is taken (default /var/lib/kcarun/snapshots).')),
    containerDataDir: Type.Optional(
      RemotePathSchema(
        "Where the snapshot is written first when etcd's tools run inside the etcd container (a kubeadm node: no etcdctl on the host; or etcdctl without etcdutl beside the container): a folder the container and the host see at the same path (default /var/lib/etcd, kubeadm's etcd-data hostPath volume); it is moved to remoteDir at once. Also the file system that keeps room for etcd's WAL when a remoteDir shares it.",
      ),
    ),
    keep: Type.Optional(Type.Integer({ minimum: 1, description: 'Snapshots of this host kept in the state dir (default 3).' })),
    keepOnHost: Type.Optional(Type.Boolean({ description: 'Leave the snapshot file on the host too (default false).' })),
    reuseWithinMinutes: Type.Optional(Type.Number({ minimum: 0, description: 'On a re-run of the same step in the same run (--resume), reuse its snapshot when younger (default 60; 0 always takes a new one).' })),
  },
  { additionalProperties: false },
);
export type EtcdSnapshotParams = Static<typeof EtcdSnapshotSchema>;
