import { Type, type Static } from '@sinclair/typebox';

export const CommandLeaderProbeSchema = Type.Object(
  {
    command: Type.String({ minLength: 1, 'x-shell': true }),
    stdoutMatches: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type CommandLeaderProbeParams = Static<typeof CommandLeaderProbeSchema>;
