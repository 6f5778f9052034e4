import { Type, type Static } from '@sinclair/typebox';
import { BecomeSchema, ContentSourceSchema, KubeconfigValueSchema, RemotePathSchema, SettingInSchema } from '../shared/schemas.js';

const FlagTarget = {
  in: SettingInSchema("Where the setting lives. `manifest`: a static pod's container command; `unit`: a systemd unit's ExecStart; `etcd-config`: an etcd YAML config file (`--config-file`; the flag spelling maps to etcd's keys, e.g. trusted-ca-file -> client-transport-security.trusted-ca-file, or give the key path); `env-file`: an environment file (ETCD_TRUSTED_CA_FILE from trusted-ca-file, or give the variable); `kubelet-config`: a KubeletConfiguration (client-ca-file -> authentication.x509.clientCAFile, or give the field path)."),
  flag: Type.String({ minLength: 1, description: 'The setting: a flag with or without the leading -- (trusted-ca-file), or, per `in`, a config key path or variable name.' }),
  container: Type.Optional(Type.String({ description: 'Container name in a manifest (default: the first).' })),
  envPrefix: Type.Optional(Type.String({ pattern: '^[A-Z0-9_]*$', description: 'env-file: prefix of a variable named by its flag (default ETCD_).' })),
};

/**
 * An edit's own condition, so the edits a run needs or not (per CA rotated) share one task and one
 * write: a kubelet watching a static pod manifest replaces the pod at every write, so two writes
 * a few hundred ms apart cost two restarts (issue 19, bench/results/rotation-kcarun.out).
 */
const EditWhen = {
  when: Type.Optional(
    Type.Boolean({
      description:
        'Apply this edit only when true; usually a template such as "{{ fp_ca.rotate }}" (rendered with the rest of `with`, so a whole-expression template gives a boolean). Absent: always.',
    }),
  ),
};

/** One edit; `op` says which. Edits of one task apply in order and write the file once. */
export const FileEditSchema = Type.Union([
  Type.Object(
    { op: Type.Literal('set-path'), ...EditWhen, path: Type.String({ minLength: 1, description: 'e.g. authentication.x509.clientCAFile or clusters[name=kubernetes].cluster.server' }), value: Type.Unknown() },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal('delete-path'), ...EditWhen, path: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal('set-flag'),
      ...EditWhen,
      ...FlagTarget,
      value: Type.String(),
      onlyIfSet: Type.Optional(
        Type.Boolean({
          description:
            'Change the setting only where the file already sets it; an unset one stays unset. E.g. the apiserver\'s --kubelet-certificate-authority: kubeadm leaves it unset (kubelets serve self-signed certificates), and setting it would make the apiserver refuse them.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal('remove-flag'), ...EditWhen, ...FlagTarget }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal('kubeconfig-ca'),
      ...EditWhen,
      cluster: Type.Optional(Type.String({ description: 'Cluster name (default: every cluster, or with `oldCa` every cluster that trusts it).' })),
      ca: KubeconfigValueSchema,
      oldCa: Type.Optional(
        Type.Union(ContentSourceSchema.anyOf, {
          description:
            'The CA being rotated. Without `cluster`, only clusters whose current CA (embedded data, else the file it names) holds this certificate change; every other byte of the file stays as it is.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal('kubeconfig-user'),
      ...EditWhen,
      user: Type.Optional(Type.String({ description: 'User name (default: every user).' })),
      certificate: Type.Optional(KubeconfigValueSchema),
      key: Type.Optional(KubeconfigValueSchema),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('regex'), ...EditWhen, pattern: Type.String({ minLength: 1 }), replacement: Type.String(), flags: Type.Optional(Type.String({ pattern: '^[gimsuy]*$' })) },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('line'), ...EditWhen, match: Type.String({ minLength: 1 }), line: Type.String(), appendIfMissing: Type.Optional(Type.Boolean({ default: true })) },
    { additionalProperties: false },
  ),
]);
export type FileEdit = Static<typeof FileEditSchema>;

export const FilePatchSchema = Type.Object(
  {
    path: RemotePathSchema('The file on the host.'),
    edits: Type.Array(FileEditSchema, { minItems: 1 }),
    become: BecomeSchema,
    createIfMissing: Type.Optional(Type.Boolean({ default: false, description: 'Treat a missing file as empty (regex/line edits).' })),
    missing: Type.Optional(
      Type.Union([Type.Literal('error'), Type.Literal('skip')], {
        default: 'error',
        description:
          "A file absent on this host: `error` fails the step; `skip` leaves the host alone and says so (a layout's file that only some nodes have, e.g. kubeadm >= 1.29 writes super-admin.conf on the node where `kubeadm init` ran only).",
      }),
    ),
  },
  { additionalProperties: false },
);
export type FilePatchParams = Static<typeof FilePatchSchema>;
