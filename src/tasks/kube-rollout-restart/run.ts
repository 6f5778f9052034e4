import { pollUntilStable } from '../../core/async.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { kubeClientFor } from '../shared/kube-api-client.js';
import type { KubeRolloutRestartParams } from './schema.js';

const enc = encodeURIComponent;
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

interface Workload {
  metadata?: { name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: Record<string, number | undefined>;
}

/** kubectl's own rollout-complete rules (kubectl rollout status), for Deployments and DaemonSets. */
export function rolloutPending(kind: 'deployments' | 'daemonsets', w: Workload): string | null {
  const s = w.status ?? {};
  if ((w.metadata?.generation ?? 0) > (s['observedGeneration'] ?? w.metadata?.generation ?? 0)) return 'spec change not yet observed';
  if (kind === 'deployments') {
    const want = w.spec?.replicas ?? 1;
    const updated = s['updatedReplicas'] ?? want;
    if (updated < want) return `${updated} of ${want} replicas updated`;
    if ((s['replicas'] ?? updated) > updated) return `${(s['replicas'] ?? 0) - updated} old replicas pending termination`;
    if ((s['availableReplicas'] ?? updated) < updated) return `${s['availableReplicas'] ?? 0} of ${updated} updated replicas available`;
    return null;
  }
  const desired = s['desiredNumberScheduled'] ?? 0;
  if ((s['updatedNumberScheduled'] ?? desired) < desired) return `${s['updatedNumberScheduled'] ?? 0} of ${desired} pods updated`;
  if ((s['numberAvailable'] ?? desired) < desired) return `${s['numberAvailable'] ?? 0} of ${desired} updated pods available`;
  return null;
}

export async function runRolloutRestart(ctx: TaskContext<KubeRolloutRestartParams>): Promise<TaskOutcome> {
  const client = await kubeClientFor(ctx);
  const kinds = ctx.params.kinds ?? ['deployments', 'daemonsets'];
  const stamp = new Date().toISOString();
  const restarted: Array<{ kind: 'deployments' | 'daemonsets'; namespace: string; name: string }> = [];
  for (const ns of ctx.params.namespaces) {
    for (const kind of kinds) {
      for (const w of await client.list<Workload>(`/apis/apps/v1/namespaces/${enc(ns)}/${kind}`)) {
        const name = w.metadata?.name;
        if (!name) continue;
        // What `kubectl rollout restart` does: a new pod-template annotation makes a new rollout.
        await client.mergePatch(`/apis/apps/v1/namespaces/${enc(ns)}/${kind}/${enc(name)}`, { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: stamp } } } } });
        restarted.push({ kind, namespace: ns, name });
      }
    }
  }
  const pending = async (): Promise<void> => {
    const left: string[] = [];
    for (const r of restarted) {
      const w = await client.get<Workload>(`/apis/apps/v1/namespaces/${enc(r.namespace)}/${r.kind}/${enc(r.name)}`);
      const why = w ? rolloutPending(r.kind, w) : 'deleted during its rollout';
      if (why) left.push(`${r.kind}/${r.namespace}/${r.name}: ${why}`);
    }
    if (left.length) throw new Error(left.join('; '));
  };
  await pollUntilStable(
    { host: ctx.host.name, probe: 'rollout' },
    { timeoutSeconds: ctx.params.timeoutSeconds ?? 300, intervalSeconds: ctx.params.intervalSeconds ?? 2, successes: 1 },
    pending,
    ctx.signal,
  );
  const names = restarted.map((r) => `${r.kind}/${r.namespace}/${r.name}`);
  return { changed: restarted.length > 0, output: { restarted: names, restartedAt: stamp }, summary: `restarted ${restarted.length} workload(s)` };
}
