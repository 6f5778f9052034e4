/**
 * In-cluster workloads run by each kubelet: a kube-proxy stand-in (DaemonSet, every node) and a
 * coredns stand-in (Deployment, first two nodes). Like real pods they take their trust from the
 * service-account volume (ca.crt = the kube-root-ca.crt ConfigMap when the pod started) and a token
 * from the TokenRequest API, and call the apiserver every second. They re-read ca.crt only when they
 * restart, which happens when their DaemonSet/Deployment template annotations change (what
 * `kubectl rollout restart` does). Their state survives a kubelet restart, as pods do.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_DIR, NODE, errorMessage, logEvent, tlsRequest, type TlsClient } from '../shared/common.js';
import { templateHash } from './controllers.js';

interface WorkloadPod {
  name: string;
  namespace: string;
  ownerPath: string;
  serviceAccount: string;
  /** JSON of the owner's template annotations when the pod started. */
  templateAnnotations: string;
  ca: string;
  token: string;
  startedAt: string;
}

interface Spec {
  pod: string;
  namespace: string;
  ownerPath: string;
  serviceAccount: string;
}

function specsFor(node: string): Spec[] {
  const specs: Spec[] = [{ pod: `kube-proxy-${node}`, namespace: 'kube-system', ownerPath: '/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy', serviceAccount: 'kube-proxy' }];
  if (node === 'cp1' || node === 'cp2') specs.push({ pod: `coredns-${node}`, namespace: 'kube-system', ownerPath: '/apis/apps/v1/namespaces/kube-system/deployments/coredns', serviceAccount: 'coredns' });
  return specs;
}

const stateDir = join(LAB_DIR, 'nodes', NODE, 'run', 'workloads');

function load(pod: string): WorkloadPod | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, `${pod}.json`), 'utf8')) as WorkloadPod;
  } catch {
    return undefined;
  }
}

function save(p: WorkloadPod): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, `${p.name}.json`), JSON.stringify(p));
}

async function kubeletGet(client: TlsClient, path: string): Promise<unknown> {
  const r = await tlsRequest(`${client.server}${path}`, client);
  if (r.status === 404) return undefined;
  if (r.status >= 300) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return JSON.parse(r.body) as unknown;
}

/** Starts (or restarts) a workload pod: fresh ca.crt from the ConfigMap and a fresh token. */
async function startPod(client: TlsClient, spec: Spec, annotations: string): Promise<WorkloadPod | undefined> {
  const cm = (await kubeletGet(client, `/api/v1/namespaces/${spec.namespace}/configmaps/kube-root-ca.crt`)) as { data?: Record<string, string> } | undefined;
  const ca = cm?.data?.['ca.crt'];
  if (!ca) return undefined; // not published yet: the pod waits, as it would for its volume.
  const r = await tlsRequest(`${client.server}/api/v1/namespaces/${spec.namespace}/serviceaccounts/${spec.serviceAccount}/token`, client, { method: 'POST', body: JSON.stringify({ spec: { expirationSeconds: 3600 } }) });
  if (r.status >= 300) throw new Error(`token request for ${spec.serviceAccount}: HTTP ${r.status} ${r.body.slice(0, 160)}`);
  const token = (JSON.parse(r.body) as { status?: { token?: string } }).status?.token ?? '';
  const pod: WorkloadPod = { name: spec.pod, namespace: spec.namespace, ownerPath: spec.ownerPath, serviceAccount: spec.serviceAccount, templateAnnotations: annotations, ca, token, startedAt: new Date().toISOString() };
  // The pod object the workload controllers count (updated = started from the current template).
  const [kind, owner] = spec.ownerPath.split('/').slice(-2) as [string, string];
  const podObj = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: spec.pod, namespace: spec.namespace, labels: { 'kcarun-lab/owner': `${kind}/${owner}` }, annotations: { 'kcarun-lab/template-hash': templateHash(JSON.parse(annotations)) } },
    spec: { nodeName: NODE, serviceAccountName: spec.serviceAccount },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], startTime: pod.startedAt },
  };
  const put = await tlsRequest(`${client.server}/api/v1/namespaces/${spec.namespace}/pods/${spec.pod}`, client, { method: 'PUT', body: JSON.stringify(podObj) });
  if (put.status >= 300) throw new Error(`PUT pod ${spec.pod}: HTTP ${put.status}`);
  save(pod);
  logEvent('info', 'workload', `started ${spec.pod} with ca.crt from kube-root-ca.crt`);
  return pod;
}

export async function syncWorkloads(client: TlsClient, apiserver: string): Promise<void> {
  for (const spec of specsFor(NODE)) {
    let pod = load(spec.pod);
    try {
      const owner = (await kubeletGet(client, spec.ownerPath)) as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } | undefined;
      if (!owner) continue;
      const annotations = JSON.stringify(owner.spec?.template?.metadata?.annotations ?? {});
      if (!pod || pod.templateAnnotations !== annotations) pod = await startPod(client, spec, annotations);
    } catch (err) {
      logEvent('error', 'apiserver-connection', `kubelet (workload ${spec.pod}) -> ${client.server}: ${errorMessage(err)}`);
    }
    if (!pod) continue;
    try {
      const r = await tlsRequest(`${apiserver}/api/v1/namespaces/${spec.namespace}/configmaps/kube-root-ca.crt`, { ca: pod.ca }, { headers: { authorization: `Bearer ${pod.token}` } });
      if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.body.slice(0, 160)}`);
    } catch (err) {
      logEvent('error', 'apiserver-connection', `${spec.pod} (in-cluster, service-account ca.crt) -> ${apiserver}: ${errorMessage(err)}`, { component: spec.pod.replace(`-${NODE}`, '') });
    }
  }
}
