/**
 * kubeadm's configuration files for the real lab's nodes (kubeadm.k8s.io/v1beta4), and the secrets
 * `kubeadm init` and `kubeadm join` share.
 */
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { runOk } from '../exec.js';
import { readVersions } from './artifacts.js';
import type { RealPlan } from './plan.js';

/** The CA hash `kubeadm join` checks: sha256 of the CA's SubjectPublicKeyInfo (kubeadm's --discovery-token-ca-cert-hash). */
export function caCertHash(caFile: string): Promise<string> {
  return runOk('bash', ['-c', 'openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform der | sha256sum | cut -d" " -f1', 'x', caFile]).then((s) => `sha256:${s.trim()}`);
}

/** A fresh bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`) and upload-certs key (32 bytes, hex) for kubeadm init/join. */
export function kubeadmSecrets(): { token: string; certificateKey: string } {
  return { token: `${randomBytes(3).toString('hex')}.${randomBytes(8).toString('hex')}`, certificateKey: randomBytes(32).toString('hex') };
}

/** What a layout changes in kubeadm's ClusterConfiguration (kubespray: its certificatesDir and external etcd). */
export interface ClusterOverrides {
  certificatesDir?: string;
  externalEtcd?: { endpoints: string[]; caFile: string; certFile: string; keyFile: string };
}

/**
 * kubeadm's InitConfiguration + ClusterConfiguration + KubeletConfiguration for `node` (the first
 * node runs `kubeadm init` with it) and its JoinConfiguration (the others, `--control-plane`), as YAML.
 */
export function kubeadmConfigs(plan: RealPlan, node: RealPlan['nodes'][number], token: string, certificateKey: string, caHash: string, cluster: ClusterOverrides = {}): { init: string; join: string } {
  const v = readVersions();
  const nodeRegistration = {
    name: node.name,
    criSocket: 'unix:///run/containerd/containerd.sock',
    imagePullPolicy: 'Never',
    // cgroup v1 on this machine (SystemVerification); the rest is documented in docs/lab.md
    ignorePreflightErrors: ['SystemVerification'],
    kubeletExtraArgs: [{ name: 'node-ip', value: node.ip }],
  };
  const patches = { directory: '/root/kubeadm/patches' };
  const init = [
    {
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'InitConfiguration',
      bootstrapTokens: [{ token, ttl: '24h0m0s', usages: ['signing', 'authentication'], groups: ['system:bootstrappers:kubeadm:default-node-token'] }],
      certificateKey,
      localAPIEndpoint: { advertiseAddress: node.ip, bindPort: 6443 },
      nodeRegistration,
      patches,
      skipPhases: ['addon/kube-proxy', 'addon/coredns'],
    },
    {
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'ClusterConfiguration',
      clusterName: 'kubernetes',
      kubernetesVersion: v.KUBERNETES_VERSION,
      controlPlaneEndpoint: plan.endpoint,
      imageRepository: v.IMAGE_REPOSITORY,
      ...(cluster.certificatesDir ? { certificatesDir: cluster.certificatesDir } : {}),
      etcd: cluster.externalEtcd ? { external: cluster.externalEtcd } : { local: { imageTag: v.ETCD_IMAGE_TAG } },
      networking: { serviceSubnet: plan.serviceSubnet, podSubnet: plan.podSubnet, dnsDomain: 'cluster.local' },
    },
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      failCgroupV1: false,
    },
  ];
  const join = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'JoinConfiguration',
    discovery: { bootstrapToken: { token, apiServerEndpoint: plan.endpoint, caCertHashes: [caHash] } },
    controlPlane: { localAPIEndpoint: { advertiseAddress: node.ip, bindPort: 6443 }, certificateKey },
    nodeRegistration,
    patches,
  };
  return { init: init.map((d) => stringify(d)).join('---\n'), join: stringify(join) };
}
