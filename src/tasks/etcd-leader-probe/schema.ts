import { Type, type Static } from '@sinclair/typebox';
import { EtcdTlsSchema } from '../shared/schemas.js';

export const EtcdLeaderProbeSchema = Type.Object({ ...EtcdTlsSchema }, { additionalProperties: false });
export type EtcdLeaderProbeParams = Static<typeof EtcdLeaderProbeSchema>;
