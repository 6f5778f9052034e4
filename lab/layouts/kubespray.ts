/**
 * The kubespray layout (kubernetes-sigs/kubespray, its defaults; issue 15): etcd on the host as the
 * systemd unit `etcd`, every setting an ETCD_* variable of /etc/etcd.env (roles/etcd/templates/
 * etcd.env.j2, etcd-host.service.j2: `EnvironmentFile=/etc/etcd.env`, ExecStart with no flags), its
 * certificates in /etc/ssl/etcd/ssl named per host (member-<host>.pem for the member, admin-<host>.pem
 * for etcdctl, node-<host>.pem for etcd's clients on the node: the apiserver and the CNI), the CA key
 * beside them; a control plane made by kubeadm with certificatesDir /etc/kubernetes/ssl and external
 * etcd (every apiserver lists every member); the kubelet started from /etc/kubernetes/kubelet.env
 * ($KUBELET_ARGS, roles/kubernetes/node/templates/kubelet.service.j2) with
 * /etc/kubernetes/kubelet-config.yaml.
 * The node has its own /etc (an overlay on the machine's: /etc/etcd.env is a file directly in /etc).
 * Lab deviations, as the kubeadm layout's (docs/lab.md): the kubelet's serving certificate is signed
 * by the cluster CA (kubespray's default lets the kubelet sign its own), so the lab's Prometheus can
 * verify it; no CNI agent runs (the node-<host>.pem pair is read by the apiserver alone).
 */
import { stringify } from 'yaml';
import { pool } from '../exec.js';
import { kubeadmLeaves, writeControlPlaneManifests, writeEmbeddedKubeconfigs, writeKubeadmCas, writeKubeletKubeconfig } from './kubeadm-control-plane.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, writeNodeFile, writePrometheus, type LeafSpec } from './node-pki.js';
import { renderUnit } from './render.js';
import type { LabLayout, LayoutContext } from './types.js';

const PKI = '/etc/kubernetes/ssl';
const ETCD_SSL = '/etc/ssl/etcd/ssl';

/** kubespray's etcd-host.service.j2: no flags, the environment file carries every setting. */
const ETCD_UNIT = `[Unit]
Description=etcd
After=network.target

[Service]
Type=notify
User=root
EnvironmentFile=/etc/etcd.env
ExecStart=/usr/bin/etcd
NotifyAccess=all
Restart=always
RestartSec=10s
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
`;

