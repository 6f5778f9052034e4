import { describe, expect, it } from 'vitest';
import { makeBatches, mapLimit, orderHosts } from '../../src/engine/batches.js';

describe('rolling batches', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  it('splits by count, percentage and a list of sizes whose last repeats', () => {
    expect(makeBatches(hosts, 1)).toEqual([['a'], ['b'], ['c'], ['d'], ['e']]);
    expect(makeBatches(hosts, 2)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(makeBatches(hosts, '40%')).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(makeBatches(hosts, '10%')).toEqual([['a'], ['b'], ['c'], ['d'], ['e']]);
    expect(makeBatches(hosts, [1, 3])).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
    expect(makeBatches(hosts, undefined)).toEqual([hosts]);
  });

  it('puts the leader last, and keeps inventory order when there is no leader', () => {
    expect(orderHosts(['a', 'b', 'c'], 'leader-last', 'a')).toEqual(['b', 'c', 'a']);
    expect(orderHosts(['a', 'b', 'c'], 'leader-last', null)).toEqual(['a', 'b', 'c']);
    expect(orderHosts(['a', 'b', 'c'], 'reverse', null)).toEqual(['c', 'b', 'a']);
  });

  it('never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    await mapLimit([...Array(12).keys()], 3, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    });
    expect(peak).toBe(3);
  });
});
