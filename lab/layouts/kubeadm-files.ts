/**
 * A test fixture, file-only: the files kubeadm leaves on a control-plane node, rendered into a
 * node's folder with the openssl CLI. Nothing is started (the lab's emulated kubeadm cluster is
 * retired, issue 18; the genuine one is lab/real/). test/discover/discover-layouts.test.ts runs
 * `kcarun discover` over a real sshd on them, test/commands/stock-dry-run.test.ts dry-runs every stock
 * playbook against them. What they hold: /etc/kubernetes/pki with every CA and leaf kubeadm makes, static pod manifests
 * with kubeadm's flags, kubeconfigs with embedded data, /var/lib/kubelet/config.yaml. kubelet.conf is
 * modern kubeadm's (>= 1.17): it names /var/lib/kubelet/pki/kubelet-client-current.pem, a symlink to
 * kubelet-client-<ts>.pem holding the client certificate and its EC key.
 * They keep the emulated lab's deviations (docs/lab.md: no 127.0.0.1 listeners, explicit
 * --bind-address, kubelet serving certificates signed by the cluster CA), which the tests rely on.
 */
import { stringify } from 'yaml';
import { pool } from '../exec.js';
import { kubeadmLeaves, writeControlPlaneManifests, writeEmbeddedKubeconfigs, writeKubeadmCas, writeKubeletKubeconfig } from './kubeadm-control-plane.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, writeNodeFile, writePrometheus, type LeafSpec } from './node-pki.js';
import { renderStaticPod, renderUnit } from './render.js';
import type { LayoutContext, LayoutFiles } from './types.js';

const PKI = '/etc/kubernetes/pki';

