/**
 * `--dry-run` of every stock playbook on both lab layouts (3 nodes each), through the real CLI
 * over real SSH — the first thing a user runs against a cluster (README):
 * - it exits 0 and passes through every stage the run would run (rotate-ca: the stages that run
 *   are the same in the dry run and in the real run that follows it; the others: no stage fails,
 *   and the stages that do the work are planned, not skipped);
 * - nothing changes: the sha256 (and mode) of every file under the nodes' /etc/kubernetes,
 *   /etc/etcd, /var/lib/kubelet and /etc/prometheus, and the pid and start time of every
 *   component process (systemd units and static pods), are the same before and after;
 * - it is faithful: the (host, path) pairs the dry run says it would change under those folders
 *   are exactly those the real rotate-ca run then changes (its report.json), on both layouts;
 * - it never speaks of rollback or --resume, and its summary names every host that changes.
 *
 * The rotate-ca case is also issue 15's acceptance for `kcarun discover` (one lab and one rotation
 * per layout for both, to keep CI inside its budget): discover writes the vars from an inventory of
 * hosts and groups alone, and the dry run and the real run use those vars and nothing else; the real
 * run is a clean rotation under the lab's traffic (0 failed requests, 0 component errors, every
 * certificate on the new CAs, data intact).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LabPaths } from '../../lab/lab-paths.js';
import { jsonEvents } from '../helpers/cli.js';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab, type LabSession } from './lab-session.js';

const WATCHED = ['/etc/kubernetes', '/etc/etcd', '/var/lib/kubelet', '/etc/prometheus'];
const NODES = ['cp1', 'cp2', 'cp3'];

type Events = ReturnType<typeof jsonEvents>;

/** sha256 and mode of every file under the watched folders of every node, by `node:path`. */
function watchedFiles(lab: LabSession): Map<string, string> {
  const paths = new LabPaths(lab.dir);
  const sums = new Map<string, string>();
  for (const node of NODES) {
    const walk = (abs: string) => {
      const local = paths.node(node).fs(abs);
      if (!existsSync(local)) return;
      for (const name of readdirSync(local)) {
        const child = `${abs}/${name}`;
        const s = statSync(paths.node(node).fs(child));
        if (s.isDirectory()) walk(child);
        else if (s.isFile()) sums.set(`${node}:${child}`, `${createHash('sha256').update(readFileSync(paths.node(node).fs(child))).digest('hex')} ${(s.mode & 0o7777).toString(8)}`);
      }
    };
    for (const dir of WATCHED) walk(dir);
  }
  return sums;
}

/** Start time (clock ticks since boot, /proc/PID/stat field 22) of a process; null when it is gone. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Every component process of every node (systemd units, static pods): `node/component` -> pid@start. */
function componentProcesses(lab: LabSession): Map<string, string> {
  const paths = new LabPaths(lab.dir);
  const out = new Map<string, string>();
  for (const node of NODES) {
    const np = paths.node(node);
    if (existsSync(np.unitsRun)) {
      for (const f of readdirSync(np.unitsRun).filter((x) => x.endsWith('.pid'))) {
        const pid = Number(readFileSync(join(np.unitsRun, f), 'utf8'));
        out.set(`${node}/unit/${f.slice(0, -4)}`, `${pid}@${startTime(pid)}`);
      }
    }
    if (existsSync(np.podsRun)) {
      for (const f of readdirSync(np.podsRun).filter((x) => x.endsWith('.json'))) {
        const pod = JSON.parse(readFileSync(join(np.podsRun, f), 'utf8')) as { pod: string; pid: number };
        out.set(`${node}/pod/${pod.pod}`, `${pod.pid}@${startTime(pod.pid)}`);
      }
    }
  }
  return out;
}

const underWatched = (path: string) => WATCHED.some((d) => path === d || path.startsWith(`${d}/`));

/** The (host, path) pairs a dry run's planned-change events name, under the watched folders. */
function plannedFiles(events: Events): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.event !== 'planned-change' || typeof e.path !== 'string' || !underWatched(e.path)) continue;
    out.add(`${String(e.host)}:${e.path}`);
  }
  return out;
}

