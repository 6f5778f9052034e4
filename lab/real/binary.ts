/**
 * The hand-installed ("binary") layout of the field notes, for `up --layout binary` on the real
 * binaries (lab/real/up.ts): etcd's files in /etc/etcd/ssl (ca-etcd.pem, cert-etcd.pem,
 * cert-etcd-key.pem, one certificate for serving, peers and clients), Kubernetes files in
 * /etc/kubernetes/ssl, systemd units whose ExecStart lines carry the flags, kubeconfigs that point at
 * files. No front-proxy CA (often absent in such clusters). The same files once made an emulated lab
 * too (`binary-emulated`, with emulated components), retired for this one (issue 18).
 */
import { stringify } from 'yaml';
import { pool } from '../exec.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, writeNodeFile, type LeafSpec } from '../layouts/node-pki.js';
import { renderKubeconfig, renderUnit } from '../layouts/render.js';
import type { LayoutContext } from '../layouts/types.js';

/**
 * What the real components need beyond a layout's node context: the cluster's ranges, the load
 * balancer in front, the node's cgroup, and one service-account key pair for every apiserver (a token
 * minted by any controller-manager must verify on all of them).
 */
export interface BinaryNodeSettings {
  serviceSubnet: string;
  podSubnet: string;
  /** The control-plane endpoint's address: a SAN of every apiserver certificate. */
  lbIp: string;
  cgroupRoot: string;
  /** Machine paths of the shared service-account key pair (PEM; private key 0600). */
  serviceAccount: { key: string; pub: string };
}

const ETCD_SSL = '/etc/etcd/ssl';
const SSL = '/etc/kubernetes/ssl';
const KCA = `${SSL}/ca-kubernetes.pem`;

function kubeconfigFile(server: string, user: string, cert: string, key: string): string {
  return renderKubeconfig({ clusterName: 'kubernetes', server, userName: user, ca: { file: KCA }, client: { certFile: cert, keyFile: key } });
}

/** The first address of a service range (the kubernetes service's), e.g. 10.231.96.0/20 -> 10.231.96.1. */
function firstServiceIp(cidr: string): string {
  const [a, b, c, d] = cidr.split('/')[0]!.split('.').map(Number);
  return `${a}.${b}.${c}.${d! + 1}`;
}

/**
 * Writes one node's PKI (issued by the lab's old CAs), kubeconfigs, units and kubelet configuration
 * into its folder (`ctx.nodePaths`), for the pinned binaries in the node's /usr/local/bin. Rejects
 * when openssl or a file write fails.
 */
