import { defineLeaderProbe } from '../define.js';
import { LeaseLeaderProbeSchema } from './schema.js';

/**
 * The holder of a Lease (kube-system/kube-controller-manager or kube-scheduler). client-go writes
 * holderIdentity as `<hostname>_<uuid>`: the part before the last `_` is matched against the
 * inventory host names, then addresses and `node_name`/`hostname` vars.
 */
export const leaseLeaderProbe = defineLeaderProbe({
  type: 'lease',
  description: 'The stage host holding a coordination.k8s.io Lease (controller-manager, scheduler).',
  schema: LeaseLeaderProbeSchema,
  findLeader: async (ctx) => (await import('./run.js')).findLeaseHolder(ctx),
});
