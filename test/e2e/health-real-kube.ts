/**
 * The Kubernetes API health tasks on the genuine kubeadm cluster (part of health-real.ts):
 * kube-configmap-patch on kubeadm's own cluster-info (the real bootstrap signer re-signs it),
 * kube-rollout-restart of a Deployment the real controllers roll out, kube-wait against the root CA
 * the real controller-manager publishes, preflight warning about a webhook that trusts the old CA.
 * Everything made here is removed again: the file's later tests rotate this cluster.
 */
import { expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { kubectl } from '../../lab/real/up.js';
import { imageRefs } from '../../lab/real/artifacts.js';
import { preflightTask } from '../../src/tasks/preflight/index.js';
import { kubeConfigMapPatchTask } from '../../src/tasks/kube-configmap-patch/index.js';
import { kubeRolloutRestartTask } from '../../src/tasks/kube-rollout-restart/index.js';
import { kubeWaitTask } from '../../src/tasks/kube-wait/index.js';
import type { KubeApiClient } from '../../src/tasks/shared/kube-api-client.js';
import type { LabTasks } from '../tasks/health/health-fixture.js';
import type { RealLab } from './real-lab-session.js';
import { failure, P, re, TLS } from './health-real-tools.js';

export interface HealthSession {
  t: LabTasks;
  api: KubeApiClient;
  /** This block's own folder under the lab's work folder. */
  work: string;
}

const NS = 'kcarun-health-test';

interface ConfigMap {
  data: Record<string, string>;
}
interface KubeconfigDoc {
  clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
}

/**
 * A Deployment of the lab's pause image (imported, never pulled) that tolerates kubeadm's
 * control-plane taint: the lab's nodes are all control-plane nodes. YAML text.
 */
export function pauseDeployment(name: string, namespace: string, app: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${app} } }
  template:
    metadata: { labels: { app: ${app} } }
    spec:
      tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }]
      terminationGracePeriodSeconds: 1
      containers: [{ name: pause, image: ${imageRefs().pause}, imagePullPolicy: Never }]
`;
}

/** `kubectl apply` of `manifest` (YAML) with the operator's kubectl and admin.conf. */
async function apply(lab: RealLab, work: string, name: string, manifest: string): Promise<void> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, manifest);
  const r = await kubectl(lab.paths, ['apply', '-f', file]);
  expect(r.rc, `kubectl apply ${name}: ${r.stderr}`).toBe(0);
}

export function describeKubeApiTasks(lab: RealLab, h: () => HealthSession): void {
  it('kube-configmap-patch sets the CA data of kubeadm cluster-info idempotently, and its rollback puts it back (the real bootstrap signer re-signs it as before)', async () => {
    const { t, api } = h();
    const path = '/api/v1/namespaces/kube-public/configmaps/cluster-info';
    const original = (await api.get<ConfigMap>(path))!.data;
    const jwsKeys = Object.keys(original).filter((k) => k.startsWith('jws-kubeconfig-'));
    expect(jwsKeys.length, 'kubeadm signs cluster-info for its bootstrap token').toBeGreaterThan(0);
    const caPem = readFileSync(lab.fs('cp1', `${P}/ca.crt`), 'utf8');
    const bundle = caPem + readFileSync(lab.fs('cp1', `${P}/etcd/ca.crt`), 'utf8');
    const bundleFile = `${P}/kcarun-health-test-bundle.crt`;
    writeFileSync(lab.fs('cp1', bundleFile), bundle);
    const params = { namespace: 'kube-public', name: 'cluster-info', kubeconfigCa: { key: 'kubeconfig', caFile: bundleFile } };
    const kubeconfigOf = (data: Record<string, string>) => parse(data['kubeconfig']!) as KubeconfigDoc;
    try {
      expect(Buffer.from(kubeconfigOf(original).clusters[0]!.cluster['certificate-authority-data'], 'base64').toString()).toBe(caPem);
      const first = await t.run(kubeConfigMapPatchTask, 'cp1', params);
      expect(first.changed).toBe(true);
      const patched = (await api.get<ConfigMap>(path))!.data;
      const cluster = kubeconfigOf(patched).clusters[0]!.cluster;
      expect(Buffer.from(cluster['certificate-authority-data'], 'base64').toString()).toBe(bundle);
      expect(cluster.server).toBe(kubeconfigOf(original).clusters[0]!.cluster.server);
      expect(Object.keys(patched).sort()).toEqual(Object.keys(original).sort());
      expect((await t.run(kubeConfigMapPatchTask, 'cp1', params)).changed).toBe(false);

      // The journal's undo puts the old kubeconfig back; the controller-manager's bootstrap signer
      // then signs it again, and HS256 of the same content gives kubeadm's signature back, so
      // `kubeadm join` with the token's CA pinning verifies cluster-info as before.
      await kubeConfigMapPatchTask.rollback!({ params, host: t.host('cp1'), transport: await t.transports.get('cp1') } as never, first.undo);
      let now = (await api.get<ConfigMap>(path))!.data;
      expect(now['kubeconfig']).toBe(original['kubeconfig']);
      for (let i = 0; i < 60 && JSON.stringify(now) !== JSON.stringify(original); i++) {
        await sleep(1000);
        now = (await api.get<ConfigMap>(path))!.data;
      }
      expect(now).toEqual(original);
    } finally {
      const now = (await api.get<ConfigMap>(path))!.data;
      if (now['kubeconfig'] !== original['kubeconfig']) await api.mergePatch(path, { data: { kubeconfig: original['kubeconfig'] } });
      await t.transports.get('cp1').then((tr) => tr.exec(`rm -f ${bundleFile}`));
    }
  }, 180_000);

  it('kube-rollout-restart restarts a Deployment and waits until the real controllers have replaced its pod; kube-wait sees kube-root-ca.crt in every namespace and names them all against another CA', async () => {
    const { t, api, work } = h();
    await apply(
      lab,
      work,
      'deployment',
      `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
