/**
 * Measures how long each way of restarting a kubeadm static pod takes on the real kubelet
 * (issue 19): (a) `crictl stop` of the container, (b) moving the manifest out of
 * /etc/kubernetes/manifests and back, (c) a changed `kcarun.io/restartedAt` annotation in the
 * manifest's pod metadata (a new static pod UID). Every method is repeated N times in a row on
 * the same node, so the kubelet's CrashLoop back-off shows.
 *
 *   npx tsx lab/real/measure/restarts.ts --dir /tmp/kcarun-measure [--methods crictl-stop,move-out,annotation]
 *     [--nodes cp1,cp2,cp3] [--components kube-scheduler,kube-controller-manager,kube-apiserver,etcd]
 *     [--attempts 3] [--out-seconds 0] [--json-out FILE]
 *   npx tsx lab/real/measure/restarts.ts --dir D --nodes cp1 --sequence crictl-stop,annotation,crictl-stop,annotation [--components ...]
 *   npx tsx lab/real/measure/restarts.ts --render FILE.json   # the markdown table of docs/restarts.md
 *
 * The lab must be up (`npm run lab -- up --layout kubeadm-real --nodes 3 --dir DIR`). Method i runs
 * on node i of --nodes (one node per method, so one method's back-off never leaks into another's).
 * Actions go over SSH as kcarun's would; the probes run from the machine (apiserver, etcd: node IP)
 * or inside the node's network namespace (controller-manager, scheduler listen on 127.0.0.1 only).
 *
 * "serve" = seconds from the action until the first successful probe after the old container has
 * exited and the new one has started; "unavailable" = the seconds inside that span during which the
 * probe failed (from the last success before a failure to the next success; resolution = one probe,
 * ~0.3 s, etcdctl ~0.5 s). Prints progress on stderr and one JSON object on stdout's last line.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { cacheBin } from '../artifacts.js';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

type Method = 'crictl-stop' | 'move-out' | 'annotation';
type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

interface NodeInfo { name: string; ip: string; holderPid: number }
interface ProbeSample { t: number; ok: boolean; ms: number }
interface CriContainer { id: string; state: string; createdAt: number; attempt: number; podUid: string; name: string }

export interface AttemptResult {
  method: Method;
  component: Component;
  node: string;
  attempt: number;
  /** seconds from the action to the first success of the new container */
  serveSeconds: number | null;
  /** seconds the probe failed between the action and serveSeconds */
  unavailableSeconds: number | null;
  /** seconds from the action until the old container exited */
  oldExitSeconds: number | null;
  /** seconds from the old container's exit to the new container's start (the kubelet's delay, back-off included) */
  exitToStartSeconds: number | null;
  /** the new container started while the old one still ran (method c: two pods at once?) */
  overlapSeconds: number | null;
  /** containers of this component created after the action (>1: the new one crashed and was restarted) */
  containersCreated: number;
  newAttempt: number | null;
  podUidChanged: boolean | null;
  /** other static pods on the node that got a new container during the attempt (collateral restarts) */
  collateral: Record<string, number>;
  mirrorPod: { configHashMatches: boolean; restartCount: number | null; waitingReason: string | null } | null;
  /** the machine's 1-minute load average when the attempt started (2 cores: above ~4 the timings stretch) */
  load1?: number;
  error?: string;
}

const now = (): number => Date.now() / 1000;
const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);

function arg(argv: string[], name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}

class Lab {
  readonly bin = cacheBin();
  constructor(readonly dir: string) {}

  nodes(): NodeInfo[] {
    const state = JSON.parse(readFileSync(join(this.dir, 'state.json'), 'utf8')) as { nodes: NodeInfo[] };
    return state.nodes;
  }

  fsPath(node: NodeInfo, p: string): string {
    return join(this.dir, 'nodes', node.name, 'fs', p);
  }

