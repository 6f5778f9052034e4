/**
 * `up`: makes the old PKI with openssl, writes each node's layout, starts every node's namespace, sshd,
 * etcd and control plane from the layout's own configuration, seeds the cluster and waits until the
 * controllers work. Everything started is recorded in state.json first, so `down` can always clean up.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { dirname, join } from 'node:path';
import { DEFAULT_LAB_DIR, LabPaths, NODE_DIR_MOUNTS, nodeIp, nodeName, workerIp, workerName } from '../lab-paths.js';
import { readState, writeState, type LabState, type Layout } from '../lab-state.js';
import { caValidity, issueCertificate, leafValidity, type KeyPair } from '../openssl.js';
import { pool, runOk, sleep } from '../exec.js';
import { layoutByName } from '../layouts/index.js';
import { etcHosts } from '../layouts/node-pki.js';
import type { LabCas, LabNode } from '../layouts/types.js';
import { buildComponents } from '../components-bundle.js';
import { initScript, inNode, sshdConfig, startNode, writeExecutable } from '../node-runtime.js';
import { waitForPort } from '../net.js';
import { adminRequest, etcdClientFor } from '../lab-clients.js';
import { labDown } from './down.js';
import { pidsInMountNamespace } from '../processes.js';

export interface UpOptions {
  dir?: string;
  nodes?: number;
  /** Worker nodes (kubelet only), w1..wN on PREFIX.101..; kubeadm layout only. */
  workers?: number;
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

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    await sleep(250);
  }
  throw new Error(`lab up: timed out waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
}

export async function labUp(opts: UpOptions = {}): Promise<LabState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(opts.dir ?? DEFAULT_LAB_DIR);
  const count = opts.nodes ?? 3;
  const layout = layoutByName(opts.layout ?? 'kubeadm');
  const sshPort = opts.sshPort ?? 22;
  const caDaysLeft = opts.caDaysLeft ?? 30;
  if (count < 1 || count > 9) throw new Error('--nodes must be 1..9');
  const workerCount = opts.workers ?? 0;
  if (!Number.isInteger(workerCount) || workerCount < 0 || workerCount > 150) throw new Error('--workers must be 0..150');
  if (workerCount > 0 && !layout.writeWorker) throw new Error(`--workers: the ${layout.name} layout has no worker nodes (kubeadm has)`);
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
  const workers: LabNode[] = Array.from({ length: workerCount }, (_, i) => ({ index: i + 1, name: workerName(i + 1), ip: workerIp(i + 1, opts.ipPrefix) }));
  const everyNode = [...nodes, ...workers];

  // SSH: one user key for the operator, one host key per node, a known_hosts file for all of them.
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kcarun-lab', '-f', paths.userKey]);
  writeFileSync(paths.authorizedKeys, readFileSync(`${paths.userKey}.pub`));
  chmodSync(paths.authorizedKeys, 0o600);
  const knownHosts: string[] = [];
  for (const n of everyNode) {
    const np = paths.node(n.name);
    mkdirSync(dirname(np.hostKey), { recursive: true });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${n.name}`, '-f', np.hostKey]);
    const pub = readFileSync(`${np.hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    knownHosts.push(`${sshPort === 22 ? n.ip : `[${n.ip}]:${sshPort}`} ${pub}`);
  }
  writeFileSync(paths.knownHosts, `${knownHosts.join('\n')}\n`);

  log(`lab: making the old PKI with openssl (CAs expire in ${caDaysLeft} days) and the ${layout.name} layout for ${count} nodes${workerCount ? ` and ${workerCount} workers` : ''}`);
  const [cas] = await Promise.all([makeCas(paths, caDaysLeft), buildComponents(paths)]);
  const leafV = leafValidity(new Date(), caValidity(new Date(), caDaysLeft));
  await pool(3, everyNode.map((node) => async () => {
    const np = paths.node(node.name);
    for (const m of [...NODE_DIR_MOUNTS, ...(layout.extraMounts ?? [])]) mkdirSync(np.fs(m), { recursive: true });
    cpSync('/etc/ssl/certs', np.fs('/etc/ssl/certs'), { recursive: true, verbatimSymlinks: true });
    chmodSync(np.fs('/root'), 0o700);
    writeFileSync(np.fs('/etc/hosts'), etcHosts(everyNode));
    const ctx = { paths, nodes, node, nodePaths: np, cas, leafValidity: leafV };
    await (workers.includes(node) ? layout.writeWorker!(ctx) : layout.writeNode(ctx));
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
  const state: LabState = { dir: paths.root, layout: layout.name, nodes: [], ...(workerCount ? { workers: [] } : {}), sshPort, caDaysLeft, createdAt: new Date().toISOString(), createdMountPoints, hostPids: {}, seedKeys: SEED_KEYS };
  writeState(paths, state);

  log('lab: starting node namespaces and sshd');
  for (const node of nodes) {
    state.nodes.push(await startNode(paths, node));
    writeState(paths, state);
  }
  for (const node of workers) {
    state.workers!.push(await startNode(paths, node));
    writeState(paths, state);
  }
  for (const n of [...state.nodes, ...(state.workers ?? [])]) {
    if (!(await waitForPort(n.ip, sshPort, 10_000))) throw new Error(`sshd of ${n.name} does not listen on ${n.ip}:${sshPort} (see ${paths.node(n.name).logs}/sshd.log)`);
  }

  log(`lab: starting ${layout.startUnits.join(', ')} on every node`);
  for (const unit of layout.startUnits) {
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
  if (layout.etcdOnly) return finishEtcdOnly(paths, layout, state, endpoints, { t0, count, dir: opts.dir, log });
  await waitFor('kube-apiserver /readyz on every node', 30_000, async () => {
    for (const n of state.nodes) {
      const r = await adminRequest(paths, layout, n, '/readyz');
      if (r.status !== 200) return false;
    }
    return true;
  });

  log('lab: seeding the cluster');
  // 50 puts at once through one client: on a loaded 2-core machine some take longer than the client's
  // default 4 s of retries (seen at load 30-100), which failed the whole `up`; 30 s is still a bound.
  const etcd = etcdClientFor(paths, layout, state.nodes[0]!, endpoints, 30_000);
  await Promise.all(Array.from({ length: SEED_KEYS }, (_, i) => etcd.put(`/kcarun-lab/seed/${String(i).padStart(4, '0')}`, seedValue(i))));
  const first = state.nodes[0]!;
  const put = async (path: string, body: unknown): Promise<void> => {
    const r = await adminRequest(paths, layout, first, path, { method: 'PUT', body });
    if (r.status >= 300) throw new Error(`seed ${path}: HTTP ${r.status} ${r.body}`);
  };
  const namespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
  for (const ns of namespaces) {
    await put(`/api/v1/namespaces/${ns}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await put(`/api/v1/namespaces/${ns}/serviceaccounts/default`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
  }
  for (const sa of ['kube-proxy', 'coredns']) await put(`/api/v1/namespaces/kube-system/serviceaccounts/${sa}`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
  await put('/apis/apps/v1/namespaces/kube-system/deployments/coredns', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'coredns' }, spec: { replicas: Math.min(2, count), template: { metadata: { annotations: {} } } } });
  await put('/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'kube-proxy' }, spec: { template: { metadata: { annotations: {} } } } });
  await put('/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef', { apiVersion: 'v1', kind: 'Secret', type: 'bootstrap.kubernetes.io/token', data: { 'token-id': Buffer.from('abcdef').toString('base64') } });
  const rootCa = readFileSync(cas.kubernetes.certFile, 'utf8');
  if (layout.name === 'kubeadm') {
    // What `kubeadm init` publishes for joining nodes: a kubeconfig with the cluster CA and endpoint.
    const kubeconfig = stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: '', cluster: { 'certificate-authority-data': Buffer.from(rootCa).toString('base64'), server: `https://${first.ip}:6443` } }],
      contexts: null,
      'current-context': '',
      preferences: {},
      users: null,
    });
    await put('/api/v1/namespaces/kube-public/configmaps/cluster-info', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info' }, data: { kubeconfig } });
  }
  await waitFor('kube-root-ca.crt in every namespace (controller-manager leader)', 30_000, async () => {
    for (const ns of namespaces) {
      const r = await adminRequest(paths, layout, first, `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`);
      if (r.status !== 200 || (JSON.parse(r.body) as { data?: Record<string, string> }).data?.['ca.crt'] !== rootCa) return false;
    }
    return true;
  });

  const prometheusNode = state.nodes[0]!;
  const r = await inNode(prometheusNode, ['systemctl', 'start', 'prometheus']);
  if (r.rc !== 0) throw new Error(`${prometheusNode.name}: systemctl start prometheus failed: ${r.stderr.trim()}`);
  if (state.workers?.length) await startWorkers(paths, layout, state, log);

  state.readyAt = new Date().toISOString();
  writeState(paths, state);
  log(`lab: ${count} ${layout.name} nodes${workerCount ? ` and ${workerCount} workers` : ''} up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${paths.root}); inventory: npm run lab -- inventory${opts.dir ? ` --dir ${opts.dir}` : ''}`);
  return state;
}

