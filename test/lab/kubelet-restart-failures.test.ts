/**
 * The one excuse the e2e rotations allow (test/e2e/lab-session.ts kubeletRestartFailures): a failed
 * apiserver -> kubelet proxy request inside kcarun's own restart of that node's kubelet. Anything
 * else must still count.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubeletRestartFailures } from '../e2e/lab-session.js';

describe('kubeletRestartFailures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kcarun-krf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // kcarun restarted cp3's kubelet from 10:00:10 to 10:00:20 (task-end ts minus durationMs).
  const events = [
    { event: 'task-end', type: 'service-restart', status: 'changed', host: 'cp3', ts: '2026-12-02T10:00:20.000Z', durationMs: 10_000, summary: 'kubelet restarted (MainPID 10 -> 20)' },
    { event: 'task-end', type: 'service-restart', status: 'changed', host: 'cp2', ts: '2026-12-02T10:00:20.000Z', durationMs: 10_000, summary: 'kube-apiserver restarted (MainPID 1 -> 2)' },
  ];
  const failure = (ts: string, target: string, error: string) => JSON.stringify({ ts, target, error });

  it('excuses only connection-class proxy failures to that node inside its kubelet restart (+ one attempt)', () => {
    mkdirSync(join(dir, 'traffic'), { recursive: true });
    const lines = [
      failure('2026-12-02T10:00:15.000Z', 'apiserver-to-kubelet:cp3', 'GET node proxy: HTTP 502 dial tcp 10.0.0.3:10250: connect: connection refused'),
      failure('2026-12-02T10:00:23.000Z', 'apiserver-to-kubelet:cp3', 'GET node proxy: HTTP 503 unavailable'),
      // after the restart step ended + one attempt: the kubelet should have been back
      failure('2026-12-02T10:00:30.000Z', 'apiserver-to-kubelet:cp3', 'GET node proxy: HTTP 502 connection refused'),
      // before the restart began
      failure('2026-12-02T10:00:05.000Z', 'apiserver-to-kubelet:cp3', 'GET node proxy: HTTP 502 connection refused'),
      // a TLS failure is never excused
      failure('2026-12-02T10:00:15.000Z', 'apiserver-to-kubelet:cp3', 'GET node proxy: HTTP 502 x509: certificate signed by unknown authority'),
      // another node's kubelet was not restarted (cp2 restarted its apiserver only)
      failure('2026-12-02T10:00:15.000Z', 'apiserver-to-kubelet:cp2', 'GET node proxy: HTTP 502 connection refused'),
      // another target
      failure('2026-12-02T10:00:15.000Z', 'apiserver-admin:cp3', 'ECONNREFUSED'),
    ];
    writeFileSync(join(dir, 'traffic', 'failures.jsonl'), `${lines.join('\n')}\n`);
    expect(kubeletRestartFailures(dir, events).map((f) => f.ts)).toEqual(['2026-12-02T10:00:15.000Z', '2026-12-02T10:00:23.000Z']);
    expect(kubeletRestartFailures(dir, [])).toEqual([]);
  });
});
