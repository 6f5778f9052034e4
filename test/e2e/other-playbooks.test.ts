/**
 * The stock playbooks other than rotate-ca, end to end on one 3-node kubeadm lab, through the real
 * CLI (`node dist/cli.js`, so `npm run build` first) over real SSH:
 * - check-expiry: exit 0 with warn_days 1, exit 1 naming the CA files with warn_days 40 (the lab's
 *   CAs expire in 30 days); nothing changed either way.
 * - renew-leaf-certs: with force_renewal every leaf (files and kubeconfig-embedded) gets a new serial
 *   from the same CA (openssl verify against the node's CA file), under lab traffic with zero
 *   component errors; a second run without force changes nothing and says so.
 * - offline-replace: refuses without accept_downtime; with it, every leaf chains to a new CA
 *   afterwards, nothing trusts the old CAs, and the etcd data written before is intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parse } from 'yaml';
import { labUp } from '../../lab/commands/up.js';
import { labDown } from '../../lab/commands/down.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { labVerify } from '../../lab/commands/verify.js';
import { LabPaths } from '../../lab/lab-paths.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const NODES = ['cp1', 'cp2', 'cp3'];
/** Every leaf certificate file of the kubeadm layout on each node. */
const LEAF_FILES = [
  '/etc/kubernetes/pki/etcd/server.crt',
  '/etc/kubernetes/pki/etcd/peer.crt',
  '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
  '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  '/etc/kubernetes/pki/apiserver.crt',
  '/etc/kubernetes/pki/apiserver-kubelet-client.crt',
  '/etc/kubernetes/pki/front-proxy-client.crt',
  '/var/lib/kubelet/pki/kubelet.crt',
];
const KUBECONFIGS = ['/etc/kubernetes/admin.conf', '/etc/kubernetes/controller-manager.conf', '/etc/kubernetes/scheduler.conf', '/etc/kubernetes/kubelet.conf'];
const CA_OF: Record<string, string> = {
  'etcd/': '/etc/kubernetes/pki/etcd/ca.crt',
  'apiserver-etcd-client': '/etc/kubernetes/pki/etcd/ca.crt',
  'front-proxy-client': '/etc/kubernetes/pki/front-proxy-ca.crt',
};
const caFor = (path: string): string => Object.entries(CA_OF).find(([k]) => path.includes(k))?.[1] ?? '/etc/kubernetes/pki/ca.crt';

interface CliRun {
  rc: number;
  output: string;
  end: { status: string; changed: number; failed: number; message?: string } | undefined;
}

