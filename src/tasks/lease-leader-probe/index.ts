import { Type } from '@sinclair/typebox';
import { defineLeaderProbe } from '../define.js';
import { DEFAULT_KUBECONFIG, KubeconfigParam } from '../shared/health-schemas.js';

/**
 * The holder of a Lease (kube-system/kube-controller-manager or kube-scheduler). client-go writes
 * holderIdentity as `<hostname>_<uuid>`: the part before the last `_` is matched against the
 * inventory host names, then addresses and `node_name`/`hostname` vars.
 */
export const leaseLeaderProbe = defineLeaderProbe({
  type: 'lease',
  description: 'The stage host holding a coordination.k8s.io Lease (controller-manager, scheduler).',
  schema: Type.Object(
    {
      name: Type.String({ minLength: 1, description: 'Lease name, e.g. kube-controller-manager or kube-scheduler.' }),
      namespace: Type.Optional(Type.String({ description: 'Default kube-system.' })),
      ...KubeconfigParam,
    },
    { additionalProperties: false },
  ),
  async findLeader(ctx) {
    const { kubeClientFromHost } = await import('../shared/kube-api-client.js');
    const { matchHost, holderHostname } = await import('../shared/match-host.js');
    const errors: string[] = [];
    for (const host of ctx.hosts) {
      try {
        const transport = await ctx.transportFor(host.name);
        const client = await kubeClientFromHost(transport, ctx.params.kubeconfig ?? DEFAULT_KUBECONFIG, { become: host.become, server: ctx.params.server });
        const ns = ctx.params.namespace ?? 'kube-system';
        const lease = await client.get<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases/${encodeURIComponent(ctx.params.name)}`);
        const holder = lease?.spec?.holderIdentity;
        if (!holder) return null;
        const name = matchHost(ctx.hosts, [holderHostname(holder), holder], [holderHostname(holder)]);
        ctx.log.info(`lease ${ns}/${ctx.params.name} is held by ${holder}${name ? `: host ${name}` : ', not a stage host'}`);
        return name;
      } catch (err) {
        errors.push(`${host.name}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no stage host could read the lease: ${errors.join('; ')}`);
  },
});
