/**
 * preflight over many hosts (real sshd): hosts are checked --forks at a time, and the refusal reads as
 * when they were checked one after another, whichever host answered first: unreachable hosts first,
 * then each host's problems in inventory order (issue 19: checked one after another, preflight took
 * 106 s on 53 hosts).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { KcarunErrorList } from '../../../src/core/errors.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import type { Transport } from '../../../src/transport/types.js';
import { makeHost } from '../../helpers/task-context.js';
import { useRemoteEnv } from './remote-env.js';

type Params = Parameters<typeof preflightTask.run>[0]['params'];

describe('preflight checks hosts side by side and reports them in order', () => {
  const env = useRemoteEnv();
  const names = ['h0', 'h1', 'h2', 'h3'];

  /** Every host is the one real sshd; h0 answers 1.5 s late; counts commands in flight at once. */
  const run = async (forks: number) => {
    let inFlight = 0;
    let most = 0;
    const slowFor = (name: string): Transport =>
      new Proxy(env.transport, {
        get(target, prop) {
          if (prop === 'exec') {
            return async (...args: Parameters<Transport['exec']>) => {
              most = Math.max(most, ++inFlight);
              try {
                if (name === 'h0') await sleep(1500);
                return await target.exec(...args);
              } finally {
                inFlight--;
              }
            };
          }
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const ctx = await env.ctx<Params>({
      hosts: names,
      lock: false,
      certificates: names.map((h) => ({ path: join(env.remoteDir, `${h}.crt`), ca: join(env.remoteDir, 'ca.crt'), hosts: [h] })),
    });
    const hosts = new Map(names.map((n) => [n, makeHost(n)]));
    const err = await preflightTask
      .run({
        ...ctx,
        host: hosts.get('h0')!,
        transport: slowFor('h0'),
        inventoryHosts: hosts,
        transportFor: async (n) => {
          if (n === 'h2') throw new Error('connect ECONNREFUSED 10.0.0.2:22');
          return slowFor(n);
        },
        forks,
      })
      .catch((e: unknown) => e);
    return { err, most };
  };

  it('with --forks 10: the 3 reachable hosts at once; unreachable hosts first, then the rest in host order (h0, the slowest, first)', async () => {
    const { err, most } = await run(10);
    expect(err).toBeInstanceOf(KcarunErrorList);
    const lines = (err as Error).message.split('\n').slice(1).map((l) => l.trim());
    expect(lines.map((l) => l.split(':')[0])).toEqual(['h2', 'h0', 'h1', 'h3']);
    expect(lines[0]).toBe('h2: unreachable: connect ECONNREFUSED 10.0.0.2:22');
    expect(lines[1]).toContain(`h0: ${join(env.remoteDir, 'h0.crt')}: missing`);
    expect(most).toBe(3);
  });

  it('with --forks 1: one host at a time, the same report', async () => {
    const { err, most } = await run(1);
    expect((err as Error).message.split('\n')[0]).toBe('preflight found 4 problem(s); nothing was changed:');
    expect((err as Error).message.split('\n').slice(1).map((l) => l.trim().split(':')[0])).toEqual(['h2', 'h0', 'h1', 'h3']);
    expect(most).toBe(1);
  });

  it('a host name the inventory lacks (a typo in a hosts list, etcd.host, webhooks from a local stage) is a problem, not a check that runs nowhere', async () => {
    const ctx = await env.ctx<Params>({
      hosts: ['h0'],
      lock: false,
      certificates: [{ path: join(env.remoteDir, 'ca.crt'), ca: join(env.remoteDir, 'ca.crt'), hosts: ['h-0'] }],
      etcd: { cacert: '/a', cert: '/b', key: '/c', host: 'nosuch' },
      webhooks: { oldCaFile: '/etc/kubernetes/pki/ca.crt' },
    });
    const err = await preflightTask
      .run({ ...ctx, host: makeHost('local'), inventoryHosts: new Map([['h0', makeHost('h0')]]), transportFor: async () => env.transport })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    const message = (err as Error).message;
    expect(message).toContain('h-0: certificates[0].hosts names host "h-0", which the inventory does not have');
    expect(message).toContain('nosuch: etcd.host names host "nosuch"');
    expect(message).toContain(`local: webhooks (no host: the task's own host) names host "local"`);
  });
});