  async ssh(node: NodeInfo, cmd: string, input?: string): Promise<string> {
    const args = ['-i', join(this.dir, 'ssh', 'id_ed25519'), '-o', `UserKnownHostsFile=${join(this.dir, 'ssh', 'known_hosts')}`,
      '-o', 'BatchMode=yes', `root@${node.ip}`, cmd];
    if (input === undefined) return (await run('ssh', args, { maxBuffer: 64 << 20 })).stdout;
    return await new Promise((resolve, reject) => {
      const child = execFile('ssh', args, { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin?.end(input);
    });
  }

  async containers(node: NodeInfo): Promise<CriContainer[]> {
    const out = await this.ssh(node, 'crictl -r unix:///run/containerd/containerd.sock ps -a -o json 2>/dev/null');
    const doc = JSON.parse(out) as { containers: { id: string; state: string; createdAt: string; metadata: { name: string; attempt?: number }; labels: Record<string, string> }[] };
    return doc.containers.map((c) => ({
      id: c.id, state: c.state, createdAt: Number(BigInt(c.createdAt) / 1_000_000n) / 1000,
      attempt: c.metadata.attempt ?? 0, podUid: c.labels['io.kubernetes.pod.uid'] ?? '', name: c.metadata.name,
    }));
  }

  async inspectTimes(node: NodeInfo, id: string): Promise<{ startedAt: number | null; finishedAt: number | null }> {
    let out: string;
    try {
      out = await this.ssh(node, `crictl -r unix:///run/containerd/containerd.sock inspect ${id} 2>/dev/null`);
    } catch {
      return { startedAt: null, finishedAt: null }; // removed already (the kubelet deletes a replaced static pod's containers)
    }
    const st = (JSON.parse(out) as { status: { startedAt?: string; finishedAt?: string } }).status;
    const t = (s?: string): number | null => {
      if (!s || s.startsWith('0001-')) return null;
      return Date.parse(s) / 1000;
    };
    return { startedAt: t(st.startedAt), finishedAt: t(st.finishedAt) };
  }

  async mirrorPod(node: NodeInfo, component: Component): Promise<{ hash: string; restartCount: number | null; waitingReason: string | null } | null> {
    try {
      const { stdout } = await run(join(this.bin, 'kubectl'), ['--kubeconfig', this.fsPath(this.nodes()[0]!, 'etc/kubernetes/admin.conf'),
        '--request-timeout=3s', '-n', 'kube-system', 'get', 'pod', `${component}-${node.name}`, '-o', 'json']);
      const pod = JSON.parse(stdout) as { metadata: { annotations?: Record<string, string> }; status?: { containerStatuses?: { restartCount: number; state?: { waiting?: { reason?: string } } }[] } };
      const cs = pod.status?.containerStatuses?.[0];
      return { hash: pod.metadata.annotations?.['kubernetes.io/config.hash'] ?? '', restartCount: cs?.restartCount ?? null, waitingReason: cs?.state?.waiting?.reason ?? null };
    } catch {
      return null;
    }
  }

  /** One probe of the component as a client would see it; resolves to true when it really serves. */
  prober(node: NodeInfo, component: Component): () => Promise<boolean> {
    const pki = (f: string): string => this.fsPath(node, join('etc/kubernetes/pki', f));
    if (component === 'kube-apiserver') {
      const admin = parseYaml(readFileSync(this.fsPath(node, 'etc/kubernetes/admin.conf'), 'utf8')) as { users: { user: Record<string, string> }[] };
      const user = admin.users[0]!.user;
      const cert = Buffer.from(user['client-certificate-data']!, 'base64');
      const key = Buffer.from(user['client-key-data']!, 'base64');
      const ca = readFileSync(pki('ca.crt'));
      return () => new Promise((resolve) => {
        const req = request({ host: node.ip, port: 6443, path: '/readyz', method: 'GET', cert, key, ca, servername: 'kubernetes', timeout: 1500, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
          res.on('error', () => resolve(false));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve(false));
        req.end();
      });
    }
    if (component === 'etcd') {
      const args = [`--endpoints=https://${node.ip}:2379`, `--cacert=${pki('etcd/ca.crt')}`, `--cert=${pki('etcd/healthcheck-client.crt')}`,
        `--key=${pki('etcd/healthcheck-client.key')}`, '--dial-timeout=1s', '--command-timeout=1.5s', 'endpoint', 'health'];
      return async () => {
        try { await run(join(this.bin, 'etcdctl'), args, { timeout: 3000 }); return true; } catch { return false; }
      };
    }
    const port = component === 'kube-controller-manager' ? 10257 : 10259;
    return async () => {
      try {
        const { stdout } = await run('nsenter', [`--net=/proc/${node.holderPid}/ns/net`, 'curl', '-sk', '--max-time', '1.5', `https://127.0.0.1:${port}/healthz`], { timeout: 3000 });
        return stdout.trim() === 'ok';
      } catch { return false; }
    };
  }
}

/** Probes in a loop (one at a time, at most every intervalMs) until stopped. */
function startProbing(probe: () => Promise<boolean>, intervalMs: number): { samples: ProbeSample[]; stop: () => Promise<void> } {
  const samples: ProbeSample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t = now();
      const ok = await probe();
      samples.push({ t, ok, ms: Math.round((now() - t) * 1000) });
      const wait = intervalMs - (now() - t) * 1000;
      if (wait > 0) await sleep(wait);
    }
  })();
  return { samples, stop: async () => { stopped = true; await loop; } };
}

