/**
 * The control plane kubeadm writes (static pod manifests, kubeconfigs with embedded data, the
 * kubelet's client pair), shared by the layouts whose control plane kubeadm made: the kubeadm layout
 * (stacked etcd, /etc/kubernetes/pki); external etcd and another certificatesDir are supported for a
 * layout that needs them (kubespray's runs on the real components: lab/real/kubespray.ts).
 * The flags are kubeadm's (cmd/kubeadm/app/phases/controlplane/manifests.go), sorted as it sorts them.
 */
import { readFile, rm } from 'node:fs/promises';
import { runOk } from '../exec.js';
import { copyIntoNode, issueLeaf, readLeaf, writeKubeletClientPair, writeNodeFile, type LeafSpec } from './node-pki.js';
import { renderKubeconfig, renderStaticPod } from './render.js';
import type { LabNode, LayoutContext } from './types.js';

/** The apiserver's etcd client: the servers it dials and its TLS files. */
export interface EtcdClientFlags {
  servers: string;
  cafile: string;
  certfile: string;
  keyfile: string;
}

/**
 * What kubeadm's `certs` phase puts in its certificatesDir (`pki`) whatever the etcd: the cluster and
 * front-proxy CAs with their keys, and the service-account key pair.
 */
export async function writeKubeadmCas(ctx: LayoutContext, pki: string): Promise<void> {
  const { cas } = ctx;
  await copyIntoNode(ctx, cas.kubernetes.certFile, `${pki}/ca.crt`, 0o644);
  await copyIntoNode(ctx, cas.kubernetes.keyFile, `${pki}/ca.key`, 0o600);
  await copyIntoNode(ctx, cas.frontProxy.certFile, `${pki}/front-proxy-ca.crt`, 0o644);
  await copyIntoNode(ctx, cas.frontProxy.keyFile, `${pki}/front-proxy-ca.key`, 0o600);
  await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', ctx.nodePaths.fs(`${pki}/sa.key`)]);
  await runOk('openssl', ['pkey', '-in', ctx.nodePaths.fs(`${pki}/sa.key`), '-pubout', '-out', ctx.nodePaths.fs(`${pki}/sa.pub`)]);
}

