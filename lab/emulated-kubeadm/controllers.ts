/**
 * What the controller-manager leader does besides kube-root-ca.crt: the node lifecycle controller
 * (a node whose kube-node-lease Lease is older than 40 s turns Ready=Unknown) and the workload
 * controllers' status (observedGeneration, updated/available counts from the pods the kubelets report),
 * so `kubectl rollout status`-style waits see a rollout finish only when the pods really restarted.
 */
import type { ApiClient } from './api-client.js';

const NODE_GRACE_MS = 40_000;

export async function syncNodeLifecycle(api: ApiClient): Promise<void> {
  // One list of the Leases, not a GET per node: the real controller reads both from its informers,
  // and a hundred GETs a second would load the lab's apiservers far more than a real cluster's.
  const leases = new Map<string, { spec?: { renewTime?: string } }>();
  for (const l of await api.list('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases')) leases.set(l['metadata']?.name as string, l);
  for (const node of await api.list('/api/v1/nodes')) {
    const name = node['metadata']?.name as string | undefined;
    if (!name) continue;
    const lease = leases.get(name);
    const fresh = lease?.spec?.renewTime ? Date.now() - Date.parse(lease.spec.renewTime) < NODE_GRACE_MS : false;
    const ready = (node['status']?.conditions as Array<{ type: string; status: string }> | undefined)?.find((c) => c.type === 'Ready')?.status;
    if (!fresh && ready === 'True') {
      await api.patch(`/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }] } });
    }
  }
}

export async function syncWorkloadStatus(api: ApiClient): Promise<void> {
  const nodes = (await api.list('/api/v1/nodes')).length;
  for (const ns of await api.list('/api/v1/namespaces')) {
    const namespace = ns['metadata']?.name as string | undefined;
    if (!namespace) continue;
    const pods = await api.list(`/api/v1/namespaces/${namespace}/pods`);
    for (const kind of ['deployments', 'daemonsets'] as const) {
      for (const w of await api.list(`/apis/apps/v1/namespaces/${namespace}/${kind}`)) {
        const name = w['metadata']?.name as string;
        const template = templateHash(w['spec']?.template?.metadata?.annotations);
        const own = pods.filter((p) => p['metadata']?.labels?.['kcarun-lab/owner'] === `${kind}/${name}`);
        const updated = own.filter((p) => p['metadata']?.annotations?.['kcarun-lab/template-hash'] === template).length;
        const generation = Number(w['metadata']?.generation ?? 1);
        const status: Record<string, number> =
          kind === 'daemonsets'
            ? { observedGeneration: generation, desiredNumberScheduled: nodes, currentNumberScheduled: own.length, updatedNumberScheduled: updated, numberReady: own.length, numberAvailable: updated }
            : { observedGeneration: generation, replicas: own.length, updatedReplicas: updated, readyReplicas: own.length, availableReplicas: updated };
        if (JSON.stringify(w['status'] ?? {}) !== JSON.stringify(status)) await api.patch(`/apis/apps/v1/namespaces/${namespace}/${kind}/${name}/status`, { status });
      }
    }
  }
}

/** The pod template's identity as far as the lab cares: its annotations (what rollout restart changes). */
export function templateHash(annotations: unknown): string {
  const json = JSON.stringify(annotations ?? {});
  let h = 0;
  for (let i = 0; i < json.length; i++) h = (Math.imul(h, 31) + json.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16);
}
