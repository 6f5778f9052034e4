import { Type, type Static } from '@sinclair/typebox';
import { KubeconfigParam, RemotePathSchema } from '../shared/schemas.js';

export const KubeConfigMapPatchSchema = Type.Object(
  {
    namespace: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    data: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Keys to set (merged).' })),
    kubeconfigCa: Type.Optional(
      Type.Object(
        {
          key: Type.String({ minLength: 1, description: 'Data key holding a kubeconfig (cluster-info: kubeconfig).' }),
          caFile: RemotePathSchema('CA bundle on the host to embed as certificate-authority-data.'),
        },
        { additionalProperties: false },
      ),
    ),
    ...KubeconfigParam,
  },
  { additionalProperties: false },
);
export type KubeConfigMapPatchParams = Static<typeof KubeConfigMapPatchSchema>;
