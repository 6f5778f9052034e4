/**
 * `up` of a loopback lab (etcd-only: Debian's real etcd): makes the old PKI with openssl, writes each
 * node's layout, starts every node's namespace, sshd and etcd from the layout's own configuration,
 * seeds etcd and starts the Prometheus stand-in. Everything started is recorded in state.json first,
 * so `down` can always clean up. (The real labs' `up` is lab/real/up.ts; it shares makeCas and the
 * mount-point marker from here.)
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths, NODE_DIR_MOUNTS, nodeIp, nodeName } from '../lab-paths.js';
import { readState, writeState, type LabState, type Layout } from '../lab-state.js';
import { caValidity, issueCertificate, leafValidity, type KeyPair } from '../openssl.js';
import { pool, runOk, waitFor } from '../exec.js';
import { layoutByName } from '../layouts/index.js';
import { etcHosts } from '../layouts/node-pki.js';
import type { LabCas, LabNode } from '../layouts/types.js';
import { buildStandIns } from '../stand-ins-bundle.js';
import { initScript, inNode, sshdConfig, startNode, writeExecutable } from '../node-runtime.js';
import { waitForPort } from '../net.js';
import { etcdClientFor } from '../lab-clients.js';
import { labDown } from './down.js';
import { pidsInMountNamespace } from '../processes.js';

export interface UpOptions {
  dir?: string;
  nodes?: number;
  /** etcd-only, the one loopback layout left (the emulated kubeadm lab is retired, issue 18). */
  layout?: Layout;
  caDaysLeft?: number;
  sshPort?: number;
  /** First three octets of the node addresses (127.X.Y), default 127.0.1. */
  ipPrefix?: string;
  log?: (line: string) => void;
}

export const SEED_KEYS = 50;

export const MOUNT_POINT_MARKER = '.kcarun-lab-mount-point';

export function seedValue(i: number): string {
  return createHash('sha256').update(`kcarun-lab-seed-${i}`).digest('hex');
}

export async function makeCas(paths: LabPaths, daysLeft: number): Promise<LabCas> {
  const dir = join(paths.pkiDir, 'ca');
  mkdirSync(dir, { recursive: true });
  mkdirSync(paths.originalCaDir, { recursive: true });
  const validity = caValidity(new Date(), daysLeft);
  const make = async (name: string, cn: string): Promise<KeyPair> => {
    const kp = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    await issueCertificate({ subject: [['CN', cn]], usage: 'ca', validity, ...kp });
    cpSync(kp.certFile, join(paths.originalCaDir, `${name}.crt`));
    return kp;
  };
  const [kubernetes, etcd, frontProxy] = await Promise.all([make('kubernetes', 'kubernetes'), make('etcd', 'etcd-ca'), make('front-proxy', 'front-proxy-ca')]);
  return { kubernetes: kubernetes!, etcd: etcd!, frontProxy: frontProxy! };
}

