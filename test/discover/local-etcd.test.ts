import { describe, expect, it } from 'vitest';
import { localEtcdOnly } from '../../src/discover/layout-vars.js';

describe('discover: does the apiserver talk to its own etcd member alone (etcd_restart_holds_apiserver)?', () => {
  const local = ['https://10.0.0.11:2379', 'https://127.0.0.1:2379'];
  it("yes for kubeadm's loopback member and for the host's own client URL", () => {
    expect(localEtcdOnly('https://127.0.0.1:2379', [])).toBe(true);
    expect(localEtcdOnly('https://[::1]:2379', [])).toBe(true);
    expect(localEtcdOnly('https://10.0.0.11:2379', local)).toBe(true);
  });
  it('no for several members, another host, an empty or broken value', () => {
    expect(localEtcdOnly('https://10.0.0.11:2379,https://10.0.0.12:2379', local)).toBe(false);
    expect(localEtcdOnly('https://10.0.0.12:2379', local)).toBe(false);
    expect(localEtcdOnly('https://10.0.0.11:12379', local)).toBe(false);
    expect(localEtcdOnly(undefined, local)).toBe(false);
    expect(localEtcdOnly('', local)).toBe(false);
    expect(localEtcdOnly('not a url', local)).toBe(false);
  });
});
