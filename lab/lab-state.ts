/** The lab's record of itself (state.json): enough for `down` to clean up after a crashed lab. */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { LabPaths } from './lab-paths.js';

/**
 * The loopback layout (lab/layouts/, lab/commands/up.ts): etcd alone (Debian's real etcd). The
 * emulated labs are retired (issue 18): the kubeadm, binary and kubespray layouts run on the real
 * components (lab/real/).
 */
export type Layout = 'etcd-only';
/**
 * Every layout `up` makes: the loopback ones, and the real clusters of lab/real/ (issue 18): kubeadm's
 * (static pods), the hand-installed one (the binary layout's units running the real binaries) and
 * kubespray's (kubeadm's control plane, etcd on the host).
 */
export type AnyLayout = Layout | RealLayout;
export type RealLayout = 'kubeadm-real' | 'binary-real' | 'kubespray-real';

/** True for the layouts of lab/real/ (real components), whose state carries `real`. */
export function isRealLayout(layout: string): layout is RealLayout {
  return layout === 'kubeadm-real' || layout === 'binary-real' || layout === 'kubespray-real';
}

export interface NodeState {
  name: string;
  ip: string;
  /** The unshare(1) process outside the namespace. */
  unsharePid: number;
  /** The long-lived process inside the node's namespaces (nsenter target). */
  holderPid: number;
  /** Inode of the node's mount namespace: every process in it belongs to the node. */
  mntNs: string;
  /** Real lab: the node's network namespace inode and its cgroup (cgroupRoot of the kubelet). */
  netNs?: string;
  cgroupRoot?: string;
}

/** What a real lab (kubeadm-real, binary-real) made on the machine, so that `down` can undo exactly that. */
export interface RealLabState {
  range: string;
  bridge: string;
  bridgeIp: string;
  endpoint: string;
  kubernetesServiceIp: string;
  /** True when this lab added the unreachable route for its range (it stays after down). */
  addedUnreachableRoute: boolean;
  lb: { unsharePid: number; holderPid: number; netNs: string; ip: string; veth: string };
  /** Host ends of the nodes' veths. */
  veths: string[];
  /** Machine-wide sysctls (kernel.*, vm.*) before up: the kubelet changes some; down restores them. */
  sysctlsBefore: Record<string, string>;
  cacheDir: string;
  cgroupHierarchies: string[];
}

export interface LabState {
  dir: string;
  layout: AnyLayout;
  /** The control-plane (or etcd-only) nodes. */
  nodes: NodeState[];
  /** Worker nodes: `add-worker` (real kubeadm lab); absent without any. */
  workers?: NodeState[];
  sshPort: number;
  caDaysLeft: number;
  createdAt: string;
  /** Mount points the lab had to create on the host (left in place: see commands/up.ts). */
  createdMountPoints: string[];
  /** Host processes of the lab outside any node (the traffic generator). */
  hostPids: Record<string, number>;
  /** Keys written at `up` with their values' sha256, for verify's dataIntact. */
  seedKeys: number;
  /** When `up` finished: component errors before this (boot order noise) are not counted. */
  readyAt?: string;
  /** When the last `traffic start` ran. */
  trafficStartedAt?: string;
  /** Only for the real layouts (isRealLayout). */
  real?: RealLabState;
}

export function readState(paths: LabPaths): LabState | undefined {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(paths: LabPaths, state: LabState): void {
  writeFileSync(`${paths.state}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${paths.state}.tmp`, paths.state);
}
