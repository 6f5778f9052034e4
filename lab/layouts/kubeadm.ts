/**
 * The kubeadm layout: /etc/kubernetes/pki with every CA and leaf kubeadm makes, static pod manifests
 * with kubeadm's flags, kubeconfigs with embedded data, /var/lib/kubelet/config.yaml. kubelet.conf is
 * modern kubeadm's (>= 1.17): it names /var/lib/kubelet/pki/kubelet-client-current.pem, a symlink to
 * kubelet-client-<ts>.pem holding the client certificate and its EC key.
 * Deviations forced by sharing one network namespace are listed in docs/lab.md (no 127.0.0.1
 * listeners, explicit --bind-address, kubelet serving certs signed by the cluster CA).
 */
import { readFile, rm } from 'node:fs/promises';
import { stringify } from 'yaml';
import { pool, runOk } from '../exec.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, readLeaf, writeKubeletClientPair, writeNodeFile, writePrometheus, type LeafSpec } from './node-pki.js';
import { renderKubeconfig, renderStaticPod, renderUnit } from './render.js';
import type { LabLayout, LayoutContext } from './types.js';

const PKI = '/etc/kubernetes/pki';

export const kubeadmLayout: LabLayout = {
  name: 'kubeadm',
  startUnits: ['kubelet'],
  apiserverEtcdClient: { ca: `${PKI}/etcd/ca.crt`, cert: `${PKI}/apiserver-etcd-client.crt`, key: `${PKI}/apiserver-etcd-client.key` },
  apiserverConfig: { kind: 'manifest', path: '/etc/kubernetes/manifests/kube-apiserver.yaml' },
  adminKubeconfig: '/etc/kubernetes/admin.conf',
  kubeletKubeconfig: '/etc/kubernetes/kubelet.conf',
  frontProxyClient: { ca: `${PKI}/ca.crt`, cert: `${PKI}/front-proxy-client.crt`, key: `${PKI}/front-proxy-client.key`, requestheaderCa: `${PKI}/front-proxy-ca.crt` },

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
    await copyIntoNode(ctx, cas.kubernetes.certFile, `${PKI}/ca.crt`, 0o644);
    await copyIntoNode(ctx, cas.kubernetes.keyFile, `${PKI}/ca.key`, 0o600);
    await copyIntoNode(ctx, cas.etcd.certFile, `${PKI}/etcd/ca.crt`, 0o644);
    await copyIntoNode(ctx, cas.etcd.keyFile, `${PKI}/etcd/ca.key`, 0o600);
    await copyIntoNode(ctx, cas.frontProxy.certFile, `${PKI}/front-proxy-ca.crt`, 0o644);
    await copyIntoNode(ctx, cas.frontProxy.keyFile, `${PKI}/front-proxy-ca.key`, 0o600);
    await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', ctx.nodePaths.fs(`${PKI}/sa.key`)]);
    await runOk('openssl', ['pkey', '-in', ctx.nodePaths.fs(`${PKI}/sa.key`), '-pubout', '-out', ctx.nodePaths.fs(`${PKI}/sa.pub`)]);

    const k = cas.kubernetes;
    const kubeconfigUsers: Record<string, LeafSpec> = {
      'admin.conf': { cert: '', key: '', subject: [['O', 'kubeadm:cluster-admins'], ['CN', 'kubernetes-admin']], usage: 'client', issuer: k },
      'super-admin.conf': { cert: '', key: '', subject: [['O', 'system:masters'], ['CN', 'kubernetes-super-admin']], usage: 'client', issuer: k },
      'controller-manager.conf': { cert: '', key: '', subject: [['CN', 'system:kube-controller-manager']], usage: 'client', issuer: k },
      'scheduler.conf': { cert: '', key: '', subject: [['CN', 'system:kube-scheduler']], usage: 'client', issuer: k },
    };
    // Kubeconfig client certs are embedded; they are generated in a scratch folder of the node first.
    for (const [name, spec] of Object.entries(kubeconfigUsers)) {
      spec.cert = `/tmp-gen/${name}.crt`;
      spec.key = `/tmp-gen/${name}.key`;
    }
    const leaves: LeafSpec[] = [
      { cert: `${PKI}/apiserver.crt`, key: `${PKI}/apiserver.key`, subject: [['CN', 'kube-apiserver']], usage: 'server', issuer: k,
        dnsNames: [node.name, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'], ipAddresses: [node.ip, '127.0.0.1'] },
      { cert: `${PKI}/apiserver-kubelet-client.crt`, key: `${PKI}/apiserver-kubelet-client.key`, subject: [['O', 'kubeadm:cluster-admins'], ['CN', 'kube-apiserver-kubelet-client']], usage: 'client', issuer: k },
      { cert: `${PKI}/apiserver-etcd-client.crt`, key: `${PKI}/apiserver-etcd-client.key`, subject: [['CN', 'kube-apiserver-etcd-client']], usage: 'client', issuer: cas.etcd },
      { cert: `${PKI}/front-proxy-client.crt`, key: `${PKI}/front-proxy-client.key`, subject: [['CN', 'front-proxy-client']], usage: 'client', issuer: cas.frontProxy },
      { cert: `${PKI}/etcd/server.crt`, key: `${PKI}/etcd/server.key`, subject: [['CN', node.name]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/etcd/peer.crt`, key: `${PKI}/etcd/peer.key`, subject: [['CN', node.name]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/etcd/healthcheck-client.crt`, key: `${PKI}/etcd/healthcheck-client.key`, subject: [['CN', 'kube-etcd-healthcheck-client']], usage: 'client', issuer: cas.etcd },
      { cert: '/var/lib/kubelet/pki/kubelet.crt', key: '/var/lib/kubelet/pki/kubelet.key', subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'server', issuer: k,
        dnsNames: [node.name], ipAddresses: [node.ip] },
      ...Object.values(kubeconfigUsers),
    ];
    await pool(2, leaves.map((l) => () => issueLeaf(ctx, l)));

    const caData = await readFile(cas.kubernetes.certFile, 'utf8');
    for (const [name, spec] of Object.entries(kubeconfigUsers)) {
      const { cert, key } = await readLeaf(ctx, spec);
      const userName = spec.subject.find(([t]) => t === 'CN')![1];
      await writeNodeFile(ctx, `/etc/kubernetes/${name}`, renderKubeconfig({
        clusterName: 'kubernetes', server: `https://${node.ip}:6443`, userName, ca: { data: caData }, client: { certData: cert, keyData: key },
      }), 0o600);
    }
    const kubeletClient = await writeKubeletClientPair(ctx, '/var/lib/kubelet/pki', { subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'client', issuer: k });
    await writeNodeFile(ctx, '/etc/kubernetes/kubelet.conf', renderKubeconfig({
      clusterName: 'kubernetes', server: `https://${node.ip}:6443`, userName: `system:node:${node.name}`, ca: { data: caData }, client: { certFile: kubeletClient, keyFile: kubeletClient },
    }), 0o600);
    await rm(ctx.nodePaths.fs('/tmp-gen'), { recursive: true, force: true });

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
    await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-apiserver.yaml', renderStaticPod('kube-apiserver', [
      'kube-apiserver',
      `--advertise-address=${node.ip}`,
      '--allow-privileged=true',
      '--authorization-mode=Node,RBAC',
      `--bind-address=${node.ip}`,
      `--client-ca-file=${PKI}/ca.crt`,
      '--enable-admission-plugins=NodeRestriction',
      '--enable-bootstrap-token-auth=true',
      `--etcd-cafile=${PKI}/etcd/ca.crt`,
      `--etcd-certfile=${PKI}/apiserver-etcd-client.crt`,
      `--etcd-keyfile=${PKI}/apiserver-etcd-client.key`,
      `--etcd-servers=https://${node.ip}:2379`,
      `--kubelet-certificate-authority=${PKI}/ca.crt`,
      `--kubelet-client-certificate=${PKI}/apiserver-kubelet-client.crt`,
      `--kubelet-client-key=${PKI}/apiserver-kubelet-client.key`,
      '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
      `--proxy-client-cert-file=${PKI}/front-proxy-client.crt`,
      `--proxy-client-key-file=${PKI}/front-proxy-client.key`,
      '--requestheader-allowed-names=front-proxy-client',
      `--requestheader-client-ca-file=${PKI}/front-proxy-ca.crt`,
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-username-headers=X-Remote-User',
      '--secure-port=6443',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${PKI}/sa.pub`,
      `--service-account-signing-key-file=${PKI}/sa.key`,
      `--tls-cert-file=${PKI}/apiserver.crt`,
      `--tls-private-key-file=${PKI}/apiserver.key`,
    ], ['/etc/ssl/certs', PKI]), 0o600);
    await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-controller-manager.yaml', renderStaticPod('kube-controller-manager', [
      'kube-controller-manager',
      '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf',
      `--bind-address=${node.ip}`,
      `--client-ca-file=${PKI}/ca.crt`,
      '--cluster-name=kubernetes',
      `--cluster-signing-cert-file=${PKI}/ca.crt`,
      `--cluster-signing-key-file=${PKI}/ca.key`,
      '--controllers=*,bootstrapsigner,tokencleaner',
      '--kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--leader-elect=true',
      `--requestheader-client-ca-file=${PKI}/front-proxy-ca.crt`,
      `--root-ca-file=${PKI}/ca.crt`,
      `--service-account-private-key-file=${PKI}/sa.key`,
      '--use-service-account-credentials=true',
    ], ['/etc/ssl/certs', PKI, '/etc/kubernetes/controller-manager.conf']), 0o600);
    await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-scheduler.yaml', renderStaticPod('kube-scheduler', [
      'kube-scheduler',
      '--authentication-kubeconfig=/etc/kubernetes/scheduler.conf',
      '--authorization-kubeconfig=/etc/kubernetes/scheduler.conf',
      `--bind-address=${node.ip}`,
      '--kubeconfig=/etc/kubernetes/scheduler.conf',
      '--leader-elect=true',
    ], ['/etc/kubernetes/scheduler.conf']), 0o600);

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
    if (node.index === 1) {
      await writePrometheus(ctx, cas.etcd, cas.kubernetes);
      await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', [
        '/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml',
      ]));
    }
  },
};
