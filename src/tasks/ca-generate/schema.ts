import { Type, type Static } from '@sinclair/typebox';
import { CaNameSchema, CertSourceSchema } from '../shared/schemas.js';

export const CaGenerateSchema = Type.Object(
  {
    name: CaNameSchema,
    oldCa: Type.Optional(CertSourceSchema),
    commonName: Type.Optional(Type.String({ minLength: 1, description: 'Default: the old CA CN + " (rotated YYYY-MM-DD)".' })),
    keyType: Type.Optional(Type.Union([Type.Literal('rsa'), Type.Literal('ecdsa')], { description: "Default: the old CA's, else rsa." })),
    keySize: Type.Optional(Type.Union([Type.Literal(2048), Type.Literal(3072), Type.Literal(4096)], { description: 'RSA modulus bits.' })),
    validityDays: Type.Optional(Type.Integer({ minimum: 1, default: 3650 })),
    backdateMinutes: Type.Optional(Type.Integer({ minimum: 0, default: 60 })),
    fromIntermediate: Type.Optional(
      Type.Literal('self-signed-root', {
        description:
          'The old CA is an intermediate (issued by another CA): without this, ca-generate refuses; with it, the new CA is a self-signed root that replaces the intermediate.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CaGenerateParams = Static<typeof CaGenerateSchema>;
