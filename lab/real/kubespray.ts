/**
 * `up --layout kubespray-real`: a cluster laid out the way kubespray (kubernetes-sigs/kubespray, its
 * defaults, `etcd_deployment_type: host`) leaves it, on the pinned real binaries (issue 18):
 *
 * - etcd on the host, the unit `etcd` with no flags (roles/etcd/templates/etcd-host.service.j2:
 *   `EnvironmentFile=/etc/etcd.env`), every setting an ETCD_* variable of /etc/etcd.env (etcd.env.j2);
 * - its certificates in /etc/ssl/etcd/ssl, made once for the whole cluster and the same on every node
 *   (roles/etcd/tasks/gen_certs_script.yml makes them on the first etcd host and syncs them): ca.pem and
 *   ca-key.pem, and for every host member-<host>.pem, admin-<host>.pem and node-<host>.pem (+ -key.pem),
 *   each naming every etcd host (make-ssl-etcd.sh's openssl.conf);
 * - the control plane made by `kubeadm init` on the first node and `kubeadm join --control-plane` on the
 *   others (--upload-certs), certificatesDir /etc/kubernetes/ssl, external etcd listing every member with
 *   the first node's node-<host>.pem: a joining node takes the ClusterConfiguration from the cluster, so
 *   every apiserver uses the first node's file (kubespray#8840);
 * - the kubelet from kubespray's unit: its flags in /etc/kubernetes/kubelet.env, its configuration in
 *   /etc/kubernetes/kubelet-config.yaml (kubeadm's /var/lib/kubelet/config.yaml is written but unused),
 *   its serving certificate self-signed (kubespray's default, no serverTLSBootstrap);
 * - /etc/kubernetes/pki a symlink to /etc/kubernetes/ssl (kubespray's kube_cert_compat_dir), so what
 *   kubeadm writes to its default path (`kubeadm join` puts the cluster CA in /etc/kubernetes/pki/ca.crt)
 *   lands in certificatesDir.
 *
 * What this lab leaves out of kubespray: its CNI (the real lab's bridge plugin instead), CoreDNS,
 * kube-proxy, nodelocaldns, and Prometheus (no client stand-in runs here).
 */
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LabPaths } from '../lab-paths.js';
import { caValidity, issueCertificate, leafValidity } from '../openssl.js';
import { pool } from '../exec.js';
import { makeCas } from '../commands/up.js';
import type { RealPlan } from './plan.js';

export const KUBESPRAY_ETCD_SSL = '/etc/ssl/etcd/ssl';
/** kubespray's certificatesDir (kube_cert_dir). */
export const KUBESPRAY_PKI = '/etc/kubernetes/ssl';
/** The units kubespray leaves enabled besides containerd. */
export const KUBESPRAY_UNITS = ['etcd', 'kubelet'] as const;

/** roles/etcd/templates/etcd-host.service.j2 with bin_dir /usr/local/bin. */
export const KUBESPRAY_ETCD_UNIT = `[Unit]
Description=etcd
After=network.target

[Service]
Type=notify
User=root
EnvironmentFile=/etc/etcd.env
ExecStart=/usr/local/bin/etcd
NotifyAccess=all
Restart=always
RestartSec=10s
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
`;

/** roles/kubernetes/node/templates/kubelet.service.j2: the flags come from /etc/kubernetes/kubelet.env. */
export const KUBESPRAY_KUBELET_UNIT = `[Unit]
Description=Kubernetes Kubelet Server
Documentation=https://github.com/GoogleCloudPlatform/kubernetes
After=containerd.service
Wants=containerd.service

[Service]
EnvironmentFile=-/etc/kubernetes/kubelet.env
ExecStart=/usr/local/bin/kubelet \\
\t\t$KUBE_LOGTOSTDERR \\
\t\t$KUBE_LOG_LEVEL \\
\t\t$KUBELET_API_SERVER \\
\t\t$KUBELET_ADDRESS \\
\t\t$KUBELET_PORT \\
\t\t$KUBELET_HOSTNAME \\
\t\t$KUBELET_ARGS \\
\t\t$DOCKER_SOCKET \\
\t\t$KUBELET_NETWORK_PLUGIN \\
\t\t$KUBELET_VOLUME_PLUGIN \\
\t\t$KUBELET_CLOUDPROVIDER
Restart=always
RestartSec=10s

[Install]
WantedBy=multi-user.target
`;

