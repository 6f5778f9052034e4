import type { LabPaths, NodePaths } from '../lab-paths.js';
import type { KeyPair, Validity } from '../openssl.js';
import type { Layout } from '../lab-state.js';

export interface LabNode {
  index: number;
  name: string;
  ip: string;
}

/** The three old CAs, shared by every node (files in the lab's pki/ca folder). */
export interface LabCas {
  kubernetes: KeyPair;
  etcd: KeyPair;
  frontProxy: KeyPair;
}

export interface LayoutContext {
  paths: LabPaths;
  nodes: LabNode[];
  node: LabNode;
  nodePaths: NodePaths;
  cas: LabCas;
  leafValidity: Validity;
}

/** Client TLS files as paths inside a node (e.g. /etc/kubernetes/pki/etcd/ca.crt). */
export interface ClientFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface LabLayout {
  name: Layout;
  /** Inventory vars: the layout's paths, for playbooks. */
  vars(): Record<string, string | string[]>;
  /** Writes the node's PKI, kubeconfigs, manifests/units and configs into its fs folder. */
  writeNode(ctx: LayoutContext): Promise<void>;
  /**
   * Writes a worker node (kubelet only: the cluster CA, kubelet.conf and its client pair, the kubelet's
   * config, serving pair and unit); `ctx.nodes` are the control-plane nodes. Layouts without it have no workers.
   */
  writeWorker?(ctx: LayoutContext): Promise<void>;
  /** Units to `systemctl start` on every node, in order, at `up`. */
  startUnits: string[];
  /** The apiserver's static pod manifest: traffic and verify read its current etcd/proxy files from its flags. */
  apiserverManifest: string;
  /** Node-absolute path of the admin kubeconfig and the kubelet's kubeconfig. */
  adminKubeconfig: string;
  kubeletKubeconfig: string;
  /** Front-proxy client files, when the layout has a front-proxy CA. */
  frontProxyClient?: ClientFiles & { requestheaderCa: string };
  /**
   * etcd alone (no Kubernetes): the lab's etcd clients (traffic, verify, up's health check) use these
   * files on this node instead of the apiserver's, and every apiserver step is left out.
   */
  etcdOnly?: { node: string; client: ClientFiles };
  /** Node paths bind-mounted from the node's folder besides NODE_DIR_MOUNTS (e.g. /etc/init.d). */
  extraMounts?: string[];
  /** Commands run in every node after startUnits, in order, at `up` (e.g. an init script's start). */
  startCommands?: string[][];
}
