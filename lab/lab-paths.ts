/**
 * Where the lab keeps everything. One folder (default /tmp/kcarun-lab) holds the state, the shared
 * SSH key, the PKI workspace, the event log, the stand-ins bundle and one folder per node whose
 * subfolders are bind-mounted over the node's /etc/kubernetes, /etc/etcd, ... inside its namespace.
 */
import { join } from 'node:path';

export const DEFAULT_LAB_DIR = '/tmp/kcarun-lab';

export const DEFAULT_IP_PREFIX = '127.0.1';

/**
 * Node N (1-based) listens on 127.0.1.N (or PREFIX.N): loopback only, never any other network range.
 * Tests use their own prefix so two labs (or other tests' servers) never share an address.
 */
export function nodeIp(index: number, prefix = DEFAULT_IP_PREFIX): string {
  if (index < 1 || index > 254) throw new Error(`node index ${index} out of range 1..254`);
  if (!/^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/.test(prefix)) throw new Error(`IP prefix ${prefix} must be 127.X.Y (loopback only)`);
  return `${prefix}.${index}`;
}

export function nodeName(index: number): string {
  return `cp${index}`;
}

/** Paths inside a node that get a private copy per node (bind-mounted from the node's fs/ folder). */
export const NODE_DIR_MOUNTS = [
  '/etc/kubernetes',
  '/etc/etcd',
  '/etc/prometheus',
  '/etc/systemd/system',
  '/etc/ssl/certs',
  '/var/lib/etcd',
  '/var/lib/kubelet',
  '/var/lib/kcarun',
  '/var/backups',
  '/root',
] as const;

export class LabPaths {
  constructor(readonly root: string) {}
  get state(): string { return join(this.root, 'state.json'); }
  get events(): string { return join(this.root, 'events.jsonl'); }
  get sshDir(): string { return join(this.root, 'ssh'); }
  get userKey(): string { return join(this.root, 'ssh', 'id_ed25519'); }
  get authorizedKeys(): string { return join(this.root, 'ssh', 'authorized_keys'); }
  get knownHosts(): string { return join(this.root, 'ssh', 'known_hosts'); }
  get pkiDir(): string { return join(this.root, 'pki'); }
  /** The CAs as they were at `up`: verify compares every leaf against these. */
  get originalCaDir(): string { return join(this.root, 'pki', 'original-cas'); }
  get binDir(): string { return join(this.root, 'bin'); }
  /** The lab's stand-ins in one bundle (lab/stand-ins-bundle.ts). */
  get standInsBundle(): string { return join(this.root, 'bin', '.lab-stand-ins.mjs'); }
  get trafficDir(): string { return join(this.root, 'traffic'); }
  node(name: string): NodePaths { return new NodePaths(join(this.root, 'nodes', name)); }
}

export class NodePaths {
  constructor(readonly root: string) {}
  /** The node's view of an absolute path that is bind-mounted (e.g. /etc/kubernetes/pki/ca.crt). */
  fs(absPath: string): string { return join(this.root, 'fs', absPath); }
  get run(): string { return join(this.root, 'run'); }
  get logs(): string { return join(this.root, 'logs'); }
  get unitsRun(): string { return join(this.root, 'run', 'units'); }
  get sshdConfig(): string { return join(this.root, 'sshd', 'sshd_config'); }
  get hostKey(): string { return join(this.root, 'sshd', 'ssh_host_ed25519_key'); }
  get initScript(): string { return join(this.root, 'init.sh'); }
  get holderPidFile(): string { return join(this.root, 'run', 'holder.pid'); }
  get sshdPidFile(): string { return join(this.root, 'run', 'sshd.pid'); }
}
