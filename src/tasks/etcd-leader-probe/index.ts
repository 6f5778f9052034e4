import { defineLeaderProbe } from '../define.js';
import { EtcdLeaderProbeSchema } from './schema.js';

/**
 * The etcd leader (endpoint status, IS LEADER), mapped to an inventory host by member name, then by
 * the address in its client URLs. Asks the stage's hosts in turn until one answers.
 */
export const etcdLeaderProbe = defineLeaderProbe({
  type: 'etcd-leader',
  description: 'The stage host that is the current etcd raft leader.',
  schema: EtcdLeaderProbeSchema,
  findLeader: async (ctx) => (await import('./run.js')).findEtcdLeader(ctx),
});
