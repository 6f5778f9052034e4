import { pollUntilStable } from '../../core/async.js';
import type { TaskContext, TaskOutcome } from '../define.js';
import { kubeClientFor } from '../shared/kube-api-client.js';
import { checkKubeNodes } from '../shared/kube-nodes.js';
import type { KubeWaitParams } from './schema.js';

const enc = encodeURIComponent;

interface ConfigMap {
  data?: Record<string, string>;
}

export async function runKubeWait(ctx: TaskContext<KubeWaitParams>): Promise<TaskOutcome> {
  const p = ctx.params;
  const client = await kubeClientFor(ctx);
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
