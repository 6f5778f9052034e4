/**
 * lab/real/traffic.ts: the real lab's traffic generator against a cluster that is down (nothing
 * listens at its address, as after the field notes' wrong order). Its ConfigMaps cannot be made, and
 * it must still send and count its requests, each one failed: the e2e's "the cluster is down" window
 * reads exactly that (session 18: the generator exited at setup, and the window saw no request).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realTrafficMain, type RealTrafficCounters, type RealTrafficPlan } from '../../lab/real/traffic.js';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the real lab\'s traffic generator, the cluster down', () => {
  const root = mkdtempSync(join(tmpdir(), 'kcarun-traffic-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('sends and counts its requests although it could not create its ConfigMaps, and says why in failures.jsonl', async () => {
    // An admin kubeconfig as kubeadm embeds it (a self-signed pair from openssl stands for CA and client).
    const key = join(root, 'k.pem');
    const crt = join(root, 'c.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/O=system:masters/CN=kubernetes-admin'], { stdio: 'ignore' });
    const b64 = (f: string): string => readFileSync(f).toString('base64');
    const nodeRoot = join(root, 'fs');
    mkdirSync(join(nodeRoot, 'etc/kubernetes'), { recursive: true });
    writeFileSync(
      join(nodeRoot, 'etc/kubernetes/admin.conf'),
      `apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: { server: "https://127.0.0.1:1", certificate-authority-data: ${b64(crt)} }\n` +
        `users:\n- name: admin\n  user: { client-certificate-data: ${b64(crt)}, client-key-data: ${b64(key)} }\ncontexts:\n- name: c\n  context: { cluster: k, user: admin }\ncurrent-context: c\n`,
    );
    const dir = join(root, 'traffic');
    mkdirSync(dir);
    const plan: RealTrafficPlan = { intervalMs: 250, targets: [{ name: 'lb', url: `https://127.0.0.1:${await closedPort()}`, nodeRoot, kubeconfig: '/etc/kubernetes/admin.conf' }] };
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));

    const t0 = Date.now();
    await realTrafficMain(dir, (stop) => setTimeout(stop, 3000));
    const counters = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as RealTrafficCounters;
    // The setup gave up after its 15 s, then 3 s of traffic at 4 requests a second.
    expect(Date.now() - t0).toBeLessThan(40_000);
    expect(counters.byTarget['lb']?.requests).toBeGreaterThanOrEqual(8);
    expect(counters.byTarget['lb']?.failures).toBe(counters.byTarget['lb']?.requests);
    expect(counters.windows.map((w) => [w.target, w.to])).toEqual([['lb', null]]);
    const failures = readFileSync(join(dir, 'failures.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { target: string; error: string });
    expect(failures.filter((f) => f.target === 'setup').map((f) => f.error)).toEqual([expect.stringMatching(/^ConfigMaps kcarun-traffic-0\.\.9 not created within 15 s: .*ECONNREFUSED/)]);
    expect(failures.filter((f) => f.target === 'lb')).toHaveLength(counters.byTarget['lb']!.failures);
  }, 60_000);
});