export const kubeadmNodeFiles: LayoutFiles = {
  vars() {
    return {
      layout: 'kubeadm',
      k8s_ca_cert: `${PKI}/ca.crt`,
      k8s_ca_key: `${PKI}/ca.key`,
      etcd_ca_cert: `${PKI}/etcd/ca.crt`,
      etcd_ca_key: `${PKI}/etcd/ca.key`,
      front_proxy_ca_cert: `${PKI}/front-proxy-ca.crt`,
      front_proxy_ca_key: `${PKI}/front-proxy-ca.key`,
      pki_dir: PKI,
      manifests_dir: '/etc/kubernetes/manifests',
      etcd_data_dir: '/var/lib/etcd',
      etcd_client_cert: `${PKI}/apiserver-etcd-client.crt`,
      etcd_client_key: `${PKI}/apiserver-etcd-client.key`,
      etcd_healthcheck_cert: `${PKI}/etcd/healthcheck-client.crt`,
      etcd_healthcheck_key: `${PKI}/etcd/healthcheck-client.key`,
      kubelet_config: '/var/lib/kubelet/config.yaml',
      kubelet_pki_dir: '/var/lib/kubelet/pki',
      kubeconfigs: ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'].map((k) => `/etc/kubernetes/${k}`),
      admin_kubeconfig: '/etc/kubernetes/admin.conf',
      restart_method: 'static-pod',
      prometheus_host: 'cp1',
      prometheus_config: '/etc/prometheus/prometheus.yml',
      prometheus_ssl_dir: '/etc/prometheus/ssl',
    };
  },

  async writeNode(ctx: LayoutContext): Promise<void> {
    const { node, cas, nodes } = ctx;
    const sans = nodeSans(node);
    await writeKubeadmCas(ctx, PKI);
    await copyIntoNode(ctx, cas.etcd.certFile, `${PKI}/etcd/ca.crt`, 0o644);
    await copyIntoNode(ctx, cas.etcd.keyFile, `${PKI}/etcd/ca.key`, 0o600);

    const leaves: LeafSpec[] = [
      ...kubeadmLeaves(ctx, PKI),
      { cert: `${PKI}/apiserver-etcd-client.crt`, key: `${PKI}/apiserver-etcd-client.key`, subject: [['CN', 'kube-apiserver-etcd-client']], usage: 'client', issuer: cas.etcd },
      { cert: `${PKI}/etcd/server.crt`, key: `${PKI}/etcd/server.key`, subject: [['CN', node.name]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/etcd/peer.crt`, key: `${PKI}/etcd/peer.key`, subject: [['CN', node.name]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/etcd/healthcheck-client.crt`, key: `${PKI}/etcd/healthcheck-client.key`, subject: [['CN', 'kube-etcd-healthcheck-client']], usage: 'client', issuer: cas.etcd },
      { cert: '/var/lib/kubelet/pki/kubelet.crt', key: '/var/lib/kubelet/pki/kubelet.key', subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'server', issuer: cas.kubernetes,
        dnsNames: [node.name], ipAddresses: [node.ip] },
    ];
    await pool(2, leaves.map((l) => () => issueLeaf(ctx, l)));
    await writeEmbeddedKubeconfigs(ctx, ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf']);
    await writeKubeletKubeconfig(ctx);

    await writeNodeFile(ctx, '/etc/kubernetes/manifests/etcd.yaml', renderStaticPod('etcd', [
      'etcd',
      `--advertise-client-urls=https://${node.ip}:2379`,
      `--cert-file=${PKI}/etcd/server.crt`,
      '--client-cert-auth=true',
      '--data-dir=/var/lib/etcd',
      '--election-timeout=2500',
      '--heartbeat-interval=250',
      `--initial-advertise-peer-urls=https://${node.ip}:2380`,
      `--initial-cluster=${etcdInitialCluster(nodes)}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=kcarun-lab',
      `--key-file=${PKI}/etcd/server.key`,
      `--listen-client-urls=https://${node.ip}:2379`,
      `--listen-metrics-urls=http://${node.ip}:2381`,
      `--listen-peer-urls=https://${node.ip}:2380`,
      `--name=${node.name}`,
      `--peer-cert-file=${PKI}/etcd/peer.crt`,
      '--peer-client-cert-auth=true',
      `--peer-key-file=${PKI}/etcd/peer.key`,
      `--peer-trusted-ca-file=${PKI}/etcd/ca.crt`,
      '--snapshot-count=10000',
      `--trusted-ca-file=${PKI}/etcd/ca.crt`,
    ], ['/var/lib/etcd', `${PKI}/etcd`]), 0o600);
    await writeControlPlaneManifests(ctx, PKI, {
      servers: `https://${node.ip}:2379`, cafile: `${PKI}/etcd/ca.crt`, certfile: `${PKI}/apiserver-etcd-client.crt`, keyfile: `${PKI}/apiserver-etcd-client.key`,
    }, []);

    await writeKubelet(ctx);
    if (node.index === 1) {
      await writePrometheus(ctx, cas.etcd, cas.kubernetes);
      await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', [
        '/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml',
      ]));
    }
  },
};

/** The kubelet's config (as kubeadm writes it, with the lab's cluster-CA-signed serving pair) and unit. */
async function writeKubelet(ctx: LayoutContext): Promise<void> {
  const { node } = ctx;
  await writeNodeFile(ctx, '/var/lib/kubelet/config.yaml', stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: node.ip,
    port: 10250,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: `${PKI}/ca.crt` } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'systemd',
    rotateCertificates: true,
    staticPodPath: '/etc/kubernetes/manifests',
    tlsCertFile: '/var/lib/kubelet/pki/kubelet.crt',
    tlsPrivateKeyFile: '/var/lib/kubelet/pki/kubelet.key',
  }));
  await writeNodeFile(ctx, '/etc/systemd/system/kubelet.service', renderUnit('kubelet: The Kubernetes Node Agent', [
    '/usr/local/bin/kubelet', '--config=/var/lib/kubelet/config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf', `--node-ip=${node.ip}`,
  ]));
}
