/**
 * Workers added to a running real lab (`npm run lab -- add-worker`): a new machine joins the cluster
 * with the join command `kubeadm token create --print-join-command` prints on a control-plane node,
 * as a user adds a node. After a CA rotation this is the proof that the cluster-info ConfigMap, the
 * bootstrap signer and the CSR signer all moved to the new CA (issue 18): kubeadm's discovery pins
 * the new CA's hash, and the kubelet's client certificate comes from the new CA.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LabPaths } from '../lab-paths.js';
import { readState, writeState, type NodeState } from '../lab-state.js';
import { runOk } from '../exec.js';
import { imageRefs } from './artifacts.js';
import { realNodeAlive } from './down.js';
import { etcHostsReal, resolvConfReal } from './node-files.js';
import { makePlan, workerNode } from './plan.js';
import { inRealNodeOk, knownHostsLine, kubeadm, kubectl, nodeServicesUp, podCidrsByNode, setUpCni, startNode, waitFor, writeNodeFiles } from './up.js';

/**
 * A new machine for a running real lab, as a user would provision one to join the cluster: worker
 * wN (the next free number) with its namespaces, sshd, containerd and the kubelet enabled (it
 * crash-loops until `kubeadm join` configures it), the pause image imported, its host key in the
 * lab's known_hosts. Not joined: run `kubeadm join` in it (inRealNode), then realWorkerJoined.
 * Errors: no real lab up in `dir`; a lab of another layout than kubeadm's; 9 workers already.
 */
export async function realAddWorker(opts: { dir: string; log?: (line: string) => void }): Promise<NodeState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(resolve(opts.dir));
  const state = readState(paths);
  if (!state?.real) throw new Error(`no real lab is up in ${paths.root}`);
  // The new machine is a kubeadm node (kubelet.service + 10-kubeadm.conf, `kubeadm join`): a binary or
  // kubespray lab lays its kubelets out otherwise (units with flags; kubelet.env and its own /etc).
  if (state.layout !== 'kubeadm-real') throw new Error(`add-worker joins kubeadm workers: the lab in ${paths.root} is ${state.layout}, not kubeadm`);
  if (!realNodeAlive(paths, state)) throw new Error(`no real lab is up in ${paths.root}`);
  const real = state.real;
  const plan = makePlan(real.range, state.nodes.length);
  const n = workerNode(real.range, (state.workers ?? []).length + 1);
  const np = paths.node(n.name);
  log(`lab: adding worker ${n.name} (${n.ip})`);
  mkdirSync(dirname(np.hostKey), { recursive: true });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${n.name}`, '-f', np.hostKey]);
  writeFileSync(paths.knownHosts, `${readFileSync(paths.knownHosts, 'utf8')}${knownHostsLine(n.ip, np.hostKey)}\n`);
  const pause = imageRefs().pause;
  writeNodeFiles(paths, n, { hosts: etcHostsReal(plan, [n]), resolv: resolvConfReal(plan), pause, hierarchies: real.cgroupHierarchies });
  real.veths.push(n.veth);
  writeState(paths, state);
  const node = await startNode(paths, state, n, true);
  await nodeServicesUp(paths, node, [pause]);
  return node;
}

/**
 * After `kubeadm join` in worker `name`: its CNI config once the controller-manager gave it a pod
 * range, routes between its pod range and the other nodes', then waits until the apiserver lists it
 * Ready (3 min at most). What a CNI DaemonSet does on a real cluster; the lab has none.
 */
export async function realWorkerJoined(opts: { dir: string; name: string }): Promise<void> {
  const paths = new LabPaths(resolve(opts.dir));
  const state = readState(paths);
  const node = state?.workers?.find((n) => n.name === opts.name);
  if (!state || !node) throw new Error(`no worker ${opts.name} in ${paths.root}`);
  await setUpCni(paths, node);
  const podCidrs = await podCidrsByNode(paths);
  for (const m of [...state.nodes, ...(state.workers ?? [])]) {
    if (m === node || !podCidrs[m.name]) continue;
    await inRealNodeOk(node, ['ip', 'route', 'replace', podCidrs[m.name]!, 'via', m.ip, 'dev', 'eth0']);
    await inRealNodeOk(m, ['ip', 'route', 'replace', podCidrs[node.name]!, 'via', node.ip, 'dev', 'eth0']);
  }
  await waitFor(`${opts.name} Ready`, 180_000, async () => {
    const r = await kubectl(paths, ['get', 'node', opts.name, '-o', 'json']);
    if (r.rc !== 0) throw new Error(r.stderr.trim());
    const conditions = (JSON.parse(r.stdout) as { status: { conditions: Array<{ type: string; status: string }> } }).status.conditions;
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  }, 1000);
}

/**
 * kubeadm's arguments to run on a new worker for the command `kubeadm token create --print-join-command`
 * printed (`kubeadm join HOST:PORT --token T --discovery-token-ca-cert-hash sha256:H`), plus this
 * lab's node settings a user would add on such a machine: SystemVerification ignored (cgroup v1
 * here) and the node's kubelet patch (its cgroupRoot). Errors: anything but a kubeadm join command.
 */
export function workerJoinArgs(printed: string): string[] {
  const words = printed.trim().split(/\s+/);
  if (words[0] !== 'kubeadm' || words[1] !== 'join' || !words.includes('--discovery-token-ca-cert-hash')) {
    throw new Error(`not a kubeadm join command: ${printed.trim().slice(0, 200)}`);
  }
  return [...words.slice(1), '--ignore-preflight-errors=SystemVerification', '--patches', '/root/kubeadm/patches'];
}

/**
 * `add-worker`: a new worker, joined with the command cp1's kubeadm prints, Ready. Returns the
 * printed join command (a bootstrap token inside: lab use only) and the worker.
 */
export async function realJoinNewWorker(opts: { dir: string; log?: (line: string) => void }): Promise<{ joinCommand: string; worker: NodeState }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const paths = new LabPaths(resolve(opts.dir));
  const state = readState(paths);
  const cp1 = state?.nodes[0];
  if (!state || !cp1) throw new Error(`no real lab is up in ${paths.root}`);
  if (state.layout !== 'kubeadm-real') throw new Error(`add-worker joins kubeadm workers: the lab in ${paths.root} is ${state.layout}, not kubeadm`);
  const joinCommand = await inRealNodeOk(cp1, ['kubeadm', 'token', 'create', '--print-join-command']);
  const worker = await realAddWorker({ dir: opts.dir, log });
  log(`lab: kubeadm join on ${worker.name} (the command cp1 printed)`);
  await kubeadm(paths, worker, workerJoinArgs(joinCommand), 'kubeadm-join.log');
  await realWorkerJoined({ dir: opts.dir, name: worker.name });
  log(`lab: ${worker.name} joined and Ready`);
  return { joinCommand: joinCommand.trim(), worker };
}
