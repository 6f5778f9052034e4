/**
 * The restore procedure's shell blocks in docs/health.md, which test/e2e/health-restore-real.ts runs
 * verbatim on the genuine kubeadm cluster: here, without a cluster, every step is there and parses
 * with `bash -n`, so a broken edit of the doc fails in seconds rather than after a lab is up.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { restoreSteps } from '../e2e/health-restore-real.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/health.md'), 'utf8');

describe('docs/health.md restore blocks', () => {
  const steps = restoreSteps(doc);

  it('gives every step in order', () => {
    expect([...steps.keys()]).toEqual(['check', 'stop', 'wait-stopped', 'restore', 'swap', 'start-etcd', 'wait-etcd', 'start-apiserver']);
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
