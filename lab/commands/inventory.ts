/** `inventory`: the kcarun inventory YAML for the lab (hosts, groups, SSH key and known_hosts, layout vars). */
import { DEFAULT_LAB_DIR, LabPaths } from '../lab-paths.js';
import { readState } from '../lab-state.js';
import { layoutByName } from '../layouts/index.js';

/** A YAML scalar: plain when safe, else JSON-quoted (JSON strings are valid YAML). */
function scalar(v: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) && !/^[\d.]+$/.test(v) ? v : JSON.stringify(v);
}

export function labInventory(dir = DEFAULT_LAB_DIR): string {
  const paths = new LabPaths(dir);
  const state = readState(paths);
  if (!state) throw new Error(`no lab in ${dir}: run \`npm run lab -- up\` first`);
  const names = state.nodes.map((n) => n.name);
  const lines = [
    'apiVersion: kcarun/v1',
    'kind: Inventory',
    'defaults:',
    `  ssh: { user: root, port: ${state.sshPort}, identityFile: ${scalar(paths.userKey)}, knownHostsFile: ${scalar(paths.knownHosts)} }`,
    '  become: false',
    'hosts:',
    ...state.nodes.map((n) => `  ${n.name}: { address: ${n.ip}, vars: { node_ip: ${n.ip} } }`),
    'groups:',
    `  etcd: { hosts: [${names.join(', ')}] }`,
    `  control_plane: { hosts: [${names.join(', ')}] }`,
    '  workers: { hosts: [] }',
    'vars:',
  ];
  for (const [k, v] of Object.entries(layoutByName(state.layout).vars())) {
    lines.push(Array.isArray(v) ? `  ${k}: [${v.map(scalar).join(', ')}]` : `  ${k}: ${scalar(v)}`);
  }
  return `${lines.join('\n')}\n`;
}
