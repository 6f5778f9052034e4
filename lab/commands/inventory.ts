/** `inventory`: the kcarun inventory YAML for the lab (hosts, groups, SSH key and known_hosts, layout vars). */
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { isRealLayout, readState } from '../lab-state.js';
import { layoutByName } from '../layouts/index.js';
import { realInventory } from '../real/inventory.js';

/** A YAML scalar: plain when safe, else JSON-quoted (JSON strings are valid YAML). */
function scalar(v: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) && !/^[\d.]+$/.test(v) ? v : JSON.stringify(v);
}

export function labInventory(dir = DEFAULT_LAB_DIR): string {
  const paths = new LabPaths(dir);
  const state = readState(paths);
  if (!state) throw new Error(`no lab in ${dir}: run \`npm run lab -- up\` first`);
  if (isRealLayout(state.layout)) return realInventory(paths, state);
  const names = state.nodes.map((n) => n.name);
  const lines = [
    'apiVersion: kcarun/v1',
    'kind: Inventory',
    'defaults:',
    `  ssh: { user: root, port: ${state.sshPort}, identityFile: ${scalar(paths.userKey)}, knownHostsFile: ${scalar(paths.knownHosts)} }`,
    '  become: false',
    'hosts:',
    ...[...state.nodes, ...(state.workers ?? [])].map((n) => `  ${n.name}: { address: ${n.ip}, vars: { node_ip: ${n.ip} } }`),
    'groups:',
    `  etcd: { hosts: [${names.join(', ')}] }`,
    `  control_plane: { hosts: [${state.layout === 'etcd-only' ? '' : names.join(', ')}] }`,
    `  workers: { hosts: [${(state.workers ?? []).map((n) => n.name).join(', ')}] }`,
    'vars:',
  ];
  const vars = layoutByName(state.layout).vars();
  for (const [k, v] of Object.entries(vars)) {
    lines.push(Array.isArray(v) ? `  ${k}: [${v.map(scalar).join(', ')}]` : `  ${k}: ${scalar(v)}`);
  }
  // The lab's Prometheus is an outside client of etcd and the kubelets, with its own CA files and
  // client certificates: the rotation must make it trust the new CAs (phase A) and switch its certs.
  const ssl = vars['prometheus_ssl_dir'];
  if (typeof ssl === 'string' && typeof vars['prometheus_host'] === 'string' && state.layout === 'etcd-only') {
    lines.push(
      '  extra_clients:',
      `    - { name: prometheus, host: ${scalar(vars['prometheus_host'])}, etcd_ca: ${ssl}/etcd-ca.crt, etcd_cert: ${ssl}/etcd-client.crt, k8s_ca: "", k8s_cert: "", restart: { method: systemd, unit: prometheus } }`,
    );
  }
  return `${lines.join('\n')}\n`;
}
