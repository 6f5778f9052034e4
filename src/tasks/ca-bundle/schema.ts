import { Type, type Static } from '@sinclair/typebox';
import { ArtifactPathSchema, CaNameSchema, CertSourceSchema } from '../shared/schemas.js';

export const CaBundleSchema = Type.Object(
  {
    ca: CaNameSchema,
    old: Type.Optional(CertSourceSchema),
    mode: Type.Optional(Type.Union([Type.Literal('new+old'), Type.Literal('new')], { default: 'new+old' })),
    output: Type.Optional(ArtifactPathSchema('Artifact path; default ca/<ca>-bundle.crt (new+old) or ca/<ca>-new.crt.')),
  },
  { additionalProperties: false },
);
export type CaBundleParams = Static<typeof CaBundleSchema>;
