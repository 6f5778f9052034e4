import { Type, type Static } from '@sinclair/typebox';
import { EtcdTlsSchema, KubeconfigParam, RemotePathSchema, SettingInSchema } from '../shared/schemas.js';

const hostsField = Type.Optional(Type.Array(Type.String(), { description: 'Hosts where this applies (default: every preflight host).' }));

export const PreflightSchema = Type.Object(
  {
    hosts: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Hosts to check (default: every inventory host).' })),
    clockToleranceSeconds: Type.Optional(Type.Number({ minimum: 0, description: 'Default 5.' })),
    disk: Type.Optional(
      Type.Object(
        {
          path: RemotePathSchema('Folder on each host whose file system must have room (backups).'),
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
            path: RemotePathSchema(),
            key: Type.Optional(RemotePathSchema('Its private key; must match.')),
            ca: RemotePathSchema('CA (bundle) on the host it must chain to.'),
            hosts: hostsField,
            optional: Type.Optional(Type.Boolean({ description: 'A missing file is no problem.' })),
            skipSelfSigned: Type.Optional(
              Type.Boolean({
                description:
                  'A certificate made by the program that serves it (self-signed, or signed by a CA in the same file that is not `ca`: the kubelet\'s kubelet.crt without serverTLSBootstrap) is outside the rotation: a warning, not a problem.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    caKeys: Type.Optional(
      Type.Array(
        Type.Object(
          {
            cert: RemotePathSchema(),
            key: RemotePathSchema(),
            hosts: hostsField,
            optional: Type.Optional(Type.Boolean({ description: 'A host without the key is no problem (nothing signs with it there); a key that is present must still match.' })),
          },
          { additionalProperties: false },
        ),
        { description: 'CA certificates whose keys must be present (and match) where signing happens.' },
      ),
    ),
    refuseFlags: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: RemotePathSchema('The file holding the settings (a manifest, a unit, a config file); absent -> nothing to check.'),
            in: SettingInSchema("Where the settings live, as file-patch's set-flag `in`."),
            flags: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Settings that must not be set (flag spelling).' }),
            hosts: hostsField,
            why: Type.Optional(Type.String({ description: 'What to do about it; shown with the problem.' })),
          },
          { additionalProperties: false },
        ),
        { description: 'Settings the playbook does not handle: refuse, naming them, when a host sets any.' },
      ),
    ),
    recommendFlags: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: RemotePathSchema('The file holding the settings; absent -> nothing to check.'),
            in: SettingInSchema("Where the settings live, as file-patch's set-flag `in`."),
            flag: Type.String({ minLength: 1, description: 'A setting the rotation goes better with (flag spelling).' }),
            hosts: hostsField,
            why: Type.String({ minLength: 1, description: 'What its absence costs, and what to set; shown with the warning.' }),
          },
          { additionalProperties: false },
        ),
        { description: 'Settings whose absence is worth a warning (never a refusal).' },
      ),
    ),
    heldStaticPods: Type.Optional(
      Type.Array(
        Type.Object(
          {
            manifest: RemotePathSchema('A static pod manifest that static-pod-hold may have set aside.'),
            hosts: hostsField,
          },
          { additionalProperties: false },
        ),
        { description: "Refuse when a manifest's held copy (static-pod-hold) exists: an interrupted run left that pod out of service." },
      ),
    ),
    lock: Type.Optional(Type.Boolean({ description: 'Refuse when another run holds the state dir lock (default true).' })),
    webhooks: Type.Optional(
      Type.Object(
        {
          oldCaFile: RemotePathSchema('The old cluster CA on the host: a webhook caBundle equal to it is a warning.'),
          host: Type.Optional(Type.String()),
          ...KubeconfigParam,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PreflightParams = Static<typeof PreflightSchema>;
