/**
 * The hand-installed ("binary") layout of the field notes: etcd's files in /etc/etcd/ssl
 * (ca-etcd.pem, cert-etcd.pem, cert-etcd-key.pem, one certificate for serving, peers and clients),
 * Kubernetes files in /etc/kubernetes/ssl, systemd units whose ExecStart lines carry the flags,
 * kubeconfigs that point at files. No front-proxy CA (often absent in such clusters).
 */
import { stringify } from 'yaml';
import { pool, runOk } from '../exec.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, writeNodeFile, writePrometheus, type LeafSpec } from './node-pki.js';
import { renderKubeconfig, renderUnit } from './render.js';
import type { LabLayout, LayoutContext } from './types.js';

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

export const binaryLayout: LabLayout = {
  name: 'binary',
  startUnits: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'],
  apiserverConfig: { kind: 'unit', path: '/etc/systemd/system/kube-apiserver.service' },
  adminKubeconfig: '/etc/kubernetes/admin.kubeconfig',
  kubeletKubeconfig: '/etc/kubernetes/kubelet.kubeconfig',

  vars() {
    return {
      layout: 'binary',
      k8s_ca_cert: KCA,
      k8s_ca_key: `${SSL}/ca-kubernetes-key.pem`,
      etcd_ca_cert: `${ETCD_SSL}/ca-etcd.pem`,
      etcd_ca_key: `${ETCD_SSL}/ca-etcd-key.pem`,
      pki_dir: SSL,
      etcd_pki_dir: ETCD_SSL,
      units_dir: '/etc/systemd/system',
      etcd_data_dir: '/var/lib/etcd',
      etcd_client_cert: `${ETCD_SSL}/cert-etcd.pem`,
      etcd_client_key: `${ETCD_SSL}/cert-etcd-key.pem`,
      kubelet_config: '/etc/kubernetes/kubelet-config.yaml',
      kubeconfigs: ['admin', 'kube-controller-manager', 'kube-scheduler', 'kubelet'].map((k) => `/etc/kubernetes/${k}.kubeconfig`),
      admin_kubeconfig: '/etc/kubernetes/admin.kubeconfig',
      restart_method: 'systemd',
      prometheus_host: 'cp1',
      prometheus_config: '/etc/prometheus/prometheus.yml',
      prometheus_ssl_dir: '/etc/prometheus/ssl',
    };
  },

  async writeNode(ctx: LayoutContext): Promise<void> {
    const { node, cas, nodes, real } = ctx;
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
        ipAddresses: [node.ip, '127.0.0.1', ...(real ? [real.lbIp, firstServiceIp(real.serviceSubnet)] : [])] },
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
    if (real) {
      await copyIntoNode(ctx, real.serviceAccount.key, `${sa}.key`, 0o600);
      await copyIntoNode(ctx, real.serviceAccount.pub, `${sa}.pub`, 0o644);
    } else {
      await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', ctx.nodePaths.fs(`${sa}.key`)]);
      await runOk('openssl', ['pkey', '-in', ctx.nodePaths.fs(`${sa}.key`), '-pubout', '-out', ctx.nodePaths.fs(`${sa}.pub`)]);
    }

    await writeNodeFile(ctx, '/etc/systemd/system/etcd.service', renderUnit('Etcd Server', [
      `${real?.etcdBinDir ?? '/usr/bin'}/etcd`,
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
      ...(real ? [`--service-cluster-ip-range=${real.serviceSubnet}`] : []),
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
      ...(real ? ['--allocate-node-cidrs=true', `--cluster-cidr=${real.podSubnet}`, '--node-cidr-mask-size=24', `--service-cluster-ip-range=${real.serviceSubnet}`] : []),
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
      cgroupDriver: real ? 'cgroupfs' : 'systemd',
      tlsCertFile: `${SSL}/kubelet-server.pem`,
      tlsPrivateKeyFile: `${SSL}/kubelet-server-key.pem`,
      // the real kubelet on this machine: cgroup v1, swap, its own cgroup root, the node's containerd (docs/lab.md)
      ...(real ? { cgroupRoot: real.cgroupRoot, failCgroupV1: false, failSwapOn: false, containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock' } : {}),
    }));
    await writeNodeFile(ctx, '/etc/systemd/system/kubelet.service', renderUnit('Kubernetes Kubelet', [
      '/usr/local/bin/kubelet', '--config=/etc/kubernetes/kubelet-config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.kubeconfig', `--node-ip=${node.ip}`,
    ], { after: 'kube-apiserver.service' }));
    // Prometheus is an emulated client (lab/components): the real lab has none
    if (node.index === 1 && !real) {
      await writePrometheus(ctx, cas.etcd, cas.kubernetes);
      await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', [
        '/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml',
      ]));
    }
  },
};
