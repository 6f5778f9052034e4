import { Type, type Static } from '@sinclair/typebox';
import { CaNameSchema, RemotePathSchema } from '../shared/schemas.js';

export const CaStatusSchema = Type.Object(
  {
    name: CaNameSchema,
    host: Type.Optional(Type.String({ minLength: 1, description: "Inventory host to read from (default: the task's host); lets a `local` stage register the answer for every stage's `when`." })),
    cert: RemotePathSchema('The CA certificate on the host (e.g. /etc/kubernetes/pki/etcd/ca.crt).'),
    bundle: RemotePathSchema('Where the rotation puts the new+old trust bundle on the host.'),
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: report rotate=false and finalize=false (this CA is switched off).' })),
    rotateWithinDays: Type.Optional(Type.Number({ minimum: 0, default: 365, description: 'Rotate a CA that expires within this many days.' })),
    force: Type.Optional(Type.Boolean({ default: false, description: 'Rotate whatever its expiry.' })),
  },
  { additionalProperties: false },
);
export type CaStatusParams = Static<typeof CaStatusSchema>;
