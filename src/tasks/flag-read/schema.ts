import { Type, type Static } from '@sinclair/typebox';
import { ArtifactPathSchema, BecomeSchema, RemotePathSchema, SettingInSchema } from '../shared/schemas.js';

export const FlagReadSchema = Type.Object(
  {
    path: RemotePathSchema('The file holding the settings (a manifest, a unit, an etcd config, an env file, a KubeletConfiguration); absent -> no setting is set.'),
    in: SettingInSchema("Where the settings live, as file-patch's set-flag `in`."),
    flags: Type.Array(Type.String({ minLength: 1 }), { description: 'Settings to read (flag spelling, e.g. cluster-signing-kubelet-client-cert-file).' }),
    except: Type.Optional(Type.Array(Type.String(), { description: 'Values left out of `paths` (e.g. the CA file another task already replaces).' })),
    mustHoldOneOf: Type.Optional(
      Type.Array(ArtifactPathSchema(), {
        description: 'Artifacts (certificates): every file a read setting names must hold exactly one certificate, equal to one of them; else the task fails naming the file (a per-signer file holding some other CA is not replaced).',
      }),
    ),
    become: BecomeSchema,
  },
  { additionalProperties: false },
);
export type FlagReadParams = Static<typeof FlagReadSchema>;
