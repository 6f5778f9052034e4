/** The lab's record of itself (state.json): enough for `down` to clean up after a crashed lab. */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { LabPaths } from './lab-paths.js';

export type Layout = 'kubeadm' | 'binary';

export interface NodeState {
  name: string;
  ip: string;
  /** The unshare(1) process outside the namespace. */
  unsharePid: number;
  /** The long-lived process inside the node's namespaces (nsenter target). */
  holderPid: number;
  /** Inode of the node's mount namespace: every process in it belongs to the node. */
  mntNs: string;
}

export interface LabState {
  dir: string;
  layout: Layout;
  nodes: NodeState[];
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
