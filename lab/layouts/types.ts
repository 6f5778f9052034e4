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

/** What a layout writes into a node's folder: its files, and the inventory vars naming them. */
export interface LayoutFiles {
  /** Inventory vars: the layout's paths, for playbooks. */
  vars(): Record<string, string | string[]>;
  /** Writes the node's PKI, kubeconfigs, manifests/units and configs into its fs folder. */
  writeNode(ctx: LayoutContext): Promise<void>;
}

/** A layout `npm run lab -- up` runs on loopback (lab/commands/up.ts): its files and how it starts. */
export interface LabLayout extends LayoutFiles {
  name: Layout;
  /** Units to `systemctl start` on every node, in order, at `up`. */
  startUnits: string[];
  /** Commands run in every node after startUnits, in order, at `up` (e.g. an init script's start). */
  startCommands?: string[][];
  /** Node paths bind-mounted from the node's folder besides NODE_DIR_MOUNTS (e.g. /etc/init.d). */
  extraMounts?: string[];
  /**
   * The lab's own etcd client (up's health check and seeding, the traffic, verify): its files, as
   * node paths, on `node` (one node's client for every member) or, without it, on each node itself.
   */
  etcdClient: {
    node?: string;
    files: ClientFiles;
    /**
     * The unit (the lab's service manager) of the client these files belong to: the traffic reloads
     * them when it restarts, as that client does, not on a timer (a timer let the traffic keep the old
     * CA for up to its period after kcarun had restarted the client and moved on: the flake of
     * discover-etcd-only, session 26).
     */
    service?: string;
  };
}