export async function writeBinaryNode(ctx: LayoutContext, real: BinaryNodeSettings): Promise<void> {
  const { node, cas, nodes } = ctx;
  const k = cas.kubernetes;
  const server = `https://${node.ip}:6443`;
  await copyIntoNode(ctx, cas.etcd.certFile, `${ETCD_SSL}/ca-etcd.pem`, 0o644);
  await copyIntoNode(ctx, cas.etcd.keyFile, `${ETCD_SSL}/ca-etcd-key.pem`, 0o600);
  await copyIntoNode(ctx, k.certFile, KCA, 0o644);
  await copyIntoNode(ctx, k.keyFile, `${SSL}/ca-kubernetes-key.pem`, 0o600);
  const sans = nodeSans(node);
  const leaves: LeafSpec[] = [
    { cert: `${ETCD_SSL}/cert-etcd.pem`, key: `${ETCD_SSL}/cert-etcd-key.pem`, subject: [['O', 'etcd'], ['CN', 'etcd']], usage: 'peer', issuer: cas.etcd,
      dnsNames: [...nodes.map((n) => n.name), 'localhost'], ipAddresses: [...nodes.map((n) => n.ip), '127.0.0.1'] },
    { cert: `${SSL}/kube-apiserver.pem`, key: `${SSL}/kube-apiserver-key.pem`, subject: [['O', 'k8s'], ['CN', 'kube-apiserver']], usage: 'peer', issuer: k,
      dnsNames: [node.name, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      // behind a load balancer, its address too (and the kubernetes service's first IP, as the apiserver serves it)
      ipAddresses: [node.ip, '127.0.0.1', real.lbIp, firstServiceIp(real.serviceSubnet)] },
    { cert: `${SSL}/kube-controller-manager.pem`, key: `${SSL}/kube-controller-manager-key.pem`, subject: [['O', 'system:kube-controller-manager'], ['CN', 'system:kube-controller-manager']], usage: 'peer', issuer: k, ...sans },
    { cert: `${SSL}/kube-scheduler.pem`, key: `${SSL}/kube-scheduler-key.pem`, subject: [['O', 'system:kube-scheduler'], ['CN', 'system:kube-scheduler']], usage: 'peer', issuer: k, ...sans },
    { cert: `${SSL}/admin.pem`, key: `${SSL}/admin-key.pem`, subject: [['O', 'system:masters'], ['CN', 'admin']], usage: 'client', issuer: k },
    { cert: `${SSL}/kubelet.pem`, key: `${SSL}/kubelet-key.pem`, subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'client', issuer: k },
    { cert: `${SSL}/kubelet-server.pem`, key: `${SSL}/kubelet-server-key.pem`, subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'server', issuer: k, dnsNames: [node.name], ipAddresses: [node.ip] },
  ];
  await pool(2, leaves.map((l) => () => issueLeaf(ctx, l)));
  await writeNodeFile(ctx, '/etc/kubernetes/admin.kubeconfig', kubeconfigFile(server, 'admin', `${SSL}/admin.pem`, `${SSL}/admin-key.pem`), 0o600);
  await writeNodeFile(ctx, '/etc/kubernetes/kube-controller-manager.kubeconfig', kubeconfigFile(server, 'system:kube-controller-manager', `${SSL}/kube-controller-manager.pem`, `${SSL}/kube-controller-manager-key.pem`), 0o600);
  await writeNodeFile(ctx, '/etc/kubernetes/kube-scheduler.kubeconfig', kubeconfigFile(server, 'system:kube-scheduler', `${SSL}/kube-scheduler.pem`, `${SSL}/kube-scheduler-key.pem`), 0o600);
  await writeNodeFile(ctx, '/etc/kubernetes/kubelet.kubeconfig', kubeconfigFile(server, `system:node:${node.name}`, `${SSL}/kubelet.pem`, `${SSL}/kubelet-key.pem`), 0o600);
  const sa = `${SSL}/sa`;
  await copyIntoNode(ctx, real.serviceAccount.key, `${sa}.key`, 0o600);
  await copyIntoNode(ctx, real.serviceAccount.pub, `${sa}.pub`, 0o644);

  await writeNodeFile(ctx, '/etc/systemd/system/etcd.service', renderUnit('Etcd Server', [
    '/usr/local/bin/etcd',
    `--name=${node.name}`,
    `--cert-file=${ETCD_SSL}/cert-etcd.pem`,
    `--key-file=${ETCD_SSL}/cert-etcd-key.pem`,
    `--peer-cert-file=${ETCD_SSL}/cert-etcd.pem`,
    `--peer-key-file=${ETCD_SSL}/cert-etcd-key.pem`,
    `--trusted-ca-file=${ETCD_SSL}/ca-etcd.pem`,
    `--peer-trusted-ca-file=${ETCD_SSL}/ca-etcd.pem`,
    '--client-cert-auth=true',
    '--peer-client-cert-auth=true',
    `--initial-advertise-peer-urls=https://${node.ip}:2380`,
    `--listen-peer-urls=https://${node.ip}:2380`,
    `--listen-client-urls=https://${node.ip}:2379`,
    `--advertise-client-urls=https://${node.ip}:2379`,
    '--initial-cluster-token=etcd-cluster-0',
    `--initial-cluster=${etcdInitialCluster(nodes)}`,
    '--initial-cluster-state=new',
    '--data-dir=/var/lib/etcd',
    '--heartbeat-interval=250',
    '--election-timeout=2500',
  ], { type: 'notify', after: 'network.target' }));
  await writeNodeFile(ctx, '/etc/systemd/system/kube-apiserver.service', renderUnit('Kubernetes API Server', [
    '/usr/local/bin/kube-apiserver',
    `--advertise-address=${node.ip}`,
    `--bind-address=${node.ip}`,
    '--secure-port=6443',
    '--authorization-mode=Node,RBAC',
    `--client-ca-file=${KCA}`,
    `--tls-cert-file=${SSL}/kube-apiserver.pem`,
    `--tls-private-key-file=${SSL}/kube-apiserver-key.pem`,
    `--kubelet-client-certificate=${SSL}/kube-apiserver.pem`,
    `--kubelet-client-key=${SSL}/kube-apiserver-key.pem`,
    `--kubelet-certificate-authority=${KCA}`,
    `--service-account-key-file=${sa}.pub`,
    `--service-account-signing-key-file=${sa}.key`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--etcd-cafile=${ETCD_SSL}/ca-etcd.pem`,
    `--etcd-certfile=${ETCD_SSL}/cert-etcd.pem`,
    `--etcd-keyfile=${ETCD_SSL}/cert-etcd-key.pem`,
    `--etcd-servers=${nodes.map((n) => `https://${n.ip}:2379`).join(',')}`,
    // the lab's service range: the default, 10.0.0.0/24, lies outside the lab's unreachable-routed /16
    `--service-cluster-ip-range=${real.serviceSubnet}`,
  ], { after: 'etcd.service' }));
  await writeNodeFile(ctx, '/etc/systemd/system/kube-controller-manager.service', renderUnit('Kubernetes Controller Manager', [
    '/usr/local/bin/kube-controller-manager',
    `--bind-address=${node.ip}`,
    '--kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig',
    '--authentication-kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig',
    '--authorization-kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig',
    `--client-ca-file=${KCA}`,
    `--cluster-signing-cert-file=${KCA}`,
    `--cluster-signing-key-file=${SSL}/ca-kubernetes-key.pem`,
    `--root-ca-file=${KCA}`,
    `--service-account-private-key-file=${sa}.key`,
    '--leader-elect=true',
    '--use-service-account-credentials=true',
    // pod ranges for the nodes (the lab's CNI config takes each node's), as the hard way sets them
    '--allocate-node-cidrs=true', `--cluster-cidr=${real.podSubnet}`, '--node-cidr-mask-size=24', `--service-cluster-ip-range=${real.serviceSubnet}`,
  ], { after: 'kube-apiserver.service' }));
  await writeNodeFile(ctx, '/etc/systemd/system/kube-scheduler.service', renderUnit('Kubernetes Scheduler', [
    '/usr/local/bin/kube-scheduler',
    `--bind-address=${node.ip}`,
    '--kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig',
    '--authentication-kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig',
    '--authorization-kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig',
    '--leader-elect=true',
  ], { after: 'kube-apiserver.service' }));
  await writeNodeFile(ctx, '/etc/kubernetes/kubelet-config.yaml', stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: node.ip,
    port: 10250,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: KCA } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    tlsCertFile: `${SSL}/kubelet-server.pem`,
    tlsPrivateKeyFile: `${SSL}/kubelet-server-key.pem`,
    // the real kubelet on this machine: cgroup v1, swap, its own cgroup root, the node's containerd (docs/lab.md)
    cgroupRoot: real.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
  }));
  await writeNodeFile(ctx, '/etc/systemd/system/kubelet.service', renderUnit('Kubernetes Kubelet', [
    '/usr/local/bin/kubelet', '--config=/etc/kubernetes/kubelet-config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.kubeconfig', `--node-ip=${node.ip}`,
  ], { after: 'kube-apiserver.service' }));
}
