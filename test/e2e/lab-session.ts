/**
 * One lab for an end-to-end test file: up in beforeAll, down in afterAll, and the calls the
 * scenarios need (run kcarun against it, count traffic, verify). Each file uses its own IP prefix
 * and folder, so files never share a lab by accident.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown } from '../../lab/commands/down.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { labUp } from '../../lab/commands/up.js';
import { labVerify } from '../../lab/commands/verify.js';
import type { Layout } from '../../lab/lab-state.js';
import { expect } from 'vitest';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';

export const PLAYBOOKS = join(import.meta.dirname, '..', '..', 'playbooks');

/** Gates tuned for the lab (its components come back in about a second): the same checks, sooner. */
export const FAST_GATES = ['-e', 'gate_interval_seconds=1', '-e', 'gate_successes=2'];

export interface LabSession {
  dir: string;
  work: string;
  inventory: string;
  up(): Promise<void>;
  down(): Promise<void>;
  kcarun(args: string[]): Promise<CliResult>;
  start(args: string[]): ReturnType<typeof startCli>;
  verify(): Promise<Awaited<ReturnType<typeof labVerify>>>;
  trafficStart(): Promise<void>;
  trafficStop(): Promise<void>;
}

export function labSession(options: { name: string; ipPrefix: string; layout: Layout; nodes: number }): LabSession {
  const work = mkdtempSync(join(tmpdir(), `kcarun-e2e-${options.name}-`));
  const dir = join(work, 'lab');
  const inventory = join(work, 'inventory.yaml');
  return {
    dir,
    work,
    inventory,
    async up() {
      await labUp({ dir, nodes: options.nodes, layout: options.layout, caDaysLeft: 30, ipPrefix: options.ipPrefix, log: () => undefined });
      writeFileSync(inventory, labInventory(dir));
    },
    async down() {
      await trafficStop({ dir }).catch(() => undefined);
      await labDown({ dir, purge: true, log: () => undefined });
      rmSync(work, { recursive: true, force: true });
    },
    kcarun: (args) => runCli(args, { cwd: work }),
    start: (args) => startCli(args, { cwd: work }),
    verify: () => labVerify(dir),
    async trafficStart() {
      await trafficStart({ dir });
    },
    trafficStop: () => trafficStop({ dir }),
  };
}

/** What `kcarun status --output json` says of a state dir (the fields the e2e tests read). */
export interface StatusJson {
  state: string;
  stages: { name: string; status: string; startedAt?: string; endedAt?: string }[];
  steps: { ok: number; inFlight: string[] };
  stepStatus: Record<string, string>;
}

/**
 * Where a run stands, read as a user's script would: `kcarun status --state-dir D --output json`
 * (the journal's format stays kcarun's own business). Fails the test when the command fails.
 */
export async function runStatus(lab: LabSession, stateDir: string): Promise<StatusJson> {
  const res = await lab.kcarun(['status', '--state-dir', stateDir, '--output', 'json']);
  if (res.code !== 0) throw new Error(`kcarun status exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as StatusJson;
}

/** One line per scenario in the test output: requests counted and failures (and what failed, if anything). */
export function report(scenario: string, v: { requests: number; failures: number; componentErrors: number }, labDir?: string): void {
  console.log(`[e2e] ${scenario}: ${v.requests} requests, ${v.failures} failures, ${v.componentErrors} component errors`);
  if (labDir && (v.failures > 0 || v.componentErrors > 0)) {
    const errors = readFileSync(join(labDir, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"level":"error"') && !l.includes('"class":"connection"'));
    console.log(errors.slice(-20).join('\n'));
    const failures = join(labDir, 'traffic', 'failures.jsonl');
    // `files:<node>` lines are the generator noting a certificate it could not re-read (a file being
    // replaced), not failed requests: they would crowd the requests that failed out of the tail.
    if (existsSync(failures)) console.log(readFileSync(failures, 'utf8').split('\n').filter((l) => l && !l.includes('"target":"files:')).slice(-20).join('\n'));
  }
}

/**
 * The last n failed requests of the traffic generator (time, target, error), on one line: CI shows
 * only the assertion lines of a failed test (scripts/test.sh's digest), and a count without the
 * error cannot tell a TLS failure from a member that did not answer in time.
 */
function lastFailures(labDir: string, n: number): string {
  const file = join(labDir, 'traffic', 'failures.jsonl');
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.includes('"target":"files:'));
  return lines.slice(-n).join(' | ');
}

/**
 * What a zero-downtime rotation promises, checked on the lab after a few more seconds of traffic:
 * no failed request, no component error, every certificate on the new CAs, nothing trusting an old
 * one, etcd data intact. Prints the scenario's counts.
 */
export async function expectCleanRotation(lab: LabSession, scenario: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 3000));
  const v = await lab.verify();
  report(scenario, v, lab.dir);
  expect(v.requests).toBeGreaterThan(500);
  expect(v.failures, `${JSON.stringify(v.failuresByTarget)} ${lastFailures(lab.dir, 3)}`).toBe(0);
  expect(v.componentErrors, JSON.stringify(v.componentErrorsByComponent)).toBe(0);
  expect(v.allCertsOnNewCA, JSON.stringify(v.leavesOnOldCa)).toBe(true);
  expect(v.filesTrustingOldCa).toEqual([]);
  expect(v.dataIntact).toBe(true);
}

/** The lab for one e2e file: up (with traffic) before its tests, down after. */
export function useLab(lab: LabSession, hooks: { beforeAll: (fn: () => Promise<void>) => void; afterAll: (fn: () => Promise<void>) => void }): void {
  hooks.beforeAll(async () => {
    await lab.up();
    await lab.trafficStart();
  });
  hooks.afterAll(async () => {
    await lab.down();
  });
}
