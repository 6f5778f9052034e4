import { KcarunError } from '../../core/errors.js';
import { setKubeconfigClusterCA } from '../../edit/kubeconfig.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { kubeClientFor } from '../shared/kube-api-client.js';
import type { KubeConfigMapPatchParams } from './schema.js';

const enc = encodeURIComponent;

interface ConfigMap {
  data?: Record<string, string>;
}

export async function runConfigMapPatch(ctx: TaskContext<KubeConfigMapPatchParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const client = await kubeClientFor(ctx);
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

export async function rollbackConfigMapPatch(ctx: TaskContext<KubeConfigMapPatchParams>, undo: unknown): Promise<void> {
  const previous = (undo as { previous?: Record<string, string | null> } | undefined)?.previous;
  if (!previous) return;
  const client = await kubeClientFor(ctx);
  await client.mergePatch(`/api/v1/namespaces/${enc(ctx.params.namespace)}/configmaps/${enc(ctx.params.name)}`, { data: previous });
}