async function waitHealthy(probe: () => Promise<boolean>, timeoutS: number): Promise<void> {
  const deadline = now() + timeoutS;
  let streak = 0;
  while (now() < deadline) {
    streak = (await probe()) ? streak + 1 : 0;
    if (streak >= 3) return;
    await sleep(300);
  }
  throw new Error(`not healthy within ${timeoutS} s`);
}

function manifestPath(component: Component): string {
  return `/etc/kubernetes/manifests/${component}.yaml`;
}

async function act(lab: Lab, node: NodeInfo, method: Method, component: Component, oldId: string, outSeconds: number): Promise<void> {
  const m = manifestPath(component);
  if (method === 'crictl-stop') {
    await lab.ssh(node, `crictl -r unix:///run/containerd/containerd.sock stop ${oldId} >/dev/null 2>&1`);
  } else if (method === 'move-out') {
    await lab.ssh(node, `mv ${m} /etc/kubernetes/${component}.yaml.kcarun-out && sleep ${outSeconds} && mv /etc/kubernetes/${component}.yaml.kcarun-out ${m}`);
  } else {
    const doc = parseYaml(readFileSync(lab.fsPath(node, m.slice(1)), 'utf8')) as { metadata: { annotations?: Record<string, string> } };
    doc.metadata.annotations = { ...(doc.metadata.annotations ?? {}), 'kcarun.io/restartedAt': new Date().toISOString() };
    // Written beside the manifest under a dot name (the kubelet ignores those), then renamed over it.
    await lab.ssh(node, `cat > /etc/kubernetes/manifests/.${component}.kcarun-tmp && mv /etc/kubernetes/manifests/.${component}.kcarun-tmp ${m}`, stringifyYaml(doc));
  }
}

