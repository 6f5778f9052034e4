/**
 * The etcd restore procedures of docs/health.md ("Restoring etcd from a snapshot"), run on genuine
 * clusters: the blocks the doc marks `<!-- restore-step: NAME -->` (kubeadm, etcd 3.6 as static pods:
 * health-tasks-real.test.ts) or `<!-- restore-unit-step: NAME -->` (etcd as a unit: the hand-installed
 * layout of rotate-binary-real, kubespray's of rotate-kubespray-real) are read from the doc and run
 * verbatim on the nodes, so the doc cannot drift from what was tested. The snapshot is one the
 * `etcd-snapshot` task took.
 *
 * It stops the whole control plane, so it runs last on its lab, and proves the cluster whole again
 * afterwards (the file's `lab down` check follows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../../src/core/shell.js';
import { etcdSnapshotTask } from '../../src/tasks/etcd-snapshot/index.js';
import { waitHealthyTask } from '../../src/tasks/wait-healthy/index.js';
import { kubectl } from '../../lab/real/up.js';
import { ssh, type Cmd } from '../lab/lab-fixture.js';
import { labTasks, type LabTasks } from '../tasks/health/health-fixture.js';
import type { RealLab } from './real-lab-session.js';
import { etcdctlIn, nodeIp, P, TLS } from './health-real-tools.js';
import { pauseDeployment } from './health-real-kube.js';

const DOC = join(import.meta.dirname, '../../docs/health.md');
/** The steps the doc gives for kubeadm (`restore-step`), in the order an operator runs them. */
export const RESTORE_STEPS = ['check', 'stop', 'wait-stopped', 'restore', 'swap', 'start-etcd', 'wait-etcd', 'start-apiserver'] as const;
/**
 * The steps for etcd as a unit (`restore-unit-step`): every kube-apiserver is stopped before any etcd
 * member, since an apiserver's graceful stop writes to etcd (measured on binary-real with one
 * combined step per node: the later apiservers, their etcd without quorum, waited for systemd's
 * SIGKILL, 420 s to stop 5 nodes).
 */
export const UNIT_RESTORE_STEPS = ['check', 'stop-apiserver', 'stop-etcd', 'wait-stopped', 'restore', 'swap', 'start-etcd', 'wait-etcd', 'start-apiserver'] as const;
type Step = (typeof RESTORE_STEPS)[number] | (typeof UNIT_RESTORE_STEPS)[number];

/** How one layout's cluster is restored and looked at. */
export interface RestoreLayout {
  /** Shown in the test names. */
  name: string;
  /** The doc's marker of this layout's blocks. */
  marker: 'restore-step' | 'restore-unit-step';
  /** etcd client files on the nodes, for the etcd-snapshot task and kcarun's etcd gate. */
  tls: { cacert: string; cert: string; key: string };
  /** The CA an apiserver's serving certificate chains to (its /readyz probes), on the nodes. */
  apiserverCa: string;
  /** The admin kubeconfig on the nodes (the kube probe). */
  kubeconfig: string;
  /** Variables every block runs with besides the restore's own (etcdctl's client files for the unit blocks). */
  env: Record<string, string>;
  /** `etcdctl ARGS` against `node`'s member, by hand, independently of kcarun. */
  etcdctl(node: string, args: string): Promise<Cmd>;
}

/** kubeadm's layout: etcd and kube-apiserver static pods, etcdctl only in the etcd container. */
export function kubeadmRestoreLayout(lab: RealLab): RestoreLayout {
  return { name: 'kubeadm', marker: 'restore-step', tls: TLS, apiserverCa: `${P}/ca.crt`, kubeconfig: '/etc/kubernetes/admin.conf', env: {}, etcdctl: (node, args) => etcdctlIn(lab, node, args) };
}

/**
 * etcd as a unit with etcdctl on the host (hand-installed, kubespray): `tls` are etcd client files
 * the host's etcdctl uses, by hand and in the doc's wait-etcd block (ETCDCTL_* variables).
 */
