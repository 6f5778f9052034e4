/**
 * What a dry run promises, checked against a lab (shared by the e2e files that dry-run a playbook;
 * the real labs' dry run itself is test/e2e/real-lab-session.ts `dryRun`):
 * - nothing changes: `nodeFileSums` of the nodes' /etc/kubernetes, /etc/etcd, /var/lib/kubelet and
 *   /etc/prometheus are the same before and after;
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
import type { LabSession } from './lab-session.js';

const WATCHED = ['/etc/kubernetes', '/etc/etcd', '/var/lib/kubelet', '/etc/prometheus'];

export type Events = ReturnType<typeof jsonEvents>;

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