describe('stock playbooks check-expiry, renew-leaf-certs, offline-replace on the kubeadm lab', () => {
  const root = mkdtempSync('/tmp/kcarun-e2e-other-');
  const labDir = join(root, 'lab');
  const inventory = join(root, 'inventory.yaml');
  const paths = new LabPaths(labDir);

  beforeAll(async () => {
    await labUp({ dir: labDir, nodes: 3, layout: 'kubeadm', caDaysLeft: 30, ipPrefix: '127.0.41', log: () => undefined });
    writeFileSync(inventory, labInventory(labDir));
  }, 300_000);

  afterAll(async () => {
    await trafficStop({ dir: labDir }).catch(() => undefined);
    await labDown({ dir: labDir, purge: true, log: () => undefined });
    rmSync(root, { recursive: true, force: true });
  }, 120_000);

  /** Runs the CLI with JSON events; --fresh because a failed check-expiry leaves its run unfinished. */
  function kcarun(playbook: string, ...extra: string[]): Promise<CliRun> {
    const args = [CLI, join(import.meta.dirname, '../../playbooks', playbook), '-i', inventory, '--yes', '--fresh', '--output', 'json', ...extra.flatMap((e) => ['-e', e])];
    return new Promise((resolve) => {
      execFile('node', args, { maxBuffer: 100_000_000 }, (err, stdout, stderr) => {
        const rc = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string });
        const end = events.find((e) => e.event === 'run-end') as CliRun['end'];
        resolve({ rc, output: stdout + stderr, end });
      });
    });
  }

  const file = (node: string, path: string): string => paths.node(node).fs(path);
  const cert = (pem: string | Buffer): X509Certificate => new X509Certificate(pem);
  /** A kubeconfig's client certificate: embedded, or the file it names (kubelet.conf -> kubelet-client-current.pem). */
  function embeddedClientCert(node: string, kubeconfig: string): X509Certificate {
    const doc = parse(readFileSync(file(node, kubeconfig), 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    const user = doc.users[0]!.user;
    if (user['client-certificate-data']) return cert(Buffer.from(user['client-certificate-data'], 'base64'));
    return cert(readFileSync(file(node, user['client-certificate']!)));
  }
  /** Serial and issuer of every leaf on every node (files and kubeconfig-embedded). */
  function leaves(): Map<string, { serial: string; issuer: string; ca: string }> {
    const out = new Map<string, { serial: string; issuer: string; ca: string }>();
    for (const node of NODES) {
      for (const p of LEAF_FILES) {
        const c = cert(readFileSync(file(node, p)));
        out.set(`${node}:${p}`, { serial: c.serialNumber, issuer: c.issuer, ca: caFor(p) });
      }
      for (const k of KUBECONFIGS) {
        const c = embeddedClientCert(node, k);
        out.set(`${node}:${k}`, { serial: c.serialNumber, issuer: c.issuer, ca: '/etc/kubernetes/pki/ca.crt' });
      }
    }
    return out;
  }
  /** Each leaf verifies against its node's CA file (the crypto check, not just the issuer name). */
  function expectAllVerify(): void {
    for (const node of NODES) {
      for (const p of LEAF_FILES) expect(cert(readFileSync(file(node, p))).verify(cert(readFileSync(file(node, caFor(p)))).publicKey), `${node}:${p}`).toBe(true);
      const ca = cert(readFileSync(file(node, '/etc/kubernetes/pki/ca.crt')));
      for (const k of KUBECONFIGS) expect(embeddedClientCert(node, k).verify(ca.publicKey), `${node}:${k}`).toBe(true);
    }
  }

  it('check-expiry: exit 0 with warn_days 1, exit 1 naming the CA files with warn_days 40, changes nothing', async () => {
    const before = leaves();
    const ok = await kcarun('check-expiry.yaml', 'warn_days=1');
    expect(ok.rc, ok.output.slice(-2000)).toBe(0);
    expect(ok.end).toMatchObject({ status: 'nothing-to-do', changed: 0, failed: 0 });
    const warn = await kcarun('check-expiry.yaml', 'warn_days=40');
    expect(warn.rc).toBe(1);
    expect(warn.end).toMatchObject({ status: 'failed', changed: 0 });
    for (const node of NODES) {
      expect(warn.output).toContain(`${node}: /etc/kubernetes/pki/ca.crt: expires in 29 days`);
      expect(warn.output).toContain(`${node}: /etc/kubernetes/pki/etcd/ca.crt: expires in 29 days`);
    }
    expect(warn.output).toContain('under the 40 days threshold');
    expect(leaves()).toEqual(before);
  }, 300_000);

  it('renew-leaf-certs with force_renewal: every leaf gets a new serial from the same CA, under traffic, zero component errors', async () => {
    const before = leaves();
    const caBefore = NODES.map((n) => readFileSync(file(n, '/etc/kubernetes/pki/ca.crt'), 'utf8'));
    await trafficStart({ dir: labDir });
    const run = await kcarun('renew-leaf-certs.yaml', 'force_renewal=true');
    const verify = await labVerify(labDir);
    await trafficStop({ dir: labDir });
    console.log(`renew-leaf-certs under traffic: ${verify.requests} requests, ${verify.failures} failed (${JSON.stringify(verify.failuresByTarget)}), ${verify.componentErrors} component errors`);
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    expect(run.end?.status).toBe('succeeded');
    const after = leaves();
    for (const [key, old] of before) {
      const now = after.get(key)!;
      expect(now.serial, key).not.toBe(old.serial);
      expect(now.issuer, key).toBe(old.issuer);
    }
    expectAllVerify();
    expect(NODES.map((n) => readFileSync(file(n, '/etc/kubernetes/pki/ca.crt'), 'utf8'))).toEqual(caBefore);
    expect(verify.requests).toBeGreaterThan(100);
    expect(verify.componentErrors).toBe(0);
    expect(verify.dataIntact).toBe(true);
  }, 900_000);

  it('renew-leaf-certs without force after that: nothing to renew, nothing changed, and it says so', async () => {
    const before = leaves();
    const run = await kcarun('renew-leaf-certs.yaml');
    expect(run.rc, run.output.slice(-2000)).toBe(0);
    expect(run.end).toMatchObject({ status: 'nothing-to-do', changed: 0 });
    expect(run.end?.message).toContain('nothing to do');
    expect(leaves()).toEqual(before);
  }, 300_000);

  it('offline-replace refuses without accept_downtime and changes nothing', async () => {
    const before = leaves();
    const run = await kcarun('offline-replace.yaml');
    expect(run.rc).toBe(1);
    expect(run.output).toContain('accept_downtime=true');
    expect(leaves()).toEqual(before);
  }, 120_000);

  it('offline-replace: new CAs, every leaf chains to them, nothing trusts the old CAs, etcd data intact', async () => {
    const oldCas = NODES.flatMap((n) => ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/etcd/ca.crt', '/etc/kubernetes/pki/front-proxy-ca.crt'].map((p) => cert(readFileSync(file(n, p))).fingerprint256));
    const run = await kcarun('offline-replace.yaml', 'accept_downtime=true');
    expect(run.rc, run.output.slice(-3000)).toBe(0);
    expect(run.end?.status).toBe('succeeded');
    for (const n of NODES) {
      for (const p of ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/etcd/ca.crt', '/etc/kubernetes/pki/front-proxy-ca.crt']) {
        const ca = cert(readFileSync(file(n, p)));
        expect(oldCas, `${n}:${p}`).not.toContain(ca.fingerprint256);
        expect(ca.subject, `${n}:${p}`).toContain('(rotated ');
      }
    }
    expectAllVerify();
    const verify = await labVerify(labDir);
    expect(verify.leavesOnOldCa).toEqual([]);
    expect(verify.filesTrustingOldCa).toEqual([]);
    expect(verify.allCertsOnNewCA).toBe(true);
    expect(verify.dataIntact).toBe(true);
    // In-cluster clients (kube-proxy, coredns) fail while the cluster is down and until their rollout
    // restart reloads ca.crt; after the run nothing keeps failing.
    await new Promise((r) => setTimeout(r, 15_000));
    expect((await labVerify(labDir)).componentErrorsByComponent).toEqual(verify.componentErrorsByComponent);
  }, 900_000);
});