/** The (host, path) pairs a real run's report.json says it changed, under the watched folders. */
function reportedFiles(stateDir: string): Set<string> {
  const report = JSON.parse(readFileSync(join(stateDir, 'report', 'report.json'), 'utf8')) as { changes: { host: string; files?: string[] }[] };
  const out = new Set<string>();
  for (const c of report.changes) for (const f of c.files ?? []) if (underWatched(f)) out.add(`${c.host}:${f}`);
  return out;
}


const stageStatuses = (events: Events) => Object.fromEntries(events.filter((e) => e.event === 'stage-end').map((e) => [String(e.stage), String(e.status)]));

/**
 * Runs one dry run of a stock playbook and checks what every dry run promises: exit 0, a complete
 * plan, no failed stage, no talk of rollback or --resume, and nothing changed on any node.
 */
async function dryRun(lab: LabSession, playbook: string, extra: string[] = [], inventory = lab.inventory): Promise<Events> {
  const filesBefore = watchedFiles(lab);
  const procsBefore = componentProcesses(lab);
  expect(procsBefore.size, 'the lab runs its components').toBeGreaterThan(5);
  const res = await lab.kcarun([join(PLAYBOOKS, playbook), '-i', inventory, '--dry-run', '--output', 'json', '--state-dir', join(lab.work, `dry-${playbook}`), ...FAST_GATES, ...extra]);
  const events = jsonEvents(res.stdout);
  const failedSteps = events.filter((e) => e.event === 'task-end' && e.status === 'failed').map((e) => `${e.stage}/${e.host}/${e.task}: ${(e.error as { message?: string } | undefined)?.message}`);
  expect(failedSteps, `${playbook}: ${res.stderr}`).toEqual([]);
  expect(res.code, `${playbook}: ${res.stdout.slice(-3000)}${res.stderr}`).toBe(0);
  expect(res.stderr).not.toMatch(/undefined variable/);
  expect(Object.entries(stageStatuses(events)).filter(([, s]) => s === 'failed')).toEqual([]);
  expect(events.find((e) => e.event === 'plan-summary')).toMatchObject({ complete: true });
  expect(events.at(-1)).toMatchObject({ event: 'run-end', status: 'planned', exitCode: 0 });
  expect(res.stdout + res.stderr, playbook).not.toMatch(/rolled back|roll back|--resume/i);
  expect(watchedFiles(lab), `${playbook}: a file changed`).toEqual(filesBefore);
  expect(componentProcesses(lab), `${playbook}: a component restarted`).toEqual(procsBefore);
  return events;
}

