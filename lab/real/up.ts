/**
 * `up --layout kubeadm-real`: a genuine kubeadm HA cluster on this machine (issue 18). Real kubeadm
 * init/join, kubelet, containerd + runc, and the control plane and etcd as static-pod containers, from
 * the pinned builds in the cache folder (scripts/build-lab-binaries.sh). `up --layout binary-real`:
 * the same binaries as a hand-installed cluster (the binary layout's units, run by the lab's unit
 * supervisor). See docs/lab.md.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { LabPaths } from '../lab-paths.js';
import { isRealLayout, readState, writeState, type LabState, type NodeState, type RealLabState } from '../lab-state.js';
import { caValidity, issueCertificate, leafValidity } from '../openssl.js';
import { run, runOk, sleep } from '../exec.js';
import { sshdConfig } from '../node-runtime.js';
import { waitForPort } from '../net.js';
import { MOUNT_POINT_MARKER } from '../commands/up.js';
import { cacheBin, cacheDir, imageRefs, imageTarball, LAB_IMAGES, NODE_BINARIES, readVersions, requireArtifacts } from './artifacts.js';
import { DEFAULT_SUBNET, makePlan, type PlannedNode, type RealPlan } from './plan.js';
import {
  CONTAINERD_UNIT, KUBEADM_DROPIN, KUBELET_UNIT, REAL_NODE_DIR_MOUNTS, REAL_NODE_FILE_MOUNTS, cniConfig, containerdConfig, etcHostsReal,
  haproxyConfig, lbInitScript, realInitScript, resolvConfReal,
} from './node-files.js';
import { cgroupHierarchies, ensureUnreachableRoute, linkExists, makeNodeCgroups, nsOf, sysctlsBeforeRealLabs } from './host.js';
import { realDown, realNodeAlive } from './down.js';
import { writeEmbeddedKubeconfig } from './kubeconfig.js';
import { writeBinaryNode } from './binary.js';
import { makeCas } from '../commands/up.js';
import { caCertHash, kubeadmConfigs, kubeadmSecrets } from './kubeadm-config.js';
import { KUBESPRAY_UNITS, writeKubesprayNodes } from './kubespray.js';
import type { LabCas } from '../layouts/types.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface RealUpOptions {
  dir: string;
  /**
   * kubeadm (default): `kubeadm init` + `kubeadm join --control-plane`, static pods. binary: the
   * hand-installed layout of lab/real/binary.ts (units with the flags, /etc/etcd/ssl,
   * /etc/kubernetes/ssl) running the same real binaries under the lab's unit supervisor. kubespray:
   * kubeadm's control plane with etcd on the host, as kubespray lays it out (lab/real/kubespray.ts).
   */
  layout?: 'kubeadm' | 'binary' | 'kubespray';
  nodes?: number;
  subnet?: string;
  caDaysLeft?: number;
  log?: (line: string) => void;
  /** Development aid: stop after the namespaces, sshd and containerd are up (no images, no kubeadm). */
  until?: 'namespaces';
}

const NODE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };

/** Runs argv inside a node (mount, UTS and network namespaces), with a clean environment (no proxies). */
export function inRealNode(holderPid: number, argv: string[], input?: string): ReturnType<typeof run> {
  return run('nsenter', ['-t', String(holderPid), '-m', '-u', '-n', '--', ...argv], { env: NODE_ENV, input });
}

export async function inRealNodeOk(n: NodeState, argv: string[]): Promise<string> {
  const r = await inRealNode(n.holderPid, argv);
  if (r.rc !== 0) throw new Error(`${n.name}: ${argv.join(' ')} exited ${r.rc}: ${(r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n')}`);
  return r.stdout;
}