/** What a kubespray node needs written before it starts. */
export interface KubesprayFiles {
  /** kubeadm's external etcd for the ClusterConfiguration (the first node's client pair, every member). */
  externalEtcd: { endpoints: string[]; caFile: string; certFile: string; keyFile: string };
  certificatesDir: string;
}

/**
 * Makes the old CAs (DIR/pki/ca, backdated: they expire in `caDaysLeft` days), the cluster's etcd
 * certificates once, and writes every node's kubespray files into its fs folder: /etc/ssl/etcd/ssl
 * (the same on every node), /etc/etcd.env, the etcd and kubelet units, kubelet.env and
 * kubelet-config.yaml; on the first node the Kubernetes and front-proxy CAs in /etc/kubernetes/ssl,
 * which `kubeadm init` then uses instead of making its own. Returns what kubeadm's configuration needs.
 */
export async function writeKubesprayNodes(paths: LabPaths, plan: RealPlan, caDaysLeft: number): Promise<KubesprayFiles> {
  const cas = await makeCas(paths, caDaysLeft);
  const validity = leafValidity(new Date(), caValidity(new Date(), caDaysLeft));
  const staging = join(paths.pkiDir, 'kubespray-etcd-ssl');
  mkdirSync(staging, { recursive: true });
  // make-ssl-etcd.sh's openssl.conf: every certificate names every etcd host, localhost and 127.0.0.1.
  const sans = { dnsNames: [...plan.nodes.map((n) => n.name), 'localhost'], ipAddresses: [...plan.nodes.map((n) => n.ip), '127.0.0.1'] };
  const leaves = plan.nodes.flatMap((n) => (['member', 'admin', 'node'] as const).map((kind) => ({ kind, host: n.name })));
  await pool(2, leaves.map(({ kind, host }) => () => issueCertificate({
    subject: [['CN', `etcd-${kind}-${host}`]], usage: 'peer', issuer: cas.etcd, validity, ...sans,
    certFile: join(staging, `${kind}-${host}.pem`), keyFile: join(staging, `${kind}-${host}-key.pem`),
  })));
  copyFileSync(cas.etcd.certFile, join(staging, 'ca.pem'));
  copyFileSync(cas.etcd.keyFile, join(staging, 'ca-key.pem'));

  for (const n of plan.nodes) {
    const fs = (p: string): string => paths.node(n.name).fs(p);
    const write = (p: string, content: string, mode = 0o644): void => {
      mkdirSync(join(fs(p), '..'), { recursive: true });
      writeFileSync(fs(p), content);
      chmodSync(fs(p), mode);
    };
    mkdirSync(fs(KUBESPRAY_ETCD_SSL), { recursive: true });
    chmodSync(fs(KUBESPRAY_ETCD_SSL), 0o700);
    for (const f of ['ca.pem', 'ca-key.pem', ...leaves.flatMap(({ kind, host }) => [`${kind}-${host}.pem`, `${kind}-${host}-key.pem`])]) {
      copyFileSync(join(staging, f), fs(`${KUBESPRAY_ETCD_SSL}/${f}`));
      chmodSync(fs(`${KUBESPRAY_ETCD_SSL}/${f}`), f.endsWith('key.pem') ? 0o600 : 0o644);
    }
    write('/etc/etcd.env', etcdEnv(plan, n), 0o640);
    write('/etc/systemd/system/etcd.service', KUBESPRAY_ETCD_UNIT);
    write('/etc/systemd/system/kubelet.service', KUBESPRAY_KUBELET_UNIT);
    write('/etc/kubernetes/kubelet.env', kubeletEnv(n));
    write('/etc/kubernetes/kubelet-config.yaml', kubeletConfig(n));
    // kube_cert_compat_dir: kubespray links kubeadm's default /etc/kubernetes/pki to its certificatesDir
    // (kubespray links it absolute; relative here, so that it also resolves in the node's folder on the machine).
    symlinkSync('ssl', fs('/etc/kubernetes/pki'));
    if (n.index === 1) {
      // kubeadm's "custom CA" path: the CAs it finds in certificatesDir are used, not made.
      const pki = fs(KUBESPRAY_PKI);
      mkdirSync(pki, { recursive: true });
      for (const [file, kp] of [['ca', cas.kubernetes], ['front-proxy-ca', cas.frontProxy]] as const) {
        copyFileSync(kp.certFile, join(pki, `${file}.crt`));
        copyFileSync(kp.keyFile, join(pki, `${file}.key`));
        chmodSync(join(pki, `${file}.key`), 0o600);
      }
    }
  }
  const first = plan.nodes[0]!.name;
  return {
    certificatesDir: KUBESPRAY_PKI,
    externalEtcd: {
      endpoints: plan.nodes.map((n) => `https://${n.ip}:2379`),
      caFile: `${KUBESPRAY_ETCD_SSL}/ca.pem`,
      certFile: `${KUBESPRAY_ETCD_SSL}/node-${first}.pem`,
      keyFile: `${KUBESPRAY_ETCD_SSL}/node-${first}-key.pem`,
    },
  };
}

