/**
 * Emulated kube-controller-manager: connects through --kubeconfig, elects a leader with the
 * kube-system/kube-controller-manager Lease, and (as leader) publishes the kube-root-ca.crt ConfigMap
 * in every namespace from --root-ca-file. Like the real one it refuses to start when
 * --cluster-signing-cert-file holds more than one certificate (kubeadm #1350, kops #3875), and
 * loads every per-signer pair (--cluster-signing-{kubelet-client,kubelet-serving,
 * kube-apiserver-client,legacy-unknown}-{cert,key}-file, each defaulting to the shared pair) the
 * same way: one certificate, and a key that matches it (the real one fails on a mismatched pair).
 */
import { randomUUID } from 'node:crypto';
import { NODE, countCerts, errorMessage, every, loadKubeconfig, logEvent, pairMatches, parseFlags, readText, requireFlag, setComponent } from '../shared/common.js';
import { ApiClient } from './api-client.js';
import { LeaderElector } from './leader-election.js';
import { syncNodeLifecycle, syncWorkloadStatus } from './controllers.js';

export async function kubeControllerManagerMain(argv: string[]): Promise<void> {
  setComponent('kube-controller-manager');
  const flags = parseFlags(argv);
  const signingFile = requireFlag(flags, 'cluster-signing-cert-file');
  const signingKeyFile = requireFlag(flags, 'cluster-signing-key-file');
  for (const signer of ['', 'kubelet-client-', 'kubelet-serving-', 'kube-apiserver-client-', 'legacy-unknown-']) {
    const certFile = flags.get(`cluster-signing-${signer}cert-file`) ?? signingFile;
    const keyFile = flags.get(`cluster-signing-${signer}key-file`) ?? signingKeyFile;
    const cert = readText(certFile);
    const key = readText(keyFile);
    const count = countCerts(cert);
    const problem = count !== 1 ? `data does not contain exactly one certificate (found ${count}); PEM file should contain only one object` : !pairMatches(cert, key) ? `the key in "${keyFile}" does not match the certificate` : undefined;
    if (problem) {
      const msg = `failed to start certificate controller${signer ? ` for signer ${signer.slice(0, -1)}` : ''}: error reading CA cert file "${certFile}": ${problem}`;
      logEvent('error', 'config', msg);
      console.error(msg);
      process.exit(1);
    }
  }
  const rootCa = readText(requireFlag(flags, 'root-ca-file'));
  const api = new ApiClient(loadKubeconfig(requireFlag(flags, 'kubeconfig')), 'kube-controller-manager');
  const elector = new LeaderElector(api, 'kube-controller-manager', `${NODE}_${randomUUID()}`, flags.get('leader-elect') !== 'false');

  every(1000, async () => {
    if (!(await elector.tick())) return;
    try {
      const namespaces = (await api.get('/api/v1/namespaces')) as { items?: Array<{ metadata?: { name?: string } }> } | undefined;
      for (const ns of namespaces?.items ?? []) {
        const name = ns.metadata?.name;
        if (!name) continue;
        const path = `/api/v1/namespaces/${name}/configmaps/kube-root-ca.crt`;
        const current = (await api.get(path)) as { data?: Record<string, string> } | undefined;
        if (current?.data?.['ca.crt'] !== rootCa) {
          await api.put(path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: name }, data: { 'ca.crt': rootCa } });
          logEvent('info', 'root-ca', `published kube-root-ca.crt in namespace ${name}`);
        }
      }
      await syncNodeLifecycle(api);
      await syncWorkloadStatus(api);
    } catch (err) {
      logEvent('error', 'apiserver-connection', `kube-controller-manager -> ${api.server}: ${errorMessage(err)}`);
    }
  });
}