/** The operator's kubectl (from the cache) with the lab's admin.conf, in the machine's namespace. */
export function kubectl(paths: LabPaths, args: string[]): ReturnType<typeof run> {
  return run(join(cacheBin(), 'kubectl'), ['--kubeconfig', adminConf(paths), '--request-timeout=10s', ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/root' } });
}

/**
 * The admin kubeconfig for the operator's kubectl on the machine: kubeadm's admin.conf of cp1 as it is
 * (its PEM is embedded), or the binary layout's admin.kubeconfig copied with its files embedded
 * (DIR/admin.kubeconfig, 0600), each call, so it follows a rotation.
 */
export function adminConf(paths: LabPaths): string {
  const kubeadmConf = paths.node('cp1').fs('/etc/kubernetes/admin.conf');
  if (existsSync(kubeadmConf)) return kubeadmConf;
  return writeEmbeddedKubeconfig((p) => paths.node('cp1').fs(p), '/etc/kubernetes/admin.kubeconfig', join(paths.root, 'admin.kubeconfig'));
}

export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    await sleep(everyMs);
  }
  throw new Error(`lab up: timed out after ${timeoutMs / 1000} s waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
}

/** Starts `unshare ... bash script` detached; returns the unshare pid and, once written, the holder's. */
async function startNamespace(unshareArgs: string[], script: string, runDir: string, logFile: string): Promise<{ unsharePid: number; holderPid: number }> {
  mkdirSync(runDir, { recursive: true });
  const log = openSync(logFile, 'a');
  const child = spawn('unshare', [...unshareArgs, '--', 'bash', script], { detached: true, stdio: ['ignore', log, log], env: { ...NODE_ENV } });
  closeSync(log);
  child.unref();
  const holderFile = join(runDir, 'holder.pid');
  const holderPid = await waitFor(`namespace holder of ${script}`, 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`${script} exited ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-500)}`);
    return existsSync(holderFile) && readFileSync(holderFile, 'utf8').trim() ? Number(readFileSync(holderFile, 'utf8')) : undefined;
  }, 50);
  return { unsharePid: child.pid!, holderPid };
}

/** A veth from the lab's bridge into the namespace of `pid`, named eth0 there, with `ip`/24. */
async function plugIn(pid: number, hostEnd: string, bridge: string, ip: string, extra: string[][] = []): Promise<void> {
  await runOk('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
  await runOk('ip', ['link', 'set', hostEnd, 'master', bridge]);
  await runOk('ip', ['link', 'set', hostEnd, 'up']);
  const ns = (args: string[]): Promise<string> => runOk('nsenter', ['-t', String(pid), '-n', '--', ...args]);
  await ns(['ip', 'link', 'set', 'lo', 'up']);
  await ns(['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await ns(['ip', 'link', 'set', 'eth0', 'up']);
  for (const a of extra) await ns(a);
}

export async function realUp(opts: RealUpOptions): Promise<LabState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = Date.now();
  const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  if (opts.until !== 'namespaces') requireArtifacts();
  const paths = new LabPaths(resolve(opts.dir));
  const plan = makePlan(opts.subnet ?? DEFAULT_SUBNET, opts.nodes ?? 3);
  const caDaysLeft = opts.caDaysLeft ?? 30;
  const versions = readVersions();
  const images = opts.until === 'namespaces' ? { pause: 'registry.k8s.io/pause:3.10.2' } as ReturnType<typeof imageRefs> : imageRefs();
  const binary = opts.layout === 'binary';
  const kubespray = opts.layout === 'kubespray';

  const previous = readState(paths);
  if (previous) {
    if (!isRealLayout(previous.layout)) throw new Error(`${paths.root} holds an emulated lab: down it with --purge first`);
    if (realNodeAlive(paths, previous)) {
      throw new Error(`a lab is already up in ${paths.root}; run \`npm run lab -- down --dir ${paths.root}\` first`);
    }
    await realDown({ dir: paths.root, purge: true, log: () => undefined });
  }
  if (await linkExists(plan.bridge)) throw new Error(`bridge ${plan.bridge} exists: another lab uses ${plan.range} (down it, or choose another --subnet)`);

  // Network safety first: nothing of the lab's range may ever leave by the default route.
  const addedUnreachableRoute = await ensureUnreachableRoute(plan.range);
  // Another real lab's kubelets may have changed them already: take the values from before the first lab.
  const sysctlsBefore = await sysctlsBeforeRealLabs(plan.bridge);

  rmSync(paths.root, { recursive: true, force: true });
  mkdirSync(paths.root, { recursive: true, mode: 0o755 });
  writeFileSync(paths.events, '');

  // SSH: the operator's key, one host key per node, known_hosts.
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kcarun-lab', '-f', paths.userKey]);
  writeFileSync(paths.authorizedKeys, readFileSync(`${paths.userKey}.pub`));
  chmodSync(paths.authorizedKeys, 0o600);
  const known: string[] = [];
  for (const n of plan.nodes) {
    const np = paths.node(n.name);
    mkdirSync(dirname(np.hostKey), { recursive: true });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${n.name}`, '-f', np.hostKey]);
    known.push(knownHostsLine(n.ip, np.hostKey));
  }
  writeFileSync(paths.knownHosts, `${known.join('\n')}\n`);

  // The node's /usr/local/bin: the built binaries (as links) and the lab's systemctl + unit supervisor.
  mkdirSync(paths.binDir, { recursive: true });
  for (const b of [...NODE_BINARIES, ...(binary ? BINARY_LAYOUT_BINARIES : kubespray ? KUBESPRAY_HOST_BINARIES : [])]) symlinkSync(join(cacheBin(), b), join(paths.binDir, b));
  for (const [file, name] of [['systemctl.sh', 'systemctl'], ['unit-supervisor.sh', 'kcarun-lab-unit-supervisor']] as const) {
    writeFileSync(join(paths.binDir, name), readFileSync(join(here, 'files', file), 'utf8').replaceAll('@LAB_DIR@', paths.root));
    chmodSync(join(paths.binDir, name), 0o755);
  }

  log(`lab: making the CAs with openssl (they expire in ${caDaysLeft} days)`);
  const hierarchies = cgroupHierarchies();
  if (binary) await writeBinaryNodes(paths, plan, caDaysLeft, { hosts: etcHostsReal(plan), resolv: resolvConfReal(plan), pause: images.pause, hierarchies });
  else if (kubespray) {
    const cluster = await writeKubesprayNodes(paths, plan, caDaysLeft);
    const caHash = await caCertHash(paths.node('cp1').fs(`${cluster.certificatesDir}/ca.crt`));
    const { token, certificateKey } = kubeadmSecrets();
    for (const n of plan.nodes) {
      writeNodeFiles(paths, n, {
        hosts: etcHostsReal(plan), resolv: resolvConfReal(plan), pause: images.pause, hierarchies,
        kubeadm: kubeadmConfigs(plan, n, token, certificateKey, caHash, cluster), layoutUnits: KUBESPRAY_UNITS, ownEtc: true,
      });
    }
  } else {
    // The old CAs, backdated with openssl: kubeadm finds ca.crt/ca.key (and etcd's, front-proxy's) in
    // /etc/kubernetes/pki of the first node and uses them instead of making its own (its "custom CA" path).
    const validity = caValidity(new Date(), caDaysLeft);
    const cp1pki = paths.node('cp1').fs('/etc/kubernetes/pki');
    mkdirSync(join(cp1pki, 'etcd'), { recursive: true });
    mkdirSync(paths.originalCaDir, { recursive: true });
    await Promise.all(([['ca', 'kubernetes'], ['etcd/ca', 'etcd-ca'], ['front-proxy-ca', 'front-proxy-ca']] as const).map(async ([file, cn]) => {
      await issueCertificate({ subject: [['CN', cn]], usage: 'ca', validity, certFile: join(cp1pki, `${file}.crt`), keyFile: join(cp1pki, `${file}.key`) });
      copyFileSync(join(cp1pki, `${file}.crt`), join(paths.originalCaDir, `${file.replace('/', '-')}.crt`));
    }));
    const caHash = await caCertHash(join(cp1pki, 'ca.crt'));
    const { token, certificateKey } = kubeadmSecrets();
    for (const n of plan.nodes) writeNodeFiles(paths, n, { hosts: etcHostsReal(plan), resolv: resolvConfReal(plan), pause: images.pause, kubeadm: kubeadmConfigs(plan, n, token, certificateKey, caHash), hierarchies });
  }

  // Mount points missing on the machine are created and stay (marker file), as in the emulated lab.
  const createdMountPoints: string[] = [];
  for (const m of [...REAL_NODE_DIR_MOUNTS]) {
    if (!existsSync(m)) {
      mkdirSync(m, { recursive: true });
      createdMountPoints.push(m);
      writeFileSync(join(m, MOUNT_POINT_MARKER), 'Mount point of the kcarun lab (lab/real/up.ts); keep it while any lab runs.\n');
    }
  }
  for (const f of REAL_NODE_FILE_MOUNTS) if (!existsSync(f)) throw new Error(`${f} is missing on this machine`);

  const lbDir = join(paths.root, 'lb');
  mkdirSync(join(lbDir, 'run'), { recursive: true });
  writeFileSync(join(lbDir, 'haproxy.cfg'), haproxyConfig(plan));
  writeFileSync(join(lbDir, 'init.sh'), lbInitScript(join(lbDir, 'run'), join(lbDir, 'haproxy.cfg'), join(lbDir, 'haproxy.log')));

  const real: RealLabState = {
    range: plan.range,
    bridge: plan.bridge,
    bridgeIp: plan.bridgeIp,
    endpoint: plan.endpoint,
    kubernetesServiceIp: plan.kubernetesServiceIp,
    addedUnreachableRoute,
    lb: { unsharePid: 0, holderPid: 0, netNs: '', ip: plan.lbIp, veth: plan.lbVeth },
    veths: plan.nodes.map((n) => n.veth),
    sysctlsBefore,
    cacheDir: cacheDir(),
    cgroupHierarchies: hierarchies,
  };
  const state: LabState = {
    dir: paths.root, layout: binary ? 'binary-real' : kubespray ? 'kubespray-real' : 'kubeadm-real', nodes: [], sshPort: 22, caDaysLeft, createdAt: new Date().toISOString(), createdMountPoints, hostPids: {}, seedKeys: 0, real,
  };
  writeState(paths, state);

  log(`lab: bridge ${plan.bridge} ${plan.bridgeIp}/24, load balancer ${plan.endpoint}, ${plan.nodes.length} node namespaces`);
  await runOk('ip', ['link', 'add', plan.bridge, 'type', 'bridge']);
  await runOk('ip', ['addr', 'add', `${plan.bridgeIp}/24`, 'dev', plan.bridge]);
  await runOk('ip', ['link', 'set', plan.bridge, 'up']);

  const lb = await startNamespace(['--net', '--fork'], join(lbDir, 'init.sh'), join(lbDir, 'run'), join(lbDir, 'init.log'));
  real.lb = { ...real.lb, unsharePid: lb.unsharePid, holderPid: lb.holderPid, netNs: nsOf(lb.holderPid, 'net') ?? '' };
  writeState(paths, state);
  await plugIn(lb.holderPid, plan.lbVeth, plan.bridge, plan.lbIp);
  writeFileSync(join(lbDir, 'run', 'net-ready'), '');

  for (const n of plan.nodes) await startNode(paths, state, n);
  log(`lab: namespaces, sshd and containerd starting (${elapsed()}); importing images`);
  // the binary layout runs no static pods: the pause image is all its pods need
  await Promise.all(state.nodes.map((n) => nodeServicesUp(paths, n, opts.until === 'namespaces' ? [] : binary ? [images.pause] : LAB_IMAGES.map((name) => images[name]))));

  if (opts.until === 'namespaces') return state;
  if (binary) {
    // The units started with the node (etcd, the control plane, the kubelet): the cluster forms on its own.
    log(`lab: etcd, control plane and kubelets starting from their units (${elapsed()})`);
    for (const n of state.nodes) await setUpCni(paths, n);
  } else await kubeadmCluster(paths, state, log, elapsed);
  // routes between the nodes' pod ranges (no overlay): node i reaches node j's pods through node j
  const podCidrs = await podCidrsByNode(paths);
  for (const n of state.nodes) {
    for (const m of state.nodes) if (m !== n) await inRealNodeOk(n, ['ip', 'route', 'replace', podCidrs[m.name]!, 'via', m.ip, 'dev', 'eth0']);
  }
  await waitFor(`${state.nodes.length} Ready nodes`, 180_000, async () => {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'json']);
    if (r.rc !== 0) throw new Error(r.stderr.trim());
    const items = (JSON.parse(r.stdout) as { items: Array<{ status: { conditions: Array<{ type: string; status: string }> } }> }).items;
    return items.length === state.nodes.length && items.every((i) => i.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 1000);
  state.readyAt = new Date().toISOString();
  writeState(paths, state);
  log(`lab: ${state.nodes.length} ${binary ? 'hand-installed' : kubespray ? 'kubespray' : 'kubeadm'} nodes Ready in ${elapsed()} (Kubernetes ${versions.KUBERNETES_VERSION}, etcd ${versions.ETCD_VERSION}); ` +
    `kubectl: ${join(cacheBin(), 'kubectl')} --kubeconfig ${adminConf(paths)}`);
  return state;
}

/** `kubeadm init` on the first node, `kubeadm join --control-plane` on the others, each node's CNI config once it has a pod range. */
async function kubeadmCluster(paths: LabPaths, state: LabState, log: (line: string) => void, elapsed: () => string): Promise<void> {
  const [first, ...others] = state.nodes;
  log(`lab: kubeadm init on ${first!.name} (${elapsed()})`);
  await kubeadm(paths, first!, ['init', '--config', '/root/kubeadm/init.yaml', '--upload-certs'], 'kubeadm-init.log');
  await setUpCni(paths, first!);
  for (const n of others) {
    log(`lab: kubeadm join --control-plane on ${n.name} (${elapsed()})`);
    await kubeadm(paths, n, ['join', '--config', '/root/kubeadm/join.yaml'], 'kubeadm-join.log');
    await setUpCni(paths, n);
  }
}

/** The binary layout's units and what they run, from the cache folder (/usr/local/bin of every node). */
const BINARY_UNITS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
const BINARY_LAYOUT_BINARIES = ['etcd', 'etcdctl', 'etcdutl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
/** kubespray installs etcd, etcdctl and etcdutl in bin_dir (/usr/local/bin) of every etcd host. */
const KUBESPRAY_HOST_BINARIES = ['etcd', 'etcdctl', 'etcdutl'] as const;

/**
 * binary-real: the CAs (DIR/pki/ca, backdated like the emulated lab's), one service-account key pair
 * for all apiservers, then per node the real lab's files (containerd, sshd, init) and the binary
 * layout's own (lab/real/binary.ts: PKI, kubeconfigs, units).
 */
async function writeBinaryNodes(paths: LabPaths, plan: RealPlan, caDaysLeft: number, f: Omit<NodeFileInputs, 'layoutUnits' | 'kubeadm'>): Promise<void> {
  const cas: LabCas = await makeCas(paths, caDaysLeft);
  const serviceAccount = { key: join(paths.pkiDir, 'sa.key'), pub: join(paths.pkiDir, 'sa.pub') };
  await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccount.key]);
  chmodSync(serviceAccount.key, 0o600);
  await runOk('openssl', ['pkey', '-in', serviceAccount.key, '-pubout', '-out', serviceAccount.pub]);
  const leaf = leafValidity(new Date(), caValidity(new Date(), caDaysLeft));
  const nodes = plan.nodes.map((n) => ({ index: n.index, name: n.name, ip: n.ip }));
  for (const n of plan.nodes) {
    writeNodeFiles(paths, n, { ...f, layoutUnits: BINARY_UNITS });
    await writeBinaryNode(
      { paths, nodes, node: nodes[n.index - 1]!, nodePaths: paths.node(n.name), cas, leafValidity: leaf },
      { serviceSubnet: plan.serviceSubnet, podSubnet: plan.podSubnet, lbIp: plan.lbIp, cgroupRoot: n.cgroupRoot, serviceAccount },
    );
  }
}

/** What writeNodeFiles puts in a node's private folders besides the units. */
export interface NodeFileInputs {
  hosts: string;
  resolv: string;
  pause: string;
  /** kubeadm's init/join configurations (control-plane nodes); a worker's join is typed in later. */
  kubeadm?: { init: string; join: string };
  hierarchies: string[];
  /**
   * A layout that writes its own units (binary-real: lab/real/binary.ts; kubespray-real: etcd and
   * its kubelet.service): no kubelet.service with kubeadm's drop-in, and these units started besides containerd.
   */
  layoutUnits?: readonly string[];
  /** The node's own /etc, an overlay on the machine's (NodeFilesInput.ownEtc). */
  ownEtc?: boolean;
}

/** A node's files before its namespace starts: hosts, units (enabled), containerd, kubeadm configs, sshd, init script, cgroups. */
export function writeNodeFiles(paths: LabPaths, n: PlannedNode, f: NodeFileInputs): void {
  const np = paths.node(n.name);
  mkdirSync(np.logs, { recursive: true });
  mkdirSync(join(np.run, 'units'), { recursive: true });
  for (const m of REAL_NODE_DIR_MOUNTS) mkdirSync(np.fs(m), { recursive: true });
  chmodSync(np.fs('/root'), 0o700);
  writeFileSync(np.fs('/etc/hosts'), f.hosts);
  writeFileSync(np.fs('/etc/resolv.conf'), f.resolv);
  writeFileSync(np.fs('/etc/systemd/system/containerd.service'), CONTAINERD_UNIT);
  if (!f.layoutUnits) {
    writeFileSync(np.fs('/etc/systemd/system/kubelet.service'), KUBELET_UNIT);
    mkdirSync(np.fs('/etc/systemd/system/kubelet.service.d'), { recursive: true });
    writeFileSync(np.fs('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf'), KUBEADM_DROPIN);
  }
  writeFileSync(np.fs('/etc/containerd/config.toml'), containerdConfig(f.pause));
  // kubeadm: both units enabled and wanted, as after `systemctl enable --now containerd kubelet`: the
  // kubelet crash-loops every 10 s until kubeadm writes its configuration, as on a real node.
  const units = ['containerd', ...(f.layoutUnits ?? ['kubelet'])];
  for (const u of units) {
    writeFileSync(join(np.run, 'units', `${u}.want`), 'started\n');
    writeFileSync(join(np.run, 'units', `${u}.enabled`), '');
  }
  mkdirSync(np.fs('/root/kubeadm/patches'), { recursive: true });
  // per node (kubeadm --patches): the kubelet's own cgroup root, made beforehand in every hierarchy
  writeFileSync(np.fs('/root/kubeadm/patches/kubeletconfiguration+merge.yaml'), stringify({ cgroupRoot: n.cgroupRoot }));
  if (f.kubeadm) {
    writeFileSync(np.fs('/root/kubeadm/init.yaml'), f.kubeadm.init);
    writeFileSync(np.fs('/root/kubeadm/join.yaml'), f.kubeadm.join);
  }
  writeFileSync(np.sshdConfig, sshdConfig(paths, { index: n.index, name: n.name, ip: n.ip }, 22));
  writeFileSync(np.initScript, realInitScript({ labDir: paths.root, binDir: paths.binDir, nodeRoot: np.root, fs: (p) => np.fs(p), name: n.name, cgroupRoot: n.cgroupRoot, sshdConfig: np.sshdConfig, logs: np.logs, run: np.run, units, ownEtc: f.ownEtc }));
  chmodSync(np.initScript, 0o755);
  makeNodeCgroups(n.cgroupRoot, f.hierarchies);
}

/** Starts the node's namespaces and plugs it into the bridge; the node is in state.json (nodes or workers) from its first pid on. */
export async function startNode(paths: LabPaths, state: LabState, n: PlannedNode, worker = false): Promise<NodeState> {
  const np = paths.node(n.name);
  const ns = await startNamespace(['--mount', '--uts', '--net', '--fork', '--propagation', 'slave'], np.initScript, np.run, join(np.logs, 'init.log'));
  const node: NodeState = { name: n.name, ip: n.ip, unsharePid: ns.unsharePid, holderPid: ns.holderPid, mntNs: nsOf(ns.holderPid, 'mnt') ?? '', netNs: nsOf(ns.holderPid, 'net') ?? '', cgroupRoot: n.cgroupRoot };
  if (worker) (state.workers ??= []).push(node);
  else state.nodes.push(node);
  writeState(paths, state);
  // kubeadm's preflight wants ip_forward; it is per network namespace, so the machine's stays as it is
  await plugIn(ns.holderPid, n.veth, state.real!.bridge, n.ip, [['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']]);
  writeFileSync(join(np.run, 'net-ready'), '');
  return node;
}

/** Waits for the node's sshd and containerd, then imports `images` (tarballs from the cache) into containerd's k8s.io namespace. */
export async function nodeServicesUp(paths: LabPaths, n: NodeState, images: string[]): Promise<void> {
  if (!(await waitForPort(n.ip, 22, 15_000))) throw new Error(`sshd of ${n.name} does not listen on ${n.ip}:22 (see ${paths.node(n.name).logs}/sshd.log)`);
  await waitFor(`containerd on ${n.name}`, 60_000, async () => (await inRealNode(n.holderPid, ['ctr', 'version'])).rc === 0, 200);
  for (const image of images) await inRealNodeOk(n, ['ctr', '-n', 'k8s.io', 'images', 'import', '--platform', 'linux/amd64', imageTarball(image)]);
}

/** The known_hosts line for a node's host key (`ADDRESS TYPE KEY`, the comment dropped). */
export function knownHostsLine(ip: string, hostKey: string): string {
  return `${ip} ${readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}`;
}

/**
 * `kubeadm ARGS --v=1` inside node `n`, its output kept in the node's logs/`logName` (the command
 * line with a `--token` value masked: a bootstrap token is a credential); throws with the last stderr lines.
 */
export async function kubeadm(paths: LabPaths, n: NodeState, args: string[], logName: string): Promise<void> {
  const r = await inRealNode(n.holderPid, ['kubeadm', ...args, '--v=1']);
  writeFileSync(join(paths.node(n.name).logs, logName), `$ kubeadm ${args.join(' ').replace(/(--token[= ])\S+/g, '$1<masked>')}\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  if (r.rc !== 0) throw new Error(`${n.name}: kubeadm ${args[0]} failed (rc ${r.rc}); see ${join(paths.node(n.name).logs, logName)}:\n${r.stderr.trim().split('\n').slice(-12).join('\n')}`);
}

export async function podCidrsByNode(paths: LabPaths): Promise<Record<string, string>> {
  const r = await kubectl(paths, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{"\\n"}{end}']);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const [name, cidr] = line.trim().split(' ');
    if (name && cidr) out[name] = cidr;
  }
  return out;
}

/** Waits for the controller-manager to give the node its pod range, then writes the node's CNI config. */
export async function setUpCni(paths: LabPaths, n: NodeState): Promise<void> {
  const cidr = await waitFor(`a pod range for ${n.name}`, 300_000, async () => (await podCidrsByNode(paths))[n.name], 1000);
  writeFileSync(paths.node(n.name).fs('/etc/cni/net.d/10-kcarun-lab.conflist'), cniConfig(cidr));
}