export function unitRestoreLayout(lab: RealLab, name: string, files: { tls: RestoreLayout['tls']; apiserverCa: string; kubeconfig: string }): RestoreLayout {
  const env = { ETCDCTL_CACERT: files.tls.cacert, ETCDCTL_CERT: files.tls.cert, ETCDCTL_KEY: files.tls.key };
  const assign = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
  return {
    name,
    marker: 'restore-unit-step',
    ...files,
    env,
    etcdctl: (node, args) => ssh(lab.paths, lab.state, node, `${assign} etcdctl --endpoints=https://${nodeIp(lab, node)}:2379 ${args}`),
  };
}
const CM = 'kcarun-restore-probe';
const CM_LATER = 'kcarun-restore-later';

/**
 * The shell blocks of docs/health.md marked `<!-- MARKER: NAME -->` (restore-step for kubeadm,
 * restore-unit-step for etcd as a unit), by NAME, dedented (they sit inside a numbered list). Shape: Map<step name, script text>, in the doc's order.
 */
export function restoreSteps(markdown: string, marker: RestoreLayout['marker'] = 'restore-step'): Map<string, string> {
  const steps = new Map<string, string>();
  for (const m of markdown.matchAll(new RegExp(`^([ \\t]*)<!-- ${marker}: ([\\w-]+) -->\\n[ \\t]*\`\`\`sh\\n([\\s\\S]*?)\\n[ \\t]*\`\`\`$`, 'gm'))) {
    const indent = m[1]!.length;
    steps.set(m[2]!, m[3]!.split('\n').map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n'));
  }
  return steps;
}

/** etcd's revision and cluster id as cp1's member reports them (ids kept as strings: they exceed 2^53). */
async function etcdHeader(layout: RestoreLayout): Promise<{ revision: bigint; clusterId: string }> {
  const r = await layout.etcdctl('cp1', 'endpoint status -w json');
  expect(r.rc, `etcdctl endpoint status: ${r.stderr}`).toBe(0);
  return { revision: BigInt(/"revision":(\d+)/.exec(r.stdout)![1]!), clusterId: /"cluster_id":(\d+)/.exec(r.stdout)![1]! };
}

export function describeEtcdRestore(lab: RealLab, layoutOf: (lab: RealLab) => RestoreLayout = kubeadmRestoreLayout): void {
  const layout = layoutOf(lab);
  describe(`the etcd restore procedure of docs/health.md for ${layout.name} (stops the whole control plane; last)`, () => {
    let t: LabTasks | undefined;
    const tasks = (): LabTasks => {
      if (!t) throw new Error('the restore block set-up did not run');
      return t;
    };
    const steps = restoreSteps(readFileSync(DOC, 'utf8'), layout.marker);
    /** Runs the doc's block `step` on `node` as `bash -eu` (a failing command fails the step), with `env` set. */
    const runStep = async (node: string, step: Step, env: Record<string, string> = {}): Promise<Cmd> => {
      const script = steps.get(step);
      if (script === undefined) throw new Error(`docs/health.md has no block marked ${layout.marker}: ${step}`);
      const assign = Object.entries({ ...layout.env, ...env }).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
      const r = await ssh(lab.paths, lab.state, node, `${assign} bash -euc ${shellQuote(script)}`);
      expect(r.rc, `restore step ${step} on ${node}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      return r;
    };
    const cmData = async (name: string, server?: string): Promise<Cmd> =>
      kubectl(lab.paths, [...(server ? ['--server', server] : []), 'get', 'configmap', name, '-n', 'default', '-o', 'jsonpath={.data.v}']);

    beforeAll(async () => {
      const work = join(lab.work, 'restore');
      mkdirSync(work, { recursive: true });
      t = await labTasks(lab.dir, work);
    }, 60_000);

    afterAll(async () => {
      await t?.transports.closeAll();
    });

    it('the doc gives every step, as shell blocks', () => {
      expect([...steps.keys()]).toEqual(layout.marker === 'restore-step' ? [...RESTORE_STEPS] : [...UNIT_RESTORE_STEPS]);
    });

    it(`restores every member (${layout.name}) from an etcd-snapshot task snapshot with the commands of docs/health.md, run verbatim: the apiservers serve the snapshot again, etcd revision bumped, nodes Ready, controllers working`, async () => {
      const nodes = lab.state.nodes.map((n) => n.name);
      const ok = (r: Cmd, what: string) => expect(r.rc, `${what}: ${r.stdout}${r.stderr}`).toBe(0);
      ok(await kubectl(lab.paths, ['create', 'configmap', CM, '-n', 'default', '--from-literal=v=before-snapshot']), 'create configmap');
      const snap = await tasks().run(etcdSnapshotTask, 'cp1', layout.tls, { stepId: 'restore/0/cp1' });
      const { file, sha256 } = snap.output as { file: string; sha256: string };
      const before = await etcdHeader(layout);
      ok(await kubectl(lab.paths, ['patch', 'configmap', CM, '-n', 'default', '-p', '{"data":{"v":"after-snapshot"}}']), 'patch configmap');
      ok(await kubectl(lab.paths, ['create', 'configmap', CM_LATER, '-n', 'default', '--from-literal=v=x']), 'create later configmap');
      expect((await cmData(CM)).stdout).toBe('after-snapshot');

      // 1. The snapshot on every member, checked there against the task's sha256.
      const data = readFileSync(file);
      for (const n of nodes) {
        ok(await ssh(lab.paths, lab.state, n, 'mkdir -p -m 700 /var/lib/kcarun/restore'), 'mkdir');
        await (await tasks().transports.get(n)).writeFile('/var/lib/kcarun/restore/snapshot.db', data, { mode: 0o600 });
        await runStep(n, 'check', { SNAPSHOT_SHA256: sha256 });
      }
      // Every member's name=peer URL, from etcdctl while the cluster is up, as the doc says.
      const list = await layout.etcdctl('cp1', 'member list -w json');
      ok(list, 'member list');
      const listed = (JSON.parse(list.stdout.replace(/("ID":)(\d+)/g, '$1"$2"')) as { members: Array<{ name: string; peerURLs: string[] }> }).members;
      expect(listed.map((m) => m.name).sort()).toEqual([...nodes].sort());
      const INITIAL_CLUSTER = listed.map((m) => `${m.name}=${m.peerURLs[0]}`).join(',');
      // 2. Stop every apiserver and member, and wait until they are gone (the stop block twice: harmless).
      const stoppedAt = Date.now();
      const stops: Step[] = layout.marker === 'restore-step' ? ['stop'] : ['stop-apiserver', 'stop-etcd'];
      // On every node at once, as an operator's parallel shell would: a hand-installed kube-apiserver
      // took up to ~60 s to stop here, and one node after another that added up (5 nodes: 308 s).
      for (const step of stops) await Promise.all(nodes.map((n) => runStep(n, step)));
      for (const step of stops) await runStep(nodes[0]!, step);
      for (const n of nodes) await runStep(n, 'wait-stopped');
      const stopSeconds = (Date.now() - stoppedAt) / 1000;
      for (const n of nodes) expect((await ssh(lab.paths, lab.state, n, `timeout 3 bash -c '</dev/tcp/${nodeIp(lab, n)}/2379'`)).rc, `${n}'s etcd still accepts connections`).not.toBe(0);
      // 3.-4. Restore on each member with the node's own etcd image, swap the member folder in.

      const RESTORE_TOKEN = `kcarun-restore-${Date.now()}`;
      for (const n of nodes) await runStep(n, 'restore', { INITIAL_CLUSTER, RESTORE_TOKEN });
      // cp1's swap, then the same block again: it refuses rather than move the restored data aside.
      await runStep(nodes[0]!, 'swap');
      const again = await ssh(lab.paths, lab.state, nodes[0]!, `bash -euc ${shellQuote(steps.get('swap')!)}`);
      expect(again.rc).not.toBe(0);
      expect(again.stderr).toMatch(/already swapped/);
      for (const n of nodes.slice(1)) await runStep(n, 'swap');
      // 5. Start etcd everywhere; the doc's own wait, and kcarun's etcd gate as a second opinion.
      for (const n of nodes) await runStep(n, 'start-etcd');
      await runStep('cp1', 'wait-etcd');
      await tasks().run(waitHealthyTask, 'cp2', { intervalSeconds: 1, timeoutSeconds: 120, successes: 2, probes: [{ kind: 'etcd', ...layout.tls }] });
      // 6. Start the apiservers, restart the kubelets; gate on every /readyz and on the nodes.
      for (const n of nodes) await runStep(n, 'start-apiserver');
      await tasks().run(waitHealthyTask, 'cp1', {
        intervalSeconds: 1,
        timeoutSeconds: 240,
        successes: 2,
        probes: [{ kind: 'kube', kubeconfig: layout.kubeconfig, maxLeaseAgeSeconds: 20 }, ...nodes.map((n) => ({ kind: 'https', url: `https://${nodeIp(lab, n)}:6443/readyz`, cacert: layout.apiserverCa, bodyMatches: '^ok$' }))],
      });
      console.log(`etcd restore: control plane stopped in ${stopSeconds.toFixed(0)} s, whole procedure ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s`);

      // The snapshot's data, through every apiserver (their watch caches included).
      for (const n of nodes) {
        const r = await cmData(CM, `https://${nodeIp(lab, n)}:6443`);
        ok(r, `get configmap via ${n}`);
        expect(r.stdout, `${n}'s apiserver serves the snapshot's ConfigMap`).toBe('before-snapshot');
        const later = await cmData(CM_LATER, `https://${nodeIp(lab, n)}:6443`);
        expect(later.rc, `${n}: a ConfigMap made after the snapshot is gone`).not.toBe(0);
        expect(later.stderr).toMatch(/NotFound|not found/);
      }
      // A new cluster (new token: new id), revisions ahead of everything any client saw before.
      const after = await etcdHeader(layout);
      expect(after.clusterId).not.toBe(before.clusterId);
      expect(after.revision).toBeGreaterThan(before.revision + 999_999_999n);
      const members = await layout.etcdctl('cp1', 'member list');
      ok(members, 'member list');
      for (const n of nodes) expect(members.stdout).toMatch(new RegExp(`, started, ${n}, https://${nodeIp(lab, n).replace(/\./g, '\\.')}:2380,`));
      // The old data is kept on every member, in the data dir's kcarun-restore folder (same file system).
      for (const n of nodes) ok(await ssh(lab.paths, lab.state, n, 'ls -d /var/lib/etcd/kcarun-restore/member.before-restore.*/wal'), `${n}: old member folder kept`);
      // Controllers and scheduler work without a restart: a new Deployment rolls out on the nodes.
      const manifest = join(lab.work, 'restore', 'deployment.yaml');
      writeFileSync(manifest, pauseDeployment('kcarun-after-restore', 'default', 'kcarun-after-restore', 2));
      ok(await kubectl(lab.paths, ['apply', '-f', manifest]), 'apply deployment');
      ok(await kubectl(lab.paths, ['rollout', 'status', 'deployment/kcarun-after-restore', '-n', 'default', '--timeout=150s', '--request-timeout=0']), 'rollout status');
      ok(await kubectl(lab.paths, ['delete', 'deployment', 'kcarun-after-restore', '-n', 'default', '--wait=true', '--timeout=60s']), 'delete deployment');
      ok(await kubectl(lab.paths, ['delete', 'configmap', CM, '-n', 'default']), 'delete configmap');
      for (const n of nodes) ok(await ssh(lab.paths, lab.state, n, 'rm -rf /var/lib/kcarun/restore /var/lib/etcd/kcarun-restore'), 'clean up');
    }, 900_000);
  });
}
