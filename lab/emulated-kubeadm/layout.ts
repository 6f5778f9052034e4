/**
 * KEPT ONLY FOR test/tasks/health/health-lab.test.ts (the etcd restore procedure of docs/health.md),
 * which is being moved to the genuine kubeadm lab by its owner: delete this folder with it.
 *
 * The emulated kubeadm cluster of sessions 1-24: kubeadm's files (lab/layouts/kubeadm-files.ts) on
 * loopback nodes, run by the stand-ins in this folder (kubelet with its static pods, kube-apiserver,
 * kube-controller-manager, kube-scheduler, crictl) and Debian's etcd 3.4. Issue 18 retired it: every
 * rotation, bench and lab test runs on the real components (lab/real/), and `npm run lab` no longer
 * offers it (`--layout kubeadm-emulated` is refused); only `labUp({ layout: 'kubeadm' })` from
 * TypeScript still brings it up, with no workers and no traffic.
 */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadKubeconfig, tlsRequest, type HttpResult } from '../shared/common.js';
import { waitFor } from '../exec.js';
import { kubeadmNodeFiles } from '../layouts/kubeadm-files.js';
import type { LabLayout } from '../layouts/types.js';
import type { LabPaths } from '../lab-paths.js';
import type { NodeState } from '../lab-state.js';

const PKI = '/etc/kubernetes/pki';
const ADMIN_KUBECONFIG = '/etc/kubernetes/admin.conf';

function adminRequest(paths: LabPaths, node: NodeState, path: string, opts: { method?: string; body?: unknown } = {}): Promise<HttpResult> {
  const np = paths.node(node.name);
  // The kubeconfig and any file paths it names are node paths: resolve them in the node's folder.
  const kc = loadKubeconfig(ADMIN_KUBECONFIG, (p) => np.fs(p));
  return tlsRequest(`https://${node.ip}:6443${path}`, kc, { method: opts.method, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
}

export const emulatedKubeadmLayout: LabLayout = {
  ...kubeadmNodeFiles,
  name: 'kubeadm',
  startUnits: ['kubelet'],
  // Each node's own etcd health-check client.
  etcdClient: { files: { ca: `${PKI}/etcd/ca.crt`, cert: `${PKI}/etcd/healthcheck-client.crt`, key: `${PKI}/etcd/healthcheck-client.key` } },

  /** The apiservers ready, the API objects kubeadm and its addons leave, the controller-manager working. */
  async afterEtcd({ paths, state, cas }) {
    await waitFor('kube-apiserver /readyz on every node', 30_000, async () => {
      for (const n of state.nodes) if ((await adminRequest(paths, n, '/readyz')).status !== 200) return false;
      return true;
    });
    const first = state.nodes[0]!;
    const put = async (path: string, body: unknown): Promise<void> => {
      const r = await adminRequest(paths, first, path, { method: 'PUT', body });
      if (r.status >= 300) throw new Error(`seed ${path}: HTTP ${r.status} ${r.body}`);
    };
    const namespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
    for (const ns of namespaces) {
      await put(`/api/v1/namespaces/${ns}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      await put(`/api/v1/namespaces/${ns}/serviceaccounts/default`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
    }
    for (const sa of ['kube-proxy', 'coredns']) await put(`/api/v1/namespaces/kube-system/serviceaccounts/${sa}`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
    await put('/apis/apps/v1/namespaces/kube-system/deployments/coredns', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'coredns' }, spec: { replicas: Math.min(2, state.nodes.length), template: { metadata: { annotations: {} } } } });
    await put('/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'kube-proxy' }, spec: { template: { metadata: { annotations: {} } } } });
    await put('/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef', { apiVersion: 'v1', kind: 'Secret', type: 'bootstrap.kubernetes.io/token', data: { 'token-id': Buffer.from('abcdef').toString('base64') } });
    const rootCa = readFileSync(cas.kubernetes.certFile, 'utf8');
    // What `kubeadm init` publishes for joining nodes: a kubeconfig with the cluster CA and endpoint.
    const kubeconfig = stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: '', cluster: { 'certificate-authority-data': Buffer.from(rootCa).toString('base64'), server: `https://${first.ip}:6443` } }],
      contexts: null,
      'current-context': '',
      preferences: {},
      users: null,
    });
    await put('/api/v1/namespaces/kube-public/configmaps/cluster-info', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info' }, data: { kubeconfig } });
    await waitFor('kube-root-ca.crt in every namespace (controller-manager leader)', 30_000, async () => {
      for (const ns of namespaces) {
        const r = await adminRequest(paths, first, `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`);
        if (r.status !== 200 || (JSON.parse(r.body) as { data?: Record<string, string> }).data?.['ca.crt'] !== rootCa) return false;
      }
      return true;
    });
  },
};
