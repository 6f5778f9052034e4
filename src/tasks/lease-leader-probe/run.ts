import type { LeaderProbeContext } from '../define.js';
import { kubeClientFromHost } from '../shared/kube-api-client.js';
import { holderHostname, matchHost } from '../shared/match-host.js';
import { DEFAULT_KUBECONFIG } from '../shared/schemas.js';
import type { LeaseLeaderProbeParams } from './schema.js';

export async function findLeaseHolder(ctx: LeaderProbeContext<LeaseLeaderProbeParams>): Promise<string | null> {
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
}
