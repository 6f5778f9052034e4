/** Node health as kube-wait and the wait-healthy `kube` probe judge it, from the API's JSON. */

interface NodeObject {
  metadata?: { name?: string };
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

interface LeaseObject {
  metadata?: { name?: string };
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

/** Every node Ready, and every node's kube-node-lease Lease renewed recently. */
export async function checkKubeNodes(
  client: { list<T>(path: string): Promise<T[]> },
  options: { nodes?: string[]; maxLeaseAgeSeconds?: number; now: number },
): Promise<string[]> {
  const nodes = await client.list<NodeObject>('/api/v1/nodes');
  const leases = await client.list<LeaseObject>('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
  const problems: string[] = [];
  const names = nodes.map((n) => n.metadata?.name ?? '');
  for (const wanted of options.nodes ?? []) if (!names.includes(wanted)) problems.push(`node ${wanted} is not registered`);
  for (const n of nodes) {
    const name = n.metadata?.name ?? '?';
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') problems.push(`node ${name} is not Ready${ready?.message ? ` (${ready.message})` : ''}`);
    const lease = leases.find((l) => l.metadata?.name === name);
    const renew = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : NaN;
    const maxAge = options.maxLeaseAgeSeconds ?? lease?.spec?.leaseDurationSeconds ?? 40;
    if (!lease) problems.push(`node ${name} has no lease in kube-node-lease`);
    else if (!(options.now - renew <= maxAge * 1000)) {
      problems.push(`node ${name} lease not renewed for ${Number.isNaN(renew) ? '?' : Math.round((options.now - renew) / 1000)} s (max ${maxAge} s)`);
    }
  }
  return problems;
}