/**
 * Workers: their kubelets start once the control plane serves (8 at a time: each start is a node
 * process), then every worker must hold its Lease in kube-node-lease (its kubelet reached an apiserver
 * with its client certificate; kcarun's kube probe reads the same Leases).
 */
async function startWorkers(paths: LabPaths, layout: ReturnType<typeof layoutByName>, state: LabState, log: (l: string) => void): Promise<void> {
  const workers = state.workers ?? [];
  log(`lab: starting the kubelet on ${workers.length} workers`);
  await pool(8, workers.map((n) => async () => {
    const r = await inNode(n, ['systemctl', 'start', 'kubelet']);
    if (r.rc !== 0) throw new Error(`${n.name}: systemctl start kubelet failed (rc ${r.rc}): ${r.stderr.trim()} ${r.stdout.trim()}`);
  }));
  const first = state.nodes[0]!;
  await waitFor('a Lease of every worker', 60_000 + 500 * workers.length, async () => {
    const r = await adminRequest(paths, layout, first, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
    if (r.status !== 200) return false;
    const held = new Set(((JSON.parse(r.body) as { items?: { metadata?: { name?: string } }[] }).items ?? []).map((l) => l.metadata?.name));
    const missing = workers.map((w) => w.name).filter((w) => !held.has(w));
    if (missing.length) throw new Error(`no Lease yet for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    return true;
  });
}

/** etcd alone: seed the keys, start the monitoring client, and record the lab as ready. */
async function finishEtcdOnly(paths: LabPaths, layout: ReturnType<typeof layoutByName>, state: LabState, endpoints: string[], o: { t0: number; count: number; dir?: string; log: (l: string) => void }): Promise<LabState> {
  const etcd = etcdClientFor(paths, layout, state.nodes[0]!, endpoints);
  // One at a time, each retried: a busy machine can hold a put past the client's 2 s timeout.
  for (let i = 0; i < SEED_KEYS; i++) {
    await waitFor(`seed key ${i}`, 30_000, async () => {
      await etcd.put(`/kcarun-lab/seed/${String(i).padStart(4, '0')}`, seedValue(i));
      return true;
    });
  }
  const prometheusNode = state.nodes.find((n) => n.name === layout.etcdOnly?.node) ?? state.nodes[0]!;
  const r = await inNode(prometheusNode, ['systemctl', 'start', 'prometheus']);
  if (r.rc !== 0) throw new Error(`${prometheusNode.name}: systemctl start prometheus failed: ${r.stderr.trim()}`);
  state.readyAt = new Date().toISOString();
  writeState(paths, state);
  o.log(`lab: ${o.count} ${layout.name} nodes up in ${((Date.now() - o.t0) / 1000).toFixed(1)} s (${paths.root}); inventory: npm run lab -- inventory${o.dir ? ` --dir ${o.dir}` : ''}`);
  return state;
}
