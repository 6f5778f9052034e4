import { defineLeaderProbe } from '../define.js';
import { CommandLeaderProbeSchema } from './schema.js';
import { safeRegExp } from '../../core/safe-regex.js';

/**
 * The generic leader probe: runs a command on each host of the stage; the leader is the host whose
 * command exits 0 (and, with `stdoutMatches`, prints a match). Specific probes (etcd, leases) live
 * in their own task folders (src/tasks/etcd-leader-probe/, src/tasks/lease-leader-probe/).
 */
export const commandLeaderProbe = defineLeaderProbe({
  type: 'command',
  description: 'The host on which a command succeeds is the leader.',
  schema: CommandLeaderProbeSchema,
  async findLeader(ctx) {
    for (const host of ctx.hosts) {
      const transport = await ctx.transportFor(host.name);
      const res = await transport.exec(ctx.params.command, { signal: ctx.signal });
      const matches = ctx.params.stdoutMatches === undefined || safeRegExp(ctx.params.stdoutMatches, 'm').test(res.stdout);
      if (res.rc === 0 && matches) return host.name;
    }
    return null;
  },
});
