/**
 * The lab's own etcd client for a loopback lab (up's health check and seeding, verify): the files the
 * layout names (`etcdClient`), read from the node's folder on the host at every call, so a rotated
 * certificate is followed.
 */
import { readFileSync } from 'node:fs';
import { EtcdClient } from './shared/etcd-client.js';
import type { LabPaths } from './lab-paths.js';
import type { LabLayout } from './layouts/types.js';
import type { NodeState } from './lab-state.js';

export function etcdClientFor(paths: LabPaths, layout: LabLayout, node: NodeState, endpoints: string[], retryMs = 4000): EtcdClient {
  const { files } = layout.etcdClient;
  const np = paths.node(layout.etcdClient.node ?? node.name);
  return new EtcdClient(endpoints, () => ({
    ca: readFileSync(np.fs(files.ca), 'utf8'),
    cert: readFileSync(np.fs(files.cert), 'utf8'),
    key: readFileSync(np.fs(files.key), 'utf8'),
  }), { retryMs, logFailures: false });
}
