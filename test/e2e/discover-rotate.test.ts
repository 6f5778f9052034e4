/**
 * Issue 15's acceptance on the lab: `kcarun discover` writes the vars, and the stock rotate-ca
 * rotates the cluster with those vars alone (an inventory with hosts and groups only, no layout
 * vars), under lab traffic: 0 failed requests, 0 component errors, every certificate on the new
 * CAs, data intact. One lab per layout, each on its own addresses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverCommand } from '../../src/commands/discover.js';
import type { CommandIO } from '../../src/commands/io.js';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';

function quietIo(cwd: string): CommandIO & { out: string[] } {
  const out: string[] = [];
  return { out, stdout: (s) => out.push(s), stderr: () => {}, interactive: false, env: {}, cwd, pid: process.pid, isRunning: () => false, confirm: async () => false, onInterrupt: () => () => {} };
}

describe.each([
  { layout: 'kubeadm' as const, ipPrefix: '127.0.56' },
  { layout: 'binary' as const, ipPrefix: '127.0.57' },
])('discover, then rotate-ca with the discovered vars alone ($layout lab)', ({ layout, ipPrefix }) => {
  const lab = labSession({ name: `discover-${layout}`, ipPrefix, layout, nodes: 3 });
  useLab(lab, { beforeAll, afterAll });

  it('discovers the layout and rotates every CA with 0 failures', async () => {
    // The lab's inventory without its `vars:` section: hosts, groups and SSH settings only.
    const full = readFileSync(lab.inventory, 'utf8');
    const bare = join(lab.work, 'hosts-only.yaml');
    writeFileSync(bare, `${full.slice(0, full.indexOf('\nvars:'))}\n`);
    const varsFile = join(lab.work, 'discovered.yaml');
    const io = quietIo(lab.work);
    const code = await discoverCommand({ inventory: bare, output: 'json', writeVars: varsFile }, io);
    const result = JSON.parse(io.out.join('')) as { warnings: string[] };
    expect(result.warnings).toEqual([]);
    expect(code).toBe(0);
    const vars = parse(readFileSync(varsFile, 'utf8')) as Record<string, unknown>;
    expect(vars['layout']).toBe(layout);

    const run = await lab.kcarun([join(PLAYBOOKS, 'rotate-ca.yaml'), '-i', bare, '--yes', ...FAST_GATES, '-e', `@${varsFile}`]);
    expect(run.code, run.stdout.slice(-3000) + run.stderr).toBe(0);
    await expectCleanRotation(lab, `${layout} rotation with discovered vars`);
  }, 1_500_000);
});