async function measureOne(lab: Lab, node: NodeInfo, method: Method, component: Component, attempt: number, outSeconds: number, timeoutS: number): Promise<AttemptResult> {
  const probe = lab.prober(node, component);
  await waitHealthy(probe, 300);
  const before = await lab.containers(node);
  const old = before.find((c) => c.name === component && c.state === 'CONTAINER_RUNNING');
  if (!old) throw new Error(`${node.name}: no running ${component} container`);
  const result: AttemptResult = {
    method, component, node: node.name, attempt, serveSeconds: null, unavailableSeconds: null, oldExitSeconds: null,
    exitToStartSeconds: null, overlapSeconds: null, containersCreated: 0, newAttempt: null, podUidChanged: null, collateral: {}, mirrorPod: null,
    load1: Math.round(loadavg()[0]! * 10) / 10,
  };
  const probing = startProbing(probe, component === 'etcd' ? 250 : 200);
  await sleep(1000);
  const t0 = now();
  try {
    await act(lab, node, method, component, old.id, outSeconds);
    const deadline = t0 + timeoutS;
    let newC: CriContainer | undefined;
    let oldFinished: number | null = null;
    let newStarted: number | null = null;
    let servedAt: number | null = null;
    while (now() < deadline) {
      await sleep(1000);
      const cs = await lab.containers(node);
      const o = cs.find((c) => c.id === old.id);
      if (oldFinished === null && (!o || o.state !== 'CONTAINER_RUNNING')) oldFinished = o ? (await lab.inspectTimes(node, o.id)).finishedAt ?? now() : now();
      newC = cs.filter((c) => c.name === component && c.createdAt > t0 - 1 && c.id !== old.id).sort((a, b) => b.createdAt - a.createdAt)[0];
      if (newC && newC.state === 'CONTAINER_RUNNING' && newStarted === null) newStarted = (await lab.inspectTimes(node, newC.id)).startedAt;
      if (newC && newC.state !== 'CONTAINER_RUNNING') newStarted = null; // crashed: wait for the next one
      if (oldFinished !== null && newStarted !== null) {
        const from = Math.max(oldFinished, newStarted);
        const okAfter = probing.samples.filter((s) => s.t >= from && s.ok);
        if (okAfter.length >= 3) { servedAt = okAfter[0]!.t; break; }
      }
    }
    await sleep(500);
    await probing.stop();
    const after = await lab.containers(node);
    const created = after.filter((c) => c.createdAt > t0 - 1 && c.id !== old.id);
    result.containersCreated = created.filter((c) => c.name === component).length;
    for (const c of created.filter((c) => c.name !== component)) result.collateral[c.name] = (result.collateral[c.name] ?? 0) + 1;
    result.oldExitSeconds = oldFinished === null ? null : oldFinished - t0;
    if (newC) {
      result.newAttempt = newC.attempt;
      result.podUidChanged = newC.podUid !== old.podUid;
      const firstNew = created.filter((c) => c.name === component).sort((a, b) => a.createdAt - b.createdAt)[0]!;
      const firstStart = (await lab.inspectTimes(node, firstNew.id)).startedAt;
      if (oldFinished !== null && firstStart !== null) {
        result.exitToStartSeconds = firstStart - oldFinished;
        result.overlapSeconds = Math.max(0, oldFinished - firstStart);
      }
    }
    if (servedAt !== null) {
      result.serveSeconds = servedAt - t0;
      let down = 0;
      let lastOk = t0;
      let failing = false;
      for (const s of probing.samples.filter((x) => x.t >= t0 - 0.5 && x.t <= servedAt)) {
        if (s.ok) { if (failing) down += s.t - lastOk; failing = false; lastOk = s.t; } else failing = true;
      }
      result.unavailableSeconds = down;
    } else {
      result.error = `not serving again within ${timeoutS} s`;
    }
    for (let i = 0; i < 10; i++) {
      const mp = await lab.mirrorPod(node, component);
      if (mp && newC && mp.hash === newC.podUid) { result.mirrorPod = { configHashMatches: true, restartCount: mp.restartCount, waitingReason: mp.waitingReason }; break; }
      if (mp) result.mirrorPod = { configHashMatches: false, restartCount: mp.restartCount, waitingReason: mp.waitingReason };
      await sleep(1000);
    }
  } finally {
    await probing.stop();
  }
  for (const k of ['serveSeconds', 'unavailableSeconds', 'oldExitSeconds', 'exitToStartSeconds', 'overlapSeconds'] as const) result[k] = round(result[k]);
  return result;
}