/** kubeadm's apiserver serving, apiserver-kubelet-client and front-proxy-client leaves in `pki`, to issue. */
export function kubeadmLeaves(ctx: LayoutContext, pki: string): LeafSpec[] {
  const { node, cas } = ctx;
  const k = cas.kubernetes;
  return [
    { cert: `${pki}/apiserver.crt`, key: `${pki}/apiserver.key`, subject: [['CN', 'kube-apiserver']], usage: 'server', issuer: k,
      dnsNames: [node.name, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'], ipAddresses: [node.ip, '127.0.0.1'] },
    { cert: `${pki}/apiserver-kubelet-client.crt`, key: `${pki}/apiserver-kubelet-client.key`, subject: [['O', 'kubeadm:cluster-admins'], ['CN', 'kube-apiserver-kubelet-client']], usage: 'client', issuer: k },
    { cert: `${pki}/front-proxy-client.crt`, key: `${pki}/front-proxy-client.key`, subject: [['CN', 'front-proxy-client']], usage: 'client', issuer: cas.frontProxy },
  ];
}

/** The kubeconfigs kubeadm writes with an embedded client certificate, by file name under /etc/kubernetes. */
export async function writeEmbeddedKubeconfigs(ctx: LayoutContext, names: string[]): Promise<void> {
  const { node, cas } = ctx;
  const k = cas.kubernetes;
  const users: Record<string, LeafSpec> = {
    'admin.conf': { cert: '', key: '', subject: [['O', 'kubeadm:cluster-admins'], ['CN', 'kubernetes-admin']], usage: 'client', issuer: k },
    'super-admin.conf': { cert: '', key: '', subject: [['O', 'system:masters'], ['CN', 'kubernetes-super-admin']], usage: 'client', issuer: k },
    'controller-manager.conf': { cert: '', key: '', subject: [['CN', 'system:kube-controller-manager']], usage: 'client', issuer: k },
    'scheduler.conf': { cert: '', key: '', subject: [['CN', 'system:kube-scheduler']], usage: 'client', issuer: k },
  };
  const caData = await readFile(k.certFile, 'utf8');
  // The client certs are generated in a scratch folder of the node first, then embedded.
  for (const name of names) {
    const spec = { ...users[name]!, cert: `/tmp-gen/${name}.crt`, key: `/tmp-gen/${name}.key` };
    await issueLeaf(ctx, spec);
    const { cert, key } = await readLeaf(ctx, spec);
    const userName = spec.subject.find(([t]) => t === 'CN')![1];
    await writeNodeFile(ctx, `/etc/kubernetes/${name}`, renderKubeconfig({
      clusterName: 'kubernetes', server: `https://${node.ip}:6443`, userName, ca: { data: caData }, client: { certData: cert, keyData: key },
    }), 0o600);
  }
  await rm(ctx.nodePaths.fs('/tmp-gen'), { recursive: true, force: true });
}

/** kubelet.conf as kubeadm >= 1.17 writes it: the CA embedded, the client pair in kubelet-client-current.pem. */
export async function writeKubeletKubeconfig(ctx: LayoutContext, server = `https://${ctx.node.ip}:6443`): Promise<void> {
  const { node, cas } = ctx;
  const caData = await readFile(cas.kubernetes.certFile, 'utf8');
  const kubeletClient = await writeKubeletClientPair(ctx, '/var/lib/kubelet/pki', { subject: [['O', 'system:nodes'], ['CN', `system:node:${node.name}`]], usage: 'client', issuer: cas.kubernetes });
  await writeNodeFile(ctx, '/etc/kubernetes/kubelet.conf', renderKubeconfig({
    clusterName: 'kubernetes', server, userName: `system:node:${node.name}`, ca: { data: caData }, client: { certFile: kubeletClient, keyFile: kubeletClient },
  }), 0o600);
  await rm(ctx.nodePaths.fs('/tmp-gen'), { recursive: true, force: true });
}

/** kube-apiserver, kube-controller-manager and kube-scheduler manifests, certificates in `pki` (kubeadm's certificatesDir). */
export async function writeControlPlaneManifests(ctx: LayoutContext, pki: string, etcd: EtcdClientFlags, etcdVolumes: string[]): Promise<void> {
  const { node } = ctx;
  await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-apiserver.yaml', renderStaticPod('kube-apiserver', apiserverCommand(node, pki, etcd), ['/etc/ssl/certs', pki, ...etcdVolumes]), 0o600);
  await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-controller-manager.yaml', renderStaticPod('kube-controller-manager', [
    'kube-controller-manager',
    '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
    '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf',
    `--bind-address=${node.ip}`,
    `--client-ca-file=${pki}/ca.crt`,
    '--cluster-name=kubernetes',
    `--cluster-signing-cert-file=${pki}/ca.crt`,
    `--cluster-signing-key-file=${pki}/ca.key`,
    '--controllers=*,bootstrapsigner,tokencleaner',
    '--kubeconfig=/etc/kubernetes/controller-manager.conf',
    '--leader-elect=true',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    `--root-ca-file=${pki}/ca.crt`,
    `--service-account-private-key-file=${pki}/sa.key`,
    '--use-service-account-credentials=true',
  ], ['/etc/ssl/certs', pki, '/etc/kubernetes/controller-manager.conf']), 0o600);
  await writeNodeFile(ctx, '/etc/kubernetes/manifests/kube-scheduler.yaml', renderStaticPod('kube-scheduler', [
    'kube-scheduler',
    '--authentication-kubeconfig=/etc/kubernetes/scheduler.conf',
    '--authorization-kubeconfig=/etc/kubernetes/scheduler.conf',
    `--bind-address=${node.ip}`,
    '--kubeconfig=/etc/kubernetes/scheduler.conf',
    '--leader-elect=true',
  ], ['/etc/kubernetes/scheduler.conf']), 0o600);
}

function apiserverCommand(node: LabNode, pki: string, etcd: EtcdClientFlags): string[] {
  return [
    'kube-apiserver',
    `--advertise-address=${node.ip}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    `--bind-address=${node.ip}`,
    `--client-ca-file=${pki}/ca.crt`,
    '--enable-admission-plugins=NodeRestriction',
    '--enable-bootstrap-token-auth=true',
    `--etcd-cafile=${etcd.cafile}`,
    `--etcd-certfile=${etcd.certfile}`,
    `--etcd-keyfile=${etcd.keyfile}`,
    `--etcd-servers=${etcd.servers}`,
    `--kubelet-certificate-authority=${pki}/ca.crt`,
    `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`,
    `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    `--proxy-client-cert-file=${pki}/front-proxy-client.crt`,
    `--proxy-client-key-file=${pki}/front-proxy-client.key`,
    '--requestheader-allowed-names=front-proxy-client',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    '--secure-port=6443',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki}/sa.pub`,
    `--service-account-signing-key-file=${pki}/sa.key`,
    `--tls-cert-file=${pki}/apiserver.crt`,
    `--tls-private-key-file=${pki}/apiserver.key`,
  ];
}
