import type { LeaderProbeContext } from '../define.js';
import { endpointStatus, memberList } from '../shared/etcdctl.js';
import { matchHost } from '../shared/match-host.js';
import type { EtcdLeaderProbeParams } from './schema.js';

export async function findEtcdLeader(ctx: LeaderProbeContext<EtcdLeaderProbeParams>): Promise<string | null> {
  const errors: string[] = [];
  for (const host of ctx.hosts) {
    try {
      const transport = await ctx.transportFor(host.name);
      const { statuses } = await endpointStatus(transport, ctx.params, host.address, ctx.signal);
      const leaderId = statuses.find((s) => s.leaderId !== '0')?.leaderId;
      if (!leaderId) throw new Error('no member reports a leader');
      const leader = (await memberList(transport, ctx.params, host.address, ctx.signal)).find((m) => m.id === leaderId);
      if (!leader) throw new Error(`leader ${leaderId} is not in the member list`);
      const urlHosts = [...leader.clientURLs, ...leader.peerURLs].map((u) => new URL(u).hostname.replace(/^\[|\]$/g, ''));
      const name = matchHost(ctx.hosts, [leader.name], urlHosts);
      ctx.log.info(`etcd leader is member ${leader.name} (${leaderId})${name ? `: host ${name}` : ', not a stage host'}`);
      return name;
    } catch (err) {
      errors.push(`${host.name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no stage host could tell the etcd leader: ${errors.join('; ')}`);
}
