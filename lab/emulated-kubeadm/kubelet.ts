/**
 * Emulated kubelet: reads --config (KubeletConfiguration) and --kubeconfig like the real one; serves
 * :10250 with tlsCertFile/tlsPrivateKeyFile, trusting authentication.x509.clientCAFile; sends its node
 * Lease and status through the kubeconfig as the real kubelet does (Heartbeats below: the Lease every
 * second at the lab's fast cadence, or a quarter of nodeLeaseDurationSeconds: worker nodes use 40 s,
 * the real default, so a hundred of them renew 10 times a second in all); runs the static pods of
 * staticPodPath.
 */
import { parse } from 'yaml';
import { NODE, every, errorMessage, loadKubeconfig, logEvent, parseFlags, readText, requireFlag, setComponent, tlsRequest, type TlsClient } from '../shared/common.js';
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
  if (!client) return;
  const heartbeats = new Heartbeats(client, address, config.nodeLeaseDurationSeconds);
  heartbeats.start();
  // Pods are synced apart from the heartbeats (the real kubelet's pod workers do not wait on its
  // lease controller): a slow workload sync never delays a Lease renewal.
  const api = client;
  every(heartbeats.renewMs, () => syncWorkloads(api, api.server));
}

/** The real kubelet's nodeStatusUpdateFrequency and nodeStatusReportFrequency defaults (pkg/kubelet/apis/config/v1beta1/defaults.go). */
const NODE_STATUS_UPDATE_MS = 10_000;
const NODE_STATUS_REPORT_MS = 5 * 60_000;
/** backoffEnsureLease's first and largest wait (k8s.io/component-helpers apimachinery/lease/controller.go); registration's are alike. */
const LEASE_BACKOFF_FIRST_MS = 200;
const LEASE_BACKOFF_MAX_MS = 7_000;
/** The wait after a failure that followed a wait of `previousMs` (0: none yet): 200 ms, doubling, at most 7 s. */
const nextBackoff = (previousMs: number): number => Math.min(previousMs ? previousMs * 2 : LEASE_BACKOFF_FIRST_MS, LEASE_BACKOFF_MAX_MS);

/**
 * The node's heartbeats, with the real kubelet's timing, so the node lifecycle controller and kcarun's
 * gates see what they would see on a real node under the same load:
 * - the kube-node-lease Lease every quarter of nodeLeaseDurationSeconds (nodeLeaseRenewIntervalFraction
 *   0.25; the lab's fast cadence, 1 s, when the config sets none) and, after a failed renewal, again
 *   after 200 ms, 400 ms, ... at most 7 s (backoffEnsureLease), not a whole interval later;
 * - the node status every nodeStatusUpdateFrequency (10 s), sent when the API's node differs from it
 *   (a Ready=Unknown set by the node lifecycle controller is corrected within 10 s) or
 *   nodeStatusReportFrequency (5 min) passed (pkg/kubelet/kubelet_node_status.go, tryUpdateNodeStatus);
 * - every heartbeat request with the heartbeat client's timeout: nodeStatusUpdateFrequency capped at
 *   the lease duration (cmd/kubelet/app/server.go).
 */
class Heartbeats {
  readonly renewMs: number;
  private readonly leaseSeconds: number;
  private readonly timeoutMs: number;
  private lastStatusReport = 0;

  constructor(
    private readonly client: TlsClient,
    private readonly address: string,
    nodeLeaseDurationSeconds: number | undefined,
  ) {
    this.renewMs = nodeLeaseDurationSeconds ? nodeLeaseDurationSeconds * 250 : 1000;
    this.leaseSeconds = nodeLeaseDurationSeconds ?? 40;
    this.timeoutMs = Math.min(NODE_STATUS_UPDATE_MS, this.leaseSeconds * 1000);
  }

  start(): void {
    // The node registers first, retried with backoff until the apiserver answers (on a control-plane
    // node the apiserver is a static pod this kubelet itself starts); its status sync starts after
    // (kubelet_node_status.go, registerWithAPIServer: 100 ms doubling to 7 s).
    let registerBackoffMs = 0;
    const register = async (): Promise<void> => {
      try {
        await this.putNodeStatus();
        every(NODE_STATUS_UPDATE_MS, () => this.syncNodeStatus());
      } catch (err) {
        registerBackoffMs = nextBackoff(registerBackoffMs);
        logEvent('error', 'apiserver-connection', `kubelet -> ${this.client.server}: register node: ${errorMessage(err)} (retried in ${registerBackoffMs} ms)`);
        setTimeout(() => void register(), registerBackoffMs);
      }
    };
    void register();
    let backoffMs = 0;
    const renew = async (): Promise<void> => {
      try {
        await this.renewLease();
        backoffMs = 0;
      } catch (err) {
        backoffMs = nextBackoff(backoffMs);
        logEvent('error', 'apiserver-connection', `kubelet -> ${this.client.server}: ${errorMessage(err)} (lease retried in ${backoffMs} ms)`);
      }
      setTimeout(() => void renew(), backoffMs || this.renewMs);
    };
    void renew();
  }

  private async renewLease(): Promise<void> {
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NODE, namespace: 'kube-node-lease' }, spec: { holderIdentity: NODE, leaseDurationSeconds: this.leaseSeconds, renewTime: new Date().toISOString() } };
    const r = await tlsRequest(`${this.client.server}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`, this.client, { method: 'PUT', body: JSON.stringify(lease), timeoutMs: this.timeoutMs });
    if (r.status >= 300) throw new Error(`renew node lease: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  }

  /** The status loop: a GET of the node, and a PUT when it is not Ready in the API or the report is due. */
  private async syncNodeStatus(): Promise<void> {
    try {
      if (Date.now() - this.lastStatusReport < NODE_STATUS_REPORT_MS) {
        const got = await tlsRequest(`${this.client.server}/api/v1/nodes/${NODE}`, this.client, { timeoutMs: this.timeoutMs });
        if (got.status === 200) {
          const conditions = (JSON.parse(got.body) as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions;
          if (conditions?.find((c) => c.type === 'Ready')?.status === 'True') return;
        } else if (got.status !== 404) throw new Error(`node status: GET HTTP ${got.status} ${got.body.slice(0, 200)}`);
      }
      await this.putNodeStatus();
    } catch (err) {
      logEvent('error', 'apiserver-connection', `kubelet -> ${this.client.server}: ${errorMessage(err)}`);
    }
  }

  private async putNodeStatus(): Promise<void> {
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: this.address }], conditions: [{ type: 'Ready', status: 'True' }] } };
    const r = await tlsRequest(`${this.client.server}/api/v1/nodes/${NODE}`, this.client, { method: 'PUT', body: JSON.stringify(node), timeoutMs: this.timeoutMs });
    if (r.status >= 300) throw new Error(`node status: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    this.lastStatusReport = Date.now();
  }
}
