/** Shared pieces of both layouts: issuing a leaf into a node's fs, copying CAs, Prometheus files. */
import { copyFile, mkdir, readFile, writeFile, chmod, rm, symlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { issueCertificate, type CertRequest, type KeyPair } from '../openssl.js';
import type { LayoutContext, LabNode } from './types.js';

export interface LeafSpec {
  /** Node-absolute paths. */
  cert: string;
  key: string;
  subject: Array<[string, string]>;
  usage: CertRequest['usage'];
  issuer: KeyPair;
  dnsNames?: string[];
  ipAddresses?: string[];
  keyAlgorithm?: CertRequest['keyAlgorithm'];
}

export async function writeNodeFile(ctx: LayoutContext, absPath: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const target = ctx.nodePaths.fs(absPath);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
  await chmod(target, mode);
}

export async function copyIntoNode(ctx: LayoutContext, from: string, absPath: string, mode: number): Promise<void> {
  const target = ctx.nodePaths.fs(absPath);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(from, target);
  await chmod(target, mode);
}

export async function issueLeaf(ctx: LayoutContext, spec: LeafSpec): Promise<void> {
  const certFile = ctx.nodePaths.fs(spec.cert);
  const keyFile = ctx.nodePaths.fs(spec.key);
  await mkdir(dirname(certFile), { recursive: true });
  await mkdir(dirname(keyFile), { recursive: true });
  await issueCertificate({ ...spec, certFile, keyFile, validity: ctx.leafValidity });
}

/**
 * The kubelet's client pair the way kubelet >= 1.17 keeps it: one kubelet-client-<UTC ts>.pem with the
 * certificate and its EC key (0600), and kubelet-client-current.pem, a symlink to it. The link is
 * relative (the kubelet writes an absolute one) so it also resolves from the operator's view of the
 * node's folder; kcarun keeps whichever style it finds.
 */
export async function writeKubeletClientPair(ctx: LayoutContext, dir: string, spec: Omit<LeafSpec, 'cert' | 'key'>, now = new Date()): Promise<string> {
  const scratch = { cert: '/tmp-gen/kubelet-client.crt', key: '/tmp-gen/kubelet-client.key' };
  await issueLeaf(ctx, { ...spec, ...scratch, keyAlgorithm: 'ec-p256' });
  const { cert, key } = await readLeaf(ctx, scratch);
  const name = `kubelet-client-${now.toISOString().slice(0, 19).replace(/[T:]/g, '-')}.pem`;
  await writeNodeFile(ctx, `${dir}/${name}`, `${cert.replace(/\n*$/, '\n')}${key}`, 0o600);
  const link = ctx.nodePaths.fs(`${dir}/kubelet-client-current.pem`);
  await rm(link, { force: true });
  await symlink(name, link);
  return `${dir}/kubelet-client-current.pem`;
}

/** Reads a leaf back (for kubeconfigs with embedded data). */
export async function readLeaf(ctx: LayoutContext, spec: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  return { cert: await readFile(ctx.nodePaths.fs(spec.cert), 'utf8'), key: await readFile(ctx.nodePaths.fs(spec.key), 'utf8') };
}

/** SANs a real node certificate carries: its hostname, localhost, loopback and its own IP. */
export function nodeSans(node: LabNode): { dnsNames: string[]; ipAddresses: string[] } {
  return { dnsNames: [node.name, 'localhost'], ipAddresses: [node.ip, '127.0.0.1', '0:0:0:0:0:0:0:1'] };
}

export function etcHosts(nodes: LabNode[]): string {
  return ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback', ...nodes.map((n) => `${n.ip} ${n.name}`), ''].join('\n');
}

/**
 * An outside client like Prometheus on the first node, with its own copies of the CAs and its own
 * client certificates: a rotation that forgets extra clients shows up as failed scrapes.
 */
export async function writePrometheus(ctx: LayoutContext, etcdCa: KeyPair, kubeCa: KeyPair): Promise<void> {
  const ssl = '/etc/prometheus/ssl';
  await copyIntoNode(ctx, etcdCa.certFile, `${ssl}/etcd-ca.crt`, 0o644);
  await copyIntoNode(ctx, kubeCa.certFile, `${ssl}/kubernetes-ca.crt`, 0o644);
  await issueLeaf(ctx, { cert: `${ssl}/etcd-client.crt`, key: `${ssl}/etcd-client.key`, subject: [['CN', 'prometheus-etcd-client']], usage: 'client', issuer: etcdCa });
  await issueLeaf(ctx, { cert: `${ssl}/kubelet-client.crt`, key: `${ssl}/kubelet-client.key`, subject: [['O', 'monitoring'], ['CN', 'prometheus']], usage: 'client', issuer: kubeCa });
  const config = {
    global: { scrape_interval: '1s' },
    scrape_configs: [
      {
        job_name: 'etcd',
        scheme: 'https',
        tls_config: { ca_file: `${ssl}/etcd-ca.crt`, cert_file: `${ssl}/etcd-client.crt`, key_file: `${ssl}/etcd-client.key` },
        static_configs: [{ targets: ctx.nodes.map((n) => `${n.ip}:2379`) }],
      },
      {
        job_name: 'kubelet',
        scheme: 'https',
        tls_config: { ca_file: `${ssl}/kubernetes-ca.crt`, cert_file: `${ssl}/kubelet-client.crt`, key_file: `${ssl}/kubelet-client.key` },
        static_configs: [{ targets: ctx.nodes.map((n) => `${n.ip}:10250`) }],
      },
    ],
  };
  await writeNodeFile(ctx, '/etc/prometheus/prometheus.yml', stringify(config));
}

export function etcdInitialCluster(nodes: LabNode[]): string {
  return nodes.map((n) => `${n.name}=https://${n.ip}:2380`).join(',');
}