/** roles/etcd/templates/etcd.env.j2 with kubespray's defaults (etcd_election_timeout 5000, heartbeat 250, ...). */
function etcdEnv(plan: RealPlan, n: RealPlan['nodes'][number]): string {
  const ssl = KUBESPRAY_ETCD_SSL;
  return `# Environment file for etcd v3
ETCD_DATA_DIR=/var/lib/etcd
ETCD_ADVERTISE_CLIENT_URLS=https://${n.ip}:2379
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${n.ip}:2380
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_METRICS=basic
ETCD_LISTEN_CLIENT_URLS=https://${n.ip}:2379,https://127.0.0.1:2379
ETCD_ELECTION_TIMEOUT=5000
ETCD_HEARTBEAT_INTERVAL=250
ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd
ETCD_LISTEN_PEER_URLS=https://${n.ip}:2380
ETCD_NAME=${n.name}
ETCD_INITIAL_CLUSTER=${plan.nodes.map((m) => `${m.name}=https://${m.ip}:2380`).join(',')}
ETCD_AUTO_COMPACTION_RETENTION=8
ETCD_SNAPSHOT_COUNT=10000

# TLS settings
ETCD_TRUSTED_CA_FILE=${ssl}/ca.pem
ETCD_CERT_FILE=${ssl}/member-${n.name}.pem
ETCD_KEY_FILE=${ssl}/member-${n.name}-key.pem
ETCD_CLIENT_CERT_AUTH=true

ETCD_PEER_TRUSTED_CA_FILE=${ssl}/ca.pem
ETCD_PEER_CERT_FILE=${ssl}/member-${n.name}.pem
ETCD_PEER_KEY_FILE=${ssl}/member-${n.name}-key.pem
ETCD_PEER_CLIENT_CERT_AUTH=True
`;
}

/**
 * roles/kubernetes/node/templates/kubelet.env.v1beta1.j2, on one line each (the lab's unit reader
 * reads no continued lines in environment files). No KUBE_LOGTOSTDERR: the kubelet lost klog's
 * --logtostderr in 1.26, and kubespray dropped it with it.
 */
function kubeletEnv(n: RealPlan['nodes'][number]): string {
  return [
    'KUBE_LOG_LEVEL="--v=2"',
    `KUBELET_ADDRESS="--node-ip=${n.ip}"`,
    `KUBELET_HOSTNAME="--hostname-override=${n.name}"`,
    'KUBELET_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --config=/etc/kubernetes/kubelet-config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf"',
    'KUBELET_CLOUDPROVIDER=""',
    '',
  ].join('\n');
}

/**
 * roles/kubernetes/node/templates/kubelet-config.v1beta1.yaml.j2 (its defaults), with the real lab's
 * settings for this machine (docs/lab.md): cgroupfs, cgroup v1, swap, the node's own cgroup root and
 * containerd socket. No tlsCertFile: the kubelet signs its own serving certificate.
 */
function kubeletConfig(n: RealPlan['nodes'][number]): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    nodeStatusUpdateFrequency: '10s',
    failSwapOn: false,
    failCgroupV1: false,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: `${KUBESPRAY_PKI}/ca.crt` } },
    authorization: { mode: 'Webhook' },
    staticPodPath: '/etc/kubernetes/manifests',
    cgroupDriver: 'cgroupfs',
    cgroupRoot: n.cgroupRoot,
    containerRuntimeEndpoint: 'unix:///var/run/containerd/containerd.sock',
    maxPods: 110,
    podPidsLimit: -1,
    address: n.ip,
    readOnlyPort: 0,
    healthzPort: 10248,
    healthzBindAddress: '127.0.0.1',
    clusterDomain: 'cluster.local',
    clusterDNS: [],
    rotateCertificates: true,
    resolvConf: '/etc/resolv.conf',
  });
}