for (const layout of ['kubeadm', 'binary'] as const) {
  describe(`--dry-run of every stock playbook on a ${layout} lab`, () => {
    const lab = labSession({ name: `dry-run-${layout}`, ipPrefix: layout === 'kubeadm' ? '127.0.61' : '127.0.62', layout, nodes: 3 });
    useLab(lab, { beforeAll, afterAll });

    it('check-expiry: read-only, exit 0, every host checked for real', async () => {
      const events = await dryRun(lab, 'check-expiry.yaml', ['-e', 'warn_days=1']);
      const checked = events.filter((e) => e.event === 'task-end' && e.stage === 'check-expiry' && e.status === 'ok');
      expect(new Set(checked.map((e) => e.host))).toEqual(new Set(NODES));
      expect(events.filter((e) => e.event === 'planned-change')).toEqual([]);
    }, 300_000);

    it('renew-leaf-certs (forced): detect runs for real, renewal planned on every node', async () => {
      const events = await dryRun(lab, 'renew-leaf-certs.yaml', ['-e', 'force_renewal=true']);
      const statuses = stageStatuses(events);
      expect(statuses['renew-detect']).toBe('ok');
      for (const [stage, status] of Object.entries(statuses)) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
      const hosts = new Set([...plannedFiles(events)].map((p) => p.split(':')[0]));
      expect(hosts).toEqual(new Set(NODES));
    }, 600_000);

    it('offline-replace: every stage planned (CAs made in the scratch state), nothing stopped', async () => {
      const events = await dryRun(lab, 'offline-replace.yaml', ['-e', 'accept_downtime=true']);
      for (const [stage, status] of Object.entries(stageStatuses(events))) expect(`${stage}: ${status}`).toBe(`${stage}: ok`);
      expect(events.some((e) => e.event === 'planned-change' && e.kind === 'command' && /systemctl stop|crictl|mv /.test(String(e.command)))).toBe(true);
    }, 600_000);

    it('rotate-etcd-ca and rotate-k8s-ca: through every stage of their CA', async () => {
      const etcd = stageStatuses(await dryRun(lab, 'rotate-etcd-ca.yaml'));
      for (const stage of ['detect', 'preflight', 'backup', 'prepare-cas', 'prepare-certs', 'distribute', 'trust-etcd', 'trust-etcd-apiserver', 'switch-etcd', 'finalize', 'finalize-check', 'finalize-etcd', 'finalize-cleanup', 'post-check']) {
        expect(`${stage}: ${etcd[stage]}`).toBe(`${stage}: ok`);
      }
      expect(etcd['trust-kubelets']).toBe('skipped');
      const k8s = stageStatuses(await dryRun(lab, 'rotate-k8s-ca.yaml'));
      for (const stage of ['detect', 'preflight', 'prepare-cas', 'prepare-certs', 'trust-controller-manager', 'trust-apiserver', 'trust-kubeconfigs', 'trust-kubelets', 'switch-signing', 'switch-control-plane', 'finalize', 'finalize-apiserver', 'finalize-kubelets', 'post-check']) {
        expect(`${stage}: ${k8s[stage]}`).toBe(`${stage}: ok`);
      }
      expect(k8s['trust-etcd']).toBe('skipped');
    }, 900_000);

    it('rotate-ca with discovered vars alone: the dry run plans exactly the stages and files the real run then changes; 0 failed requests', async () => {
      // The lab's inventory without its `vars:` section: hosts, groups and SSH settings only.
      const full = readFileSync(lab.inventory, 'utf8');
      const bare = join(lab.work, 'hosts-only.yaml');
      writeFileSync(bare, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
      const varsFile = join(lab.work, 'discovered.yaml');
      const found = await lab.kcarun(['discover', '-i', bare, '--output', 'json', '--write-vars', varsFile]);
      expect(found.code, found.stderr).toBe(0);
      expect((JSON.parse(found.stdout) as { warnings: string[] }).warnings).toEqual([]);
      expect((parse(readFileSync(varsFile, 'utf8')) as Record<string, unknown>)['layout']).toBe(layout);

      const dry = await dryRun(lab, 'rotate-ca.yaml', ['-e', `@${varsFile}`], bare);
      const planned = plannedFiles(dry);
      // The etcd leader is asked live where the probe's files exist (finalize-etcd uses the CA file).
      expect(dry.some((e) => e.event === 'stage-start' && e.stage === 'finalize-etcd' && /asked live/.test(String((e.leader as { note?: string } | undefined)?.note)))).toBe(true);
      // Every node restarts something, and the summary says so per component.
      const summary = dry.find((e) => e.event === 'plan-summary') as unknown as { hosts: { host: string; restarts: { component: string; count: number }[] }[] };
      for (const node of NODES) expect(summary.hosts.find((h) => h.host === node)?.restarts.length, node).toBeGreaterThan(0);

      const real = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', bare, '--yes', '--output', 'json', ...FAST_GATES, '-e', `@${varsFile}`]);
      expect(real.code, real.stdout.slice(-3000) + real.stderr).toBe(0);
      expect(stageStatuses(dry)).toEqual(stageStatuses(jsonEvents(real.stdout)));
      const changed = reportedFiles(join(lab.work, '.kcarun'));
      expect(changed.size).toBeGreaterThan(10);
      expect([...planned].sort()).toEqual([...changed].sort());
      await expectCleanRotation(lab, `${layout} rotation with discovered vars, after its dry run`);
    }, 1_500_000);
  });
}
