/**
 * The kcarun inventory for a real lab: the nodes as a user's inventory would name them, over SSH
 * with host keys checked, and nothing but the layout's name: `layout: kubeadm` is all a default
 * kubeadm HA cluster needs; a hand-installed cluster's paths come from `kcarun discover`.
 */
import type { LabPaths } from '../lab-paths.js';
import type { LabState } from '../lab-state.js';

export function realInventory(paths: LabPaths, state: LabState): string {
  const names = state.nodes.map((n) => n.name);
  // workers added with `add-worker` after up (kubelet only)
  const workers = state.workers ?? [];
  return [
    'apiVersion: kcarun/v1',
    'kind: Inventory',
    'defaults:',
    `  ssh: { user: root, port: 22, identityFile: ${JSON.stringify(paths.userKey)}, knownHostsFile: ${JSON.stringify(paths.knownHosts)} }`,
    '  become: false',
    'hosts:',
    ...[...state.nodes, ...workers].map((n) => `  ${n.name}: { address: ${n.ip} }`),
    'groups:',
    `  etcd: { hosts: [${names.join(', ')}] }`,
    `  control_plane: { hosts: [${names.join(', ')}] }`,
    `  workers: { hosts: [${workers.map((n) => n.name).join(', ')}] }`,
    'vars:',
    `  layout: ${state.layout.replace(/-real$/, '')}`,
    '',
  ].join('\n');
}
