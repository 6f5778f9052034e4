import pLimit from 'p-limit';
import { KcarunError } from '../core/errors.js';

/**
 * Splits hosts into rolling batches. `serial` is a count, a percentage of the stage's hosts, or a
 * list of them applied in turn (the last one repeats), like Ansible's: [1, "50%"] = a canary, then
 * halves. No serial means one batch with every host.
 */
export function makeBatches(hosts: readonly string[], serial: number | string | (number | string)[] | undefined): string[][] {
  if (hosts.length === 0) return [];
  if (serial === undefined) return [[...hosts]];
  const sizes = (Array.isArray(serial) ? serial : [serial]).map((s) => batchSize(s, hosts.length));
  const batches: string[][] = [];
  let i = 0;
  let n = 0;
  while (i < hosts.length) {
    const size = sizes[Math.min(n, sizes.length - 1)]!;
    batches.push(hosts.slice(i, i + size));
    i += size;
    n++;
  }
  return batches;
}

function batchSize(serial: number | string, total: number): number {
  if (typeof serial === 'number') return Math.max(1, serial);
  const pct = Number.parseFloat(serial);
  if (!Number.isFinite(pct)) throw new KcarunError('E_SCHEMA', `invalid serial "${serial}"`);
  // At least one host per batch, whatever the percentage.
  return Math.max(1, Math.floor((total * pct) / 100));
}

/** Hosts in the order a stage runs them; for leader-last, the leader moves to the end. */
export function orderHosts(hosts: readonly string[], order: 'inventory' | 'reverse' | 'leader-last' | undefined, leader: string | null): string[] {
  if (order === 'reverse') return [...hosts].reverse();
  if (order === 'leader-last' && leader !== null && hosts.includes(leader)) {
    return [...hosts.filter((h) => h !== leader), leader];
  }
  return [...hosts];
}

/** Runs `work` over items with at most `limit` at once (p-limit), started in order; results in item order. */
export function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const slots = pLimit(Math.max(1, limit));
  return Promise.all(items.map((item, index) => slots(() => work(item, index))));
}