export async function labUp(opts: UpOptions = {}): Promise<LabState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const count = opts.nodes ?? 3;
  const layout = layoutByName(opts.layout ?? 'etcd-only');
  const sshPort = opts.sshPort ?? 22;
  const caDaysLeft = opts.caDaysLeft ?? 30;
  if (count < 1 || count > 9) throw new Error('--nodes must be 1..9');
  const t0 = Date.now();

  const previous = readState(paths);
  if (previous) {
    if (previous.nodes.some((n) => pidsInMountNamespace(n.mntNs).length > 0)) throw new Error(`a lab is already up in ${paths.root}; run \`npm run lab -- down\` first`);
    await labDown({ dir: paths.root, purge: true, log: () => undefined });
  }
  rmSync(paths.root, { recursive: true, force: true });
  mkdirSync(paths.root, { recursive: true, mode: 0o755 });
  writeFileSync(paths.events, '');

  const nodes: LabNode[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, name: nodeName(i + 1), ip: nodeIp(i + 1, opts.ipPrefix) }));

  // SSH: one user key for the operator, one host key per node, a known_hosts file for all of them.
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kcarun-lab', '-f', paths.userKey]);
  writeFileSync(paths.authorizedKeys, readFileSync(`${paths.userKey}.pub`));
  chmodSync(paths.authorizedKeys, 0o600);
  const knownHosts: string[] = [];
  for (const n of nodes) {
    const np = paths.node(n.name);
    mkdirSync(dirname(np.hostKey), { recursive: true });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${n.name}`, '-f', np.hostKey]);
    const pub = readFileSync(`${np.hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    knownHosts.push(`${sshPort === 22 ? n.ip : `[${n.ip}]:${sshPort}`} ${pub}`);
  }
  writeFileSync(paths.knownHosts, `${knownHosts.join('\n')}\n`);

  log(`lab: making the old PKI with openssl (CAs expire in ${caDaysLeft} days) and the ${layout.name} layout for ${count} nodes`);
  const [cas] = await Promise.all([makeCas(paths, caDaysLeft), buildStandIns(paths)]);
  const leafV = leafValidity(new Date(), caValidity(new Date(), caDaysLeft));
  await pool(3, nodes.map((node) => async () => {
    const np = paths.node(node.name);
    for (const m of [...NODE_DIR_MOUNTS, ...(layout.extraMounts ?? [])]) mkdirSync(np.fs(m), { recursive: true });
    cpSync('/etc/ssl/certs', np.fs('/etc/ssl/certs'), { recursive: true, verbatimSymlinks: true });
    chmodSync(np.fs('/root'), 0o700);
    writeFileSync(np.fs('/etc/hosts'), etcHosts(nodes));
    await layout.writeNode({ paths, nodes, node, nodePaths: np, cas, leafValidity: leafV });
    writeFileSync(np.sshdConfig, sshdConfig(paths, node, sshPort));
    writeExecutable(np.initScript, initScript(paths, node, sshPort, layout.extraMounts));
  }));

  // Bind mounts need their mount points on the host. Linux detaches every namespace's mounts on a
  // directory that is removed, so the mount points stay (with a marker file that makes rmdir fail):
  // one lab's `down` must never pull the floor from under another lab that is still up.
  const createdMountPoints: string[] = [];
  for (const m of [...NODE_DIR_MOUNTS, ...(layout.extraMounts ?? [])]) {
    if (!existsSync(m)) {
      mkdirSync(m, { recursive: true });
      createdMountPoints.push(m);
    }
    if (createdMountPoints.includes(m) || existsSync(join(m, MOUNT_POINT_MARKER))) {
      writeFileSync(join(m, MOUNT_POINT_MARKER), 'Mount point of the kcarun lab (lab/commands/up.ts); keep it while any lab runs.\n');
    }
  }
  const state: LabState = { dir: paths.root, layout: layout.name, nodes: [], sshPort, caDaysLeft, createdAt: new Date().toISOString(), createdMountPoints, hostPids: {}, seedKeys: SEED_KEYS };
  writeState(paths, state);

  log('lab: starting node namespaces and sshd');
  for (const node of nodes) {
    state.nodes.push(await startNode(paths, node));
    writeState(paths, state);
  }
  for (const n of state.nodes) {
    if (!(await waitForPort(n.ip, sshPort, 10_000))) throw new Error(`sshd of ${n.name} does not listen on ${n.ip}:${sshPort} (see ${paths.node(n.name).logs}/sshd.log)`);
  }

  for (const unit of layout.startUnits) {
    log(`lab: systemctl start ${unit} on every node`);
    await Promise.all(state.nodes.map(async (n) => {
      const r = await inNode(n, ['systemctl', 'start', unit]);
      if (r.rc !== 0) throw new Error(`${n.name}: systemctl start ${unit} failed (rc ${r.rc}): ${r.stderr.trim()} ${r.stdout.trim()}`);
    }));
  }

  for (const argv of layout.startCommands ?? []) {
    log(`lab: ${argv.join(' ')} on every node`);
    await Promise.all(state.nodes.map(async (n) => {
      const r = await inNode(n, argv);
      if (r.rc !== 0) throw new Error(`${n.name}: ${argv.join(' ')} failed (rc ${r.rc}): ${r.stderr.trim()} ${r.stdout.trim()}`);
    }));
  }

  const endpoints = state.nodes.map((n) => `https://${n.ip}:2379`);
  await waitFor('etcd on every node', 40_000, async () => {
    for (const n of state.nodes) await etcdClientFor(paths, layout, n, [`https://${n.ip}:2379`], 0).put('/kcarun-lab/health', n.name);
    return true;
  });
  log('lab: seeding etcd');
  const etcd = etcdClientFor(paths, layout, state.nodes[0]!, endpoints);
  // One at a time, each retried: a busy machine can hold a put past the client's 2 s timeout.
  for (let i = 0; i < SEED_KEYS; i++) {
    await waitFor(`seed key ${i}`, 30_000, async () => {
      await etcd.put(`/kcarun-lab/seed/${String(i).padStart(4, '0')}`, seedValue(i));
      return true;
    });
  }

  // The monitoring client (Prometheus stand-in) on cp1, as the layout's files name it.
  const prometheusNode = state.nodes[0]!;
  const r = await inNode(prometheusNode, ['systemctl', 'start', 'prometheus']);
  if (r.rc !== 0) throw new Error(`${prometheusNode.name}: systemctl start prometheus failed: ${r.stderr.trim()}`);
  state.readyAt = new Date().toISOString();
  writeState(paths, state);
  log(`lab: ${count} ${layout.name} nodes up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${paths.root}); inventory: npm run lab -- inventory${opts.dir ? ` --dir ${opts.dir}` : ''}`);
  return state;
}