/** The markdown table of docs/restarts.md, from a JSON file this script wrote. */
export function renderMarkdown(rows: AttemptResult[]): string {
  const f = (x: number | null): string => (x === null ? '—' : x.toFixed(1));
  const lines = ['| method | component | node | attempt | serve s | unavailable s | old exit s | exit→new start s | overlap s | new attempt | pod UID changed | collateral restarts | mirror pod | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const coll = Object.entries(r.collateral).map(([k, v]) => `${k}×${v}`).join(', ') || '—';
    const mp = r.mirrorPod ? `${r.mirrorPod.configHashMatches ? 'hash ok' : 'hash stale'}, restarts ${r.mirrorPod.restartCount ?? '?'}` : '—';
    lines.push(`| ${r.method} | ${r.component} | ${r.node} | ${r.attempt} | ${f(r.serveSeconds)} | ${f(r.unavailableSeconds)} | ${f(r.oldExitSeconds)} | ${f(r.exitToStartSeconds)} | ${f(r.overlapSeconds)} | ${r.newAttempt ?? '—'} | ${r.podUidChanged ?? '—'} | ${coll} | ${mp}${r.error ? ` ERROR ${r.error.split('\n')[0]!.slice(0, 90)}` : ''} | ${r.load1 ?? '—'} |`);
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const render = arg(argv, 'render', '');
  if (render) {
    process.stdout.write(`${renderMarkdown((JSON.parse(readFileSync(render, 'utf8')) as { rows: AttemptResult[] }).rows)}\n`);
    return;
  }
  const dir = arg(argv, 'dir', '/tmp/kcarun-measure');
  const methods = arg(argv, 'methods', 'crictl-stop,move-out,annotation').split(',') as Method[];
  const nodeNames = arg(argv, 'nodes', 'cp1,cp2,cp3').split(',');
  const components = arg(argv, 'components', 'kube-scheduler,kube-controller-manager,kube-apiserver,etcd').split(',') as Component[];
  const attempts = Number(arg(argv, 'attempts', '3'));
  const outSeconds = Number(arg(argv, 'out-seconds', '0'));
  const timeoutS = Number(arg(argv, 'timeout', '300'));
  const jsonOut = arg(argv, 'json-out', '');
  const lab = new Lab(dir);
  const all = lab.nodes();
  const rows: AttemptResult[] = [];
  const startedAt = new Date().toISOString();
  const sequence = arg(argv, 'sequence', '');
  if (sequence) {
    // One node, each component restarted by the given methods in turn (e.g. alternating crictl-stop
    // and annotation, to see whether a new pod UID really starts the back-off afresh).
    const node = all.find((n) => n.name === nodeNames[0]);
    if (!node) throw new Error(`no node ${nodeNames[0]} in ${dir}/state.json`);
    for (const component of components) {
      for (const [i, method] of (sequence.split(',') as Method[]).entries()) {
        let r: AttemptResult;
        try {
          r = await measureOne(lab, node, method, component, i + 1, outSeconds, timeoutS);
        } catch (e) {
          r = { method, component, node: node.name, attempt: i + 1, serveSeconds: null, unavailableSeconds: null, oldExitSeconds: null, exitToStartSeconds: null,
            overlapSeconds: null, containersCreated: 0, newAttempt: null, podUidChanged: null, collateral: {}, mirrorPod: null, error: String(e) };
        }
        rows.push(r);
        process.stderr.write(`${JSON.stringify(r)}\n`);
        if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ startedAt, outSeconds, sequence, rows }, null, 1));
      }
    }
  }
  for (const [i, method] of (sequence ? [] : methods).entries()) {
    const node = all.find((n) => n.name === (nodeNames[i] ?? nodeNames[0]));
    if (!node) throw new Error(`no node ${nodeNames[i]} in ${dir}/state.json`);
    for (const component of components) {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        let r: AttemptResult;
        try {
          r = await measureOne(lab, node, method, component, attempt, outSeconds, timeoutS);
        } catch (e) {
          r = { method, component, node: node.name, attempt, serveSeconds: null, unavailableSeconds: null, oldExitSeconds: null, exitToStartSeconds: null,
            overlapSeconds: null, containersCreated: 0, newAttempt: null, podUidChanged: null, collateral: {}, mirrorPod: null, error: String(e) };
        }
        rows.push(r);
        process.stderr.write(`${JSON.stringify(r)}\n`);
        if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ startedAt, outSeconds, rows }, null, 1));
      }
    }
  }
  const table = { startedAt, finishedAt: new Date().toISOString(), outSeconds, rows };
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(table, null, 1));
  process.stdout.write(`${JSON.stringify(table)}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
