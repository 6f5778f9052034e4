/**
 * The restore procedure's shell blocks in docs/health.md, which test/e2e/health-restore-real.ts runs
 * verbatim on the genuine kubeadm cluster: here, without a cluster, every step is there and parses
 * with `bash -n`, so a broken edit of the doc fails in seconds rather than after a lab is up.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESTORE_STEPS, UNIT_RESTORE_STEPS, restoreSteps } from '../e2e/health-restore-real.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/health.md'), 'utf8');

describe('docs/health.md restore blocks', () => {
  const steps = restoreSteps(doc);

  it('gives every step in order', () => {
    expect([...steps.keys()]).toEqual([...RESTORE_STEPS]);
  });

  it.each([...steps.entries()])('%s parses with bash -n and calls no exit (it may be pasted into a shell)', (_name, script) => {
    expect(() => execFileSync('bash', ['-n', '-c', script], { stdio: 'pipe' })).not.toThrow();
    expect(script).not.toMatch(/\bexit\b/);
  });

  it('reads the member name, peer URL, data dir and image from the moved etcd manifest, and checks none is empty', () => {
    const restore = steps.get('restore')!;
    for (const v of ['NAME', 'PEER_URL', 'DATA_DIR', 'IMAGE', 'INITIAL_CLUSTER', 'RESTORE_TOKEN']) expect(restore).toMatch(new RegExp(`\\$\\{${v}:\\?`));
  });
});

describe('docs/health.md restore blocks for etcd as a unit', () => {
  const steps = restoreSteps(doc, 'restore-unit-step');

  it('gives every step in order', () => {
    expect([...steps.keys()]).toEqual([...UNIT_RESTORE_STEPS]);
  });

  it.each([...steps.entries()])('%s parses with bash -n and calls no exit (it may be pasted into a shell)', (_name, script) => {
    expect(() => execFileSync('bash', ['-n', '-c', script], { stdio: 'pipe' })).not.toThrow();
    expect(script).not.toMatch(/\bexit\b/);
  });

  /**
   * The check block's `setting` function, run against a real process whose command line and
   * environment are known: every flag form Go's flag package accepts, the ETCD_* fallback, and the
   * command line winning over the environment (as etcd itself decides).
   */
  it("reads etcd's settings from a running process's command line, then its environment", async () => {
    const fn = /^setting\(\) \{[\s\S]*?^\}$/m.exec(steps.get('check')!)?.[0];
    expect(fn, 'the check block defines setting()').toBeDefined();
    // A bash that waits, with the flags as its arguments: its /proc cmdline carries them as etcd's would.
    const proc = spawn('bash', ['-c', 'sleep 30; :', 'etcd', '--name=cp1', '-data-dir', '/var/lib/etcd', '--listen-peer-urls', 'https://10.0.0.1:2380', '-initial-cluster-token=t'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ETCD_INITIAL_ADVERTISE_PEER_URLS: 'https://10.0.0.1:2380', ETCD_NAME: 'from-env', ETCD_WAL_DIR: '' },
      stdio: 'ignore',
      detached: true, // its own process group: the kill below ends its sleep too
    });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const ask = (flag: string, env: string) => execFileSync('bash', ['-euc', `PID=${proc.pid}\n${fn}\nsetting ${flag} ${env}`], { encoding: 'utf8' });
      expect(ask('name', 'ETCD_NAME')).toBe('cp1');
      expect(ask('data-dir', 'ETCD_DATA_DIR')).toBe('/var/lib/etcd');
      expect(ask('initial-advertise-peer-urls', 'ETCD_INITIAL_ADVERTISE_PEER_URLS')).toBe('https://10.0.0.1:2380');
      expect(ask('initial-cluster-token', 'ETCD_INITIAL_CLUSTER_TOKEN')).toBe('t');
      expect(ask('wal-dir', 'ETCD_WAL_DIR')).toBe('');
      expect(ask('config-file', 'ETCD_CONFIG_FILE')).toBe('');
      // a flag that is a prefix of another is not taken for it
      expect(ask('listen-peer', 'ETCD_LISTEN_PEER')).toBe('');
    } finally {
      process.kill(-proc.pid!, 'SIGKILL');
    }
  });

  it('records the name, peer URL, data dir, client URL and owner while etcd runs, refusing empty ones, a --wal-dir and a --config-file', () => {
    const check = steps.get('check')!;
    for (const v of ['NAME', 'PEER_URL', 'DATA_DIR', 'CLIENT_URL']) expect(check).toMatch(new RegExp(`\\$\\{${v}:\\?`));
    expect(check).toMatch(/setting wal-dir ETCD_WAL_DIR/);
    expect(check).toMatch(/setting config-file ETCD_CONFIG_FILE/);
    expect(steps.get('restore')!).toMatch(/\$\{INITIAL_CLUSTER:\?\}" "\$\{RESTORE_TOKEN:\?\}/);
  });
});