/** kubespray's kubelet.service.j2: the flags come from /etc/kubernetes/kubelet.env. */
const KUBELET_UNIT = `[Unit]
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

export const kubesprayLayout: LabLayout = {
  name: 'kubespray',
  startUnits: ['etcd', 'kubelet'],
  ownEtc: true,
  apiserverConfig: { kind: 'manifest', path: '/etc/kubernetes/manifests/kube-apiserver.yaml' },
  adminKubeconfig: '/etc/kubernetes/admin.conf',
  kubeletKubeconfig: '/etc/kubernetes/kubelet.conf',
  frontProxyClient: { ca: `${PKI}/ca.crt`, cert: `${PKI}/front-proxy-client.crt`, key: `${PKI}/front-proxy-client.key`, requestheaderCa: `${PKI}/front-proxy-ca.crt` },

  vars() {
    // The stock kubespray layout (playbooks/layouts/kubespray.yaml) and what this lab differs in.
    return {
      layout: 'kubespray',
      // The lab's kubelets serve a certificate from the cluster CA (see above): in the rotation.
      kubelet_leaf_certs: ['/var/lib/kubelet/pki/kubelet.crt'],
      prometheus_host: 'cp1',
      prometheus_config: '/etc/prometheus/prometheus.yml',
      prometheus_ssl_dir: '/etc/prometheus/ssl',
    };
  },

  async writeNode(ctx: LayoutContext): Promise<void> {
    const { node, cas, nodes } = ctx;
    const sans = nodeSans(node);
    await writeKubeadmCas(ctx, PKI);
    await copyIntoNode(ctx, cas.etcd.certFile, `${ETCD_SSL}/ca.pem`, 0o644);
    await copyIntoNode(ctx, cas.etcd.keyFile, `${ETCD_SSL}/ca-key.pem`, 0o600);

    const etcdSans = { dnsNames: [...nodes.map((n) => n.name), 'localhost'], ipAddresses: [...nodes.map((n) => n.ip), '127.0.0.1'] };
    const leaves: LeafSpec[] = [
      ...kubeadmLeaves(ctx, PKI),
      // kubespray's openssl.conf: every member's and node's certificate names every etcd host.
      { cert: `${ETCD_SSL}/member-${node.name}.pem`, key: `${ETCD_SSL}/member-${node.name}-key.pem`, subject: [['CN', `etcd-member-${node.name}`]], usage: 'peer', issuer: cas.etcd, ...etcdSans },
      { cert: `${ETCD_SSL}/admin-${node.name}.pem`, key: `${ETCD_SSL}/admin-${node.name}-key.pem`, subject: [['CN', `etcd-admin-${node.name}`]], usage: 'peer', issuer: cas.etcd, ...etcdSans },
      { cert: `${ETCD_SSL}/node-${node.name}.pem`, key: `${ETCD_SSL}/node-${node.name}-key.pem`, subject: [['CN', `etcd-node-${node.name}`]], usage: 'peer', issuer: cas.etcd, ...etcdSans },
      { cert: '/var/lib/kubelet/pki/kubelet.crt', key: '/var/lib/kubelet/pki/kubelet.key', subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'server', issuer: cas.kubernetes, ...sans },
    ];
    await pool(2, leaves.map((l) => () => issueLeaf(ctx, l)));
    await writeEmbeddedKubeconfigs(ctx, ['admin.conf', 'controller-manager.conf', 'scheduler.conf']);
    await writeKubeletKubeconfig(ctx);

    // roles/etcd/templates/etcd.env.j2, the settings the lab needs (its timings as the other layouts').
    const env: Array<[string, string]> = [
      ['ETCD_DATA_DIR', '/var/lib/etcd'],
      ['ETCD_ADVERTISE_CLIENT_URLS', `https://${node.ip}:2379`],
      ['ETCD_INITIAL_ADVERTISE_PEER_URLS', `https://${node.ip}:2380`],
      ['ETCD_INITIAL_CLUSTER_STATE', 'new'],
      ['ETCD_METRICS', 'basic'],
      ['ETCD_LISTEN_CLIENT_URLS', `https://${node.ip}:2379`],
      ['ETCD_ELECTION_TIMEOUT', '2500'],
      ['ETCD_HEARTBEAT_INTERVAL', '250'],
      ['ETCD_INITIAL_CLUSTER_TOKEN', 'k8s_etcd'],
      ['ETCD_LISTEN_PEER_URLS', `https://${node.ip}:2380`],
      ['ETCD_NAME', node.name],
      ['ETCD_PROXY', 'off'],
      ['ETCD_INITIAL_CLUSTER', etcdInitialCluster(nodes)],
      ['ETCD_AUTO_COMPACTION_RETENTION', '8'],
      ['ETCD_SNAPSHOT_COUNT', '10000'],
      ['', ''],
      ['# TLS settings', ''],
      ['ETCD_TRUSTED_CA_FILE', `${ETCD_SSL}/ca.pem`],
      ['ETCD_CERT_FILE', `${ETCD_SSL}/member-${node.name}.pem`],
      ['ETCD_KEY_FILE', `${ETCD_SSL}/member-${node.name}-key.pem`],
      ['ETCD_CLIENT_CERT_AUTH', 'true'],
      ['', ''],
      ['ETCD_PEER_TRUSTED_CA_FILE', `${ETCD_SSL}/ca.pem`],
      ['ETCD_PEER_CERT_FILE', `${ETCD_SSL}/member-${node.name}.pem`],
      ['ETCD_PEER_KEY_FILE', `${ETCD_SSL}/member-${node.name}-key.pem`],
      ['ETCD_PEER_CLIENT_CERT_AUTH', 'True'],
    ];
    await writeNodeFile(ctx, '/etc/etcd.env', `${env.map(([k, v]) => (k.startsWith('#') || !k ? k : `${k}=${v}`)).join('\n')}\n`, 0o640);
    await writeNodeFile(ctx, '/etc/systemd/system/etcd.service', ETCD_UNIT);

    await writeControlPlaneManifests(ctx, PKI, {
      servers: nodes.map((n) => `https://${n.ip}:2379`).join(','),
      cafile: `${ETCD_SSL}/ca.pem`,
      certfile: `${ETCD_SSL}/node-${node.name}.pem`,
      keyfile: `${ETCD_SSL}/node-${node.name}-key.pem`,
    }, [ETCD_SSL]);

    await writeNodeFile(ctx, '/etc/kubernetes/kubelet-config.yaml', stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: node.ip,
      port: 10250,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: `${PKI}/ca.crt` } },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'systemd',
      staticPodPath: '/etc/kubernetes/manifests',
      tlsCertFile: '/var/lib/kubelet/pki/kubelet.crt',
      tlsPrivateKeyFile: '/var/lib/kubelet/pki/kubelet.key',
    }));
    await writeNodeFile(ctx, '/etc/kubernetes/kubelet.env', [
      'KUBE_LOGTOSTDERR="--logtostderr=true"',
      'KUBE_LOG_LEVEL="--v=2"',
      `KUBELET_ADDRESS="--node-ip=${node.ip}"`,
      `KUBELET_HOSTNAME="--hostname-override=${node.name}"`,
      'KUBELET_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\',
      '--config=/etc/kubernetes/kubelet-config.yaml \\',
      '--kubeconfig=/etc/kubernetes/kubelet.conf \\',
      '--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock"',
      'KUBELET_CLOUDPROVIDER=""',
      '',
    ].join('\n'));
    await writeNodeFile(ctx, '/etc/systemd/system/kubelet.service', KUBELET_UNIT);
    if (node.index === 1) {
      await writePrometheus(ctx, cas.etcd, cas.kubernetes);
      await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', [
        '/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml',
      ]));
    }
  },
};
