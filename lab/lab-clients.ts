/**
 * The lab's own clients of a node's etcd and apiserver, using that node's current files (read from the
 * node's folder on the host): what the layout says the apiserver and the admin use.
 */
import { readFileSync } from 'node:fs';
import { loadKubeconfig, tlsRequest, type HttpResult } from './components/common.js';
import { EtcdClient } from './components/etcd-client.js';
import { apiserverClientFiles } from './components/apiserver-flags.js';
import type { LabPaths } from './lab-paths.js';
import type { LabLayout } from './layouts/types.js';
import type { NodeState } from './lab-state.js';

export function etcdClientFor(paths: LabPaths, layout: LabLayout, node: NodeState, endpoints: string[], retryMs = 4000): EtcdClient {
  const only = layout.etcdOnly;
  if (only) {
    // etcd alone: the monitoring client's files, wherever that client runs.
    const cp = paths.node(only.node);
    return new EtcdClient(endpoints, () => ({
      ca: readFileSync(cp.fs(only.client.ca), 'utf8'),
      cert: readFileSync(cp.fs(only.client.cert), 'utf8'),
      key: readFileSync(cp.fs(only.client.key), 'utf8'),
    }), { retryMs, logFailures: false });
  }
  const np = paths.node(node.name);
  return new EtcdClient(endpoints, () => {
    // The files the apiserver's flags name now (a rotation may point them at new files).
    const files = apiserverClientFiles(layout.apiserverManifest, (p) => np.fs(p)).etcd;
    return {
      ca: readFileSync(np.fs(files.ca), 'utf8'),
      cert: readFileSync(np.fs(files.cert), 'utf8'),
      key: readFileSync(np.fs(files.key), 'utf8'),
    };
  }, { retryMs, logFailures: false });
}

export function adminRequest(paths: LabPaths, layout: LabLayout, node: NodeState, path: string, opts: { method?: string; body?: unknown } = {}): Promise<HttpResult> {
  const np = paths.node(node.name);
  // The kubeconfig and any file paths it names are node paths: resolve them in the node's folder.
  const kc = loadKubeconfig(layout.adminKubeconfig, (p) => np.fs(p));
  return tlsRequest(`https://${node.ip}:6443${path}`, kc, { method: opts.method, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
}
