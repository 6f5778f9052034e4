import { Type, type Static } from '@sinclair/typebox';

export const AssertSchema = Type.Object(
  {
    that: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
    message: Type.Optional(Type.String({ description: 'Shown when a condition is false.' })),
  },
  { additionalProperties: false },
);
export type AssertParams = Static<typeof AssertSchema>;
