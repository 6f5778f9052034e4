/**
 * Emulated kubelet: reads --config (KubeletConfiguration) and --kubeconfig like the real one; serves
 * :10250 with tlsCertFile/tlsPrivateKeyFile, trusting authentication.x509.clientCAFile; renews its node
 * Lease through the kubeconfig every second (the lab's fast cadence; a config with
 * nodeLeaseDurationSeconds gets the real one, a quarter of it: worker nodes use 40 s, the real default,
 * so a hundred of them renew 10 times a second in all); runs the static pods of staticPodPath.
 */
import { parse } from 'yaml';
import { NODE, every, errorMessage, loadKubeconfig, logEvent, parseFlags, readText, requireFlag, setComponent, tlsRequest, type TlsClient } from './common.js';
import { StaticPodRunner } from './static-pods.js';
import { reloadTlsServer, sendJson, startTlsServer } from './tls-server.js';
import { WatchedFiles } from './file-watch.js';
import { syncWorkloads } from './workloads.js';

interface KubeletConfig {
  address?: string;
  port?: number;
  staticPodPath?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  authentication?: { x509?: { clientCAFile?: string } };
  /** The real kubelet renews its Lease every quarter of this (kubelet.go, nodeLeaseRenewIntervalFraction 0.25). */
  nodeLeaseDurationSeconds?: number;
}

export async function kubeletMain(argv: string[]): Promise<void> {
  setComponent('kubelet');
  const flags = parseFlags(argv);
  const config = parse(readText(requireFlag(flags, 'config'))) as KubeletConfig;
  const address = config.address ?? flags.get('node-ip') ?? '0.0.0.0';

  if (config.staticPodPath) {
    const runner = new StaticPodRunner(config.staticPodPath);
    every(500, () => runner.sync());
  }

  if (config.tlsCertFile && config.tlsPrivateKeyFile && config.authentication?.x509?.clientCAFile) {
    const cert = readText(config.tlsCertFile);
    const key = readText(config.tlsPrivateKeyFile);
    // The kubelet reloads clientCAFile when it changes (dynamic CA content); its serving cert file
    // is read at start.
    const clientCa = new WatchedFiles([config.authentication.x509.clientCAFile]);
    const server = startTlsServer({
      host: address,
      port: config.port ?? 10250,
      cert,
      key,
      clientCa: clientCa.get(0),
      handler: (req, res, who) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path === '/healthz') return void res.end('ok');
        if (path === '/metrics') return void res.end(`kubelet_running_pods{node="${NODE}"} 1\n`);
        if (path === '/pods') return sendJson(res, 200, { kind: 'PodList', items: [], requestedBy: who?.user });
        sendJson(res, 404, { kind: 'Status', code: 404 });
      },
    });
    clientCa.watch(([ca]) => reloadTlsServer(server, { cert, key, clientCa: ca! }));
  }

  let client: TlsClient | undefined;
  try {
    client = loadKubeconfig(requireFlag(flags, 'kubeconfig'));
  } catch (err) {
    logEvent('error', 'kubeconfig', errorMessage(err));
  }
  let tick = 0;
  const renewMs = config.nodeLeaseDurationSeconds ? config.nodeLeaseDurationSeconds * 250 : 1000;
  every(renewMs, async () => {
    if (!client) return;
    try {
      // Node status (Ready) every 10 renewals, the Lease at every renewal (the real kubelet: status
      // every nodeStatusReportFrequency, 5 min, or at a change).
      if (tick % 10 === 0) {
        const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: address }], conditions: [{ type: 'Ready', status: 'True' }] } };
        const r = await tlsRequest(`${client.server}/api/v1/nodes/${NODE}`, client, { method: 'PUT', body: JSON.stringify(node) });
        if (r.status >= 300) throw new Error(`node status: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      }
      const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NODE, namespace: 'kube-node-lease' }, spec: { holderIdentity: NODE, leaseDurationSeconds: config.nodeLeaseDurationSeconds ?? 40, renewTime: new Date().toISOString() } };
      const r = await tlsRequest(`${client.server}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`, client, { method: 'PUT', body: JSON.stringify(lease) });
      if (r.status >= 300) throw new Error(`renew node lease: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      tick++;
    } catch (err) {
      logEvent('error', 'apiserver-connection', `kubelet -> ${client.server}: ${errorMessage(err)}`);
      return;
    }
    await syncWorkloads(client, client.server);
  });
}
