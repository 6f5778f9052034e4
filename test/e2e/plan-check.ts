/**
 * What a dry run promises, checked against a lab (shared by the e2e files that dry-run a playbook):
 * - nothing changes: the sha256 (and mode) of every file under the nodes' /etc/kubernetes,
 *   /etc/etcd, /var/lib/kubelet and /etc/prometheus, and the pid and start time of every component
 *   process (systemd units and static pods), are the same before and after;
 * - it is faithful: the (host, path) pairs it plans to change under those folders are those the
 *   real run then changes (`plannedFiles` against `reportedFiles` / `changedFiles`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { LabPaths } from '../../lab/lab-paths.js';
import { jsonEvents } from '../helpers/cli.js';
import { FAST_GATES, PLAYBOOKS, type LabSession } from './lab-session.js';

const WATCHED = ['/etc/kubernetes', '/etc/etcd', '/var/lib/kubelet', '/etc/prometheus'];

export type Events = ReturnType<typeof jsonEvents>;

/** The lab's node names (cp1, cp2, ...). */
export const labNodes = (lab: LabSession): string[] => readdirSync(join(lab.dir, 'nodes')).sort();

/**
 * sha256 and mode of every file at or under `roots` (node paths: folders or single files) of each
 * node, by `node:path`: "did anything change?". Missing roots are skipped.
 */
export function nodeFileSums(paths: LabPaths, nodes: readonly string[], roots: readonly string[]): Map<string, string> {
  const sums = new Map<string, string>();
  for (const node of nodes) {
    const walk = (abs: string) => {
      const local = paths.node(node).fs(abs);
      if (!existsSync(local)) return;
      const s = statSync(local);
      if (s.isDirectory()) for (const name of readdirSync(local)) walk(`${abs}/${name}`);
      else if (s.isFile()) sums.set(`${node}:${abs}`, `${createHash('sha256').update(readFileSync(local)).digest('hex')} ${(s.mode & 0o7777).toString(8)}`);
    };
    for (const root of roots) walk(root);
  }
  return sums;
}

/** sha256 and mode of every file under the watched folders of every node, by `node:path`. */
const watchedFiles = (lab: LabSession): Map<string, string> => nodeFileSums(new LabPaths(lab.dir), labNodes(lab), WATCHED);

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
  for (const node of labNodes(lab)) {
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
export function plannedFiles(events: Events): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.event !== 'planned-change' || typeof e.path !== 'string' || !underWatched(e.path)) continue;
    out.add(`${String(e.host)}:${e.path}`);
  }
  return out;
}

/** The (host, path) pairs a real run's report.json says it changed, under the watched folders. */
export function reportedFiles(stateDir: string): Set<string> {
  const report = JSON.parse(readFileSync(join(stateDir, 'report', 'report.json'), 'utf8')) as { changes: { host: string; files?: string[] }[] };
  const out = new Set<string>();
  for (const c of report.changes) for (const f of c.files ?? []) if (underWatched(f)) out.add(`${c.host}:${f}`);
  return out;
}


export const stageStatuses = (events: Events) => Object.fromEntries(events.filter((e) => e.event === 'stage-end').map((e) => [String(e.stage), String(e.status)]));

/**
 * Runs one dry run of a stock playbook and checks what every dry run promises: exit 0, a complete
 * plan, no failed stage, no talk of rollback or --resume, and nothing changed on any node.
 */
export async function dryRun(lab: LabSession, playbook: string, extra: string[] = [], inventory = lab.inventory): Promise<Events> {
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

/**
 * The (host, path) pairs the task-end events of a real run's `--output json` say it changed, under
 * the watched folders: for a run that stopped (its report.json is the report of the last run only).
 */
export function changedFiles(events: Events): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.event !== 'task-end' || !e.changed || !Array.isArray(e.files)) continue;
    for (const f of e.files as string[]) if (underWatched(f)) out.add(`${String(e.host)}:${f}`);
  }
  return out;
}

/**
 * Writes the lab's inventory without its `vars:` section (hosts, groups and SSH settings only), runs
 * `kcarun discover --write-vars` on it and checks it found the layout (unless undefined: etcd alone
 * has no Kubernetes layout) without a warning.
 * Returns the two files: the hosts-only inventory and the discovered vars.
 */
export async function discoverVars(lab: LabSession, layout: string | undefined): Promise<{ bare: string; varsFile: string; vars: Record<string, unknown> }> {
  const full = readFileSync(lab.inventory, 'utf8');
  const bare = join(lab.work, 'hosts-only.yaml');
  writeFileSync(bare, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
  const varsFile = join(lab.work, 'discovered.yaml');
  const found = await lab.kcarun(['discover', '-i', bare, '--output', 'json', '--write-vars', varsFile]);
  expect(found.code, `${found.stderr}${found.stdout.slice(-4000)}`).toBe(0);
  expect((JSON.parse(found.stdout) as { warnings: string[] }).warnings).toEqual([]);
  const vars = parse(readFileSync(varsFile, 'utf8')) as Record<string, unknown>;
  if (layout !== undefined) expect(vars['layout']).toBe(layout);
  return { bare, varsFile, vars };
}

/**
 * The dry run of rotate-ca with discovered vars, and what it must plan on every layout: the etcd
 * leader asked live, a restart on every node. Returns its events (for the comparison with the real run).
 */
export async function dryRunRotation(lab: LabSession, bare: string, varsFile: string, extra: string[] = []): Promise<Events> {
  const dry = await dryRun(lab, 'rotate-ca.yaml', ['-e', `@${varsFile}`, ...extra], bare);
  // The etcd leader is asked live where the probe's files exist (finalize-etcd uses the CA file).
  expect(dry.some((e) => e.event === 'stage-start' && e.stage === 'finalize-etcd' && /asked live/.test(String((e.leader as { note?: string } | undefined)?.note)))).toBe(true);
  // Every node restarts something, and the summary says so per component.
  const summary = dry.find((e) => e.event === 'plan-summary') as unknown as { hosts: { host: string; restarts: { component: string; count: number }[] }[] };
  for (const node of labNodes(lab)) expect(summary.hosts.find((h) => h.host === node)?.restarts.length, node).toBeGreaterThan(0);
  expect(plannedFiles(dry).size).toBeGreaterThan(10);
  return dry;
}