${pauseDeployment('pause', NS, 'kcarun-health-test', 1)}`,
    );
    interface Pod {
      metadata: { name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
      status: { phase: string };
    }
    const running = async () =>
      (await api.list<Pod>(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dkcarun-health-test`)).filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp);
    try {
      let before: Pod[] = [];
      for (let i = 0; i < 120 && (before = await running()).length !== 1; i++) await sleep(1000);
      expect(before.map((p) => p.status.phase)).toEqual(['Running']);

      const restart = await t.run(kubeRolloutRestartTask, 'cp1', { namespaces: [NS], kinds: ['deployments'], timeoutSeconds: 180 });
      const out = restart.output as { restartedAt: string; restarted: string[] };
      expect(out.restarted).toEqual([`deployments/${NS}/pause`]);
      const dep = (await api.get<{ metadata: { generation: number }; spec: { template: { metadata: { annotations: Record<string, string> } } }; status: Record<string, number> }>(`/apis/apps/v1/namespaces/${NS}/deployments/pause`))!;
      expect(dep.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBe(out.restartedAt);
      // Returned only once the rollout is done, as `kubectl rollout status` sees it.
      expect(dep.status['observedGeneration']).toBeGreaterThanOrEqual(dep.metadata.generation);
      expect({ updated: dep.status['updatedReplicas'], available: dep.status['availableReplicas'] }).toEqual({ updated: 1, available: 1 });
      const after = await running();
      expect(after.map((p) => p.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'])).toEqual([out.restartedAt]);
      expect(before.map((p) => p.metadata.name)).not.toContain(after[0]!.metadata.name);

      // kube-root-ca.crt, as the real controller-manager publishes it (the test namespace's too).
      const namespaces = (await api.list<{ metadata: { name: string } }>('/api/v1/namespaces')).map((n) => n.metadata.name).sort();
      expect(namespaces).toContain(NS);
      await t.run(kubeWaitTask, 'cp1', { rootCaFile: `${P}/ca.crt`, timeoutSeconds: 60, intervalSeconds: 0.5 });
      const err = await failure(t.run(kubeWaitTask, 'cp1', { rootCaFile: `${P}/etcd/ca.crt`, timeoutSeconds: 2, intervalSeconds: 0.5 }));
      expect(err.message).toMatch(new RegExp(`^cp1: probe kube-wait not healthy within 2 s .*kube-root-ca\\.crt differs from /etc/kubernetes/pki/etcd/ca\\.crt in namespace\\(s\\) ${re(namespaces.join(', '))}`));
    } finally {
      const del = await kubectl(lab.paths, ['delete', 'namespace', NS, '--wait=true', '--timeout=120s']);
      expect(del.rc, `kubectl delete namespace ${NS}: ${del.stderr}`).toBe(0);
    }
  }, 600_000);

  it('preflight passes on the healthy cluster and warns about a webhook trusting the old CA', async () => {
    const { t, work } = h();
    const b64 = (file: string) => readFileSync(lab.fs('cp1', file)).toString('base64');
    // A webhook that matches no request (no rules): it only carries the caBundles preflight reads.
    const webhook = (name: string, caFile: string) =>
      `  - { name: ${name}, clientConfig: { url: "https://127.0.0.1:1/none", caBundle: ${b64(caFile)} }, rules: [], sideEffects: None, admissionReviewVersions: [v1], failurePolicy: Ignore }`;
    await apply(
      lab,
      work,
      'webhook',
      `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: kcarun-health-test-policy }
webhooks:
${webhook('check.policy.example.com', `${P}/ca.crt`)}
${webhook('other.example.com', `${P}/front-proxy-ca.crt`)}
`,
    );
    try {
      const res = await t.run(preflightTask, 'cp1', {
        disk: { path: '/var/lib', minFreeMb: 1, localMinFreeMb: 1 },
        etcd: TLS,
        certificates: [
          { path: `${P}/apiserver.crt`, key: `${P}/apiserver.key`, ca: `${P}/ca.crt` },
          { path: `${P}/etcd/server.crt`, key: `${P}/etcd/server.key`, ca: `${P}/etcd/ca.crt` },
          { path: `${P}/front-proxy-client.crt`, key: `${P}/front-proxy-client.key`, ca: `${P}/front-proxy-ca.crt` },
        ],
        // kubeadm join --control-plane copied the CA keys to every control-plane node.
        caKeys: [{ cert: `${P}/ca.crt`, key: `${P}/ca.key`, hosts: ['cp1', 'cp2', 'cp3'] }],
        webhooks: { oldCaFile: `${P}/ca.crt` },
      });
      expect(res.changed).toBe(false);
      expect((res.output as { warnings: string[] }).warnings).toEqual([
        'validatingwebhookconfigurations/kcarun-health-test-policy webhook check.policy.example.com: caBundle is the old cluster CA; update it when its serving certificate is re-issued',
      ]);
      expect(t.logs.some((l) => l.startsWith('warn validatingwebhookconfigurations/kcarun-health-test-policy'))).toBe(true);
    } finally {
      const del = await kubectl(lab.paths, ['delete', 'validatingwebhookconfiguration', 'kcarun-health-test-policy']);
      expect(del.rc, del.stderr).toBe(0);
    }
  }, 120_000);
}
