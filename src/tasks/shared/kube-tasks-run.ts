/** run() bodies of kube-rollout-restart, kube-configmap-patch and kube-wait (loaded on demand). */
import { KcarunError } from '../../core/errors.js';
import { kubeClientFromHost, type KubeApiClient } from './kube-api-client.js';
import { setKubeconfigClusterCA } from '../../edit/kubeconfig.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { DEFAULT_KUBECONFIG } from './health-schemas.js';
import { pollUntilStable } from '../../core/async.js';
import { checkKubeNodes } from './probes.js';

interface KubeconfigParams {
  kubeconfig?: string;
  server?: string;
}

export function clientFor(ctx: TaskContext<KubeconfigParams>): Promise<KubeApiClient> {
  return kubeClientFromHost(ctx.transport, ctx.params.kubeconfig ?? DEFAULT_KUBECONFIG, { become: ctx.host.become, server: ctx.params.server });
}

const enc = encodeURIComponent;
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

interface Workload {
  metadata?: { name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: Record<string, number | undefined>;
}

// --- kube-rollout-restart -------------------------------------------------------------------------

export interface RolloutRestartParams extends KubeconfigParams {
  namespaces: string[];
  kinds?: Array<'deployments' | 'daemonsets'>;
  timeoutSeconds?: number;
  intervalSeconds?: number;
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

export async function runRolloutRestart(ctx: TaskContext<RolloutRestartParams>): Promise<TaskOutcome> {
  const client = await clientFor(ctx);
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

// --- kube-configmap-patch -------------------------------------------------------------------------

export interface ConfigMapPatchParams extends KubeconfigParams {
  namespace: string;
  name: string;
  data?: Record<string, string>;
  kubeconfigCa?: { key: string; caFile: string };
}

interface ConfigMap {
  data?: Record<string, string>;
}

export async function runConfigMapPatch(ctx: TaskContext<ConfigMapPatchParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const client = await clientFor(ctx);
  const path = `/api/v1/namespaces/${enc(p.namespace)}/configmaps/${enc(p.name)}`;
  const cm = await client.get<ConfigMap>(path);
  if (!cm) throw new KcarunError('E_TASK', `${ctx.host.name}: configmap ${p.namespace}/${p.name} does not exist`, { host: ctx.host.name });
  const current = cm.data ?? {};
  const wanted: Record<string, string> = { ...(p.data ?? {}) };
  if (p.kubeconfigCa) {
    const text = current[p.kubeconfigCa.key];
    if (text === undefined) throw new KcarunError('E_TASK', `${ctx.host.name}: configmap ${p.namespace}/${p.name} has no data key ${p.kubeconfigCa.key}`, { host: ctx.host.name });
    const ca = await ctx.transport.readFile(p.kubeconfigCa.caFile, { become: ctx.host.become });
    wanted[p.kubeconfigCa.key] = setKubeconfigClusterCA(text, { ca: { data: ca }, file: `${p.namespace}/${p.name}:${p.kubeconfigCa.key}` }).text;
  }
  const changedKeys = Object.keys(wanted).filter((k) => current[k] !== wanted[k]);
  if (changedKeys.length === 0) return { changed: false, summary: `${p.namespace}/${p.name} already up to date` };
  // The previous values (public configmap data such as cluster-info) are what rollback puts back.
  const previous: Record<string, string | null> = Object.fromEntries(changedKeys.map((k) => [k, current[k] ?? null]));
  await client.mergePatch(path, { data: Object.fromEntries(changedKeys.map((k) => [k, wanted[k]])) });
  return { changed: true, undo: { previous }, output: { changedKeys }, summary: `patched ${p.namespace}/${p.name}: ${changedKeys.join(', ')}` };
}

export async function rollbackConfigMapPatch(ctx: TaskContext<ConfigMapPatchParams>, undo: unknown): Promise<void> {
  const previous = (undo as { previous?: Record<string, string | null> } | undefined)?.previous;
  if (!previous) return;
  const client = await clientFor(ctx);
  await client.mergePatch(`/api/v1/namespaces/${enc(ctx.params.namespace)}/configmaps/${enc(ctx.params.name)}`, { data: previous });
}

// --- kube-wait ------------------------------------------------------------------------------------

export interface KubeWaitParams extends KubeconfigParams {
  nodesReady?: boolean;
  nodes?: string[];
  maxLeaseAgeSeconds?: number;
  rootCaFile?: string;
  timeoutSeconds?: number;
  intervalSeconds?: number;
  successes?: number;
}

export async function runKubeWait(ctx: TaskContext<KubeWaitParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const client = await clientFor(ctx);
  const rootCa = p.rootCaFile ? (await ctx.transport.readFile(p.rootCaFile, { become: ctx.host.become })).toString('utf8') : undefined;
  const check = async (): Promise<void> => {
    const problems: string[] = [];
    if (p.nodesReady ?? true) problems.push(...(await checkKubeNodes(client, { nodes: p.nodes, maxLeaseAgeSeconds: p.maxLeaseAgeSeconds, now: Date.now() })));
    if (rootCa !== undefined) {
      const stale: string[] = [];
      for (const ns of await client.list<{ metadata?: { name?: string } }>('/api/v1/namespaces')) {
        const name = ns.metadata?.name ?? '';
        const cm = await client.get<ConfigMap>(`/api/v1/namespaces/${enc(name)}/configmaps/kube-root-ca.crt`);
        if (normalizePem(cm?.data?.['ca.crt']) !== normalizePem(rootCa)) stale.push(name);
      }
      if (stale.length) problems.push(`kube-root-ca.crt differs from ${p.rootCaFile} in namespace(s) ${stale.join(', ')}`);
    }
    if (problems.length) throw new Error(problems.join('; '));
  };
  const r = await pollUntilStable(
    { host: ctx.host.name, probe: 'kube-wait' },
    { timeoutSeconds: p.timeoutSeconds ?? 300, intervalSeconds: p.intervalSeconds ?? 2, successes: p.successes ?? 2 },
    check,
    ctx.signal,
  );
  return { changed: false, output: { seconds: r.seconds }, summary: `cluster settled after ${r.seconds.toFixed(1)} s` };
}

const normalizePem = (s: string | undefined): string | undefined => s?.replace(/\r/g, '').trim();
