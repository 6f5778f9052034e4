/**
 * Issue 18's centre: the stock rotate-ca.yaml, with the inventory `npm run lab -- inventory` prints
 * for a genuine kubeadm HA cluster (hosts and `layout: kubeadm`, nothing else, no -e), rotates the
 * etcd, Kubernetes and front-proxy CAs of a cluster made by `kubeadm init` + 2 `kubeadm join
 * --control-plane` (real kubelet, containerd, control plane and etcd 3.6 as static pods, haproxy in
 * front), under traffic. Asserted: exit 0; 0 failed requests through the load balancer; every leaf
 * certificate, kubeconfig client certificate and kubelet client pair verified by `openssl verify`
 * against the new CA of its kind (the old CAs trusted nowhere); the kubelets' self-signed serving
 * certificates left alone; the real kubectl with the rotated admin.conf lists 3 Ready nodes; the data
 * written through the load balancer intact. Printed: wall time, restarts per component, and each
 * window during which a request straight to an apiserver failed.
 *
 * kcarun runs as the built CLI (`npm test` builds dist/ first), JSON output. Needs the pinned build
 * (scripts/install-deps.sh). Subnet: $KCARUN_REAL_SUBNET or 10.232.0.0/16. Measured here: ~20 min
 * (lab up ~2.5 min, the rotation the rest).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabPaths } from '../../lab/lab-paths.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { trafficStart, trafficStop } from '../../lab/commands/traffic.js';
import { realUp, kubectl } from '../../lab/real/up.js';
import { realDown } from '../../lab/real/down.js';
import { realVerify } from '../../lab/real/traffic.js';
import { readState, type LabState } from '../../lab/lab-state.js';
import { jsonEvents, runCli } from '../helpers/cli.js';
import { openssl } from '../lab/lab-fixture.js';

const SUBNET = process.env['KCARUN_REAL_SUBNET'] ?? '10.232.0.0/16';
const PLAYBOOK = join(import.meta.dirname, '..', '..', 'playbooks', 'rotate-ca.yaml');

/** Certificates in a PEM text. */
const certsIn = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

describe('stock rotate-ca on a genuine kubeadm HA cluster (kubeadm-real)', () => {
  const work = mkdtempSync(join(tmpdir(), 'kcarun-e2e-real-'));
  const dir = join(work, 'lab');
  const paths = new LabPaths(dir);
  const inventory = join(work, 'inventory.yaml');
  let state: LabState;
  const fs = (node: string, p: string): string => paths.node(node).fs(p);
  const originals = new Map<string, X509Certificate>();
  const kubeletServing = new Map<string, string>();

  beforeAll(async () => {
    await realUp({ dir, nodes: 3, subnet: SUBNET, log: (l) => console.log(l) });
    state = readState(paths)!;
    writeFileSync(inventory, labInventory(dir));
    for (const f of readdirSync(paths.originalCaDir)) originals.set(f, new X509Certificate(readFileSync(join(paths.originalCaDir, f))));
    for (const n of state.nodes) kubeletServing.set(n.name, readFileSync(fs(n.name, '/var/lib/kubelet/pki/kubelet.crt'), 'utf8'));
    await trafficStart({ dir });
  }, 900_000);

  afterAll(async () => {
    await trafficStop({ dir }).catch(() => undefined);
    await realDown({ dir, purge: true, log: () => undefined });
    rmSync(work, { recursive: true, force: true });
  }, 300_000);

  it('rotates every CA with 0 failed requests through the load balancer', async () => {
    expect(readFileSync(inventory, 'utf8')).toMatch(/vars:\n {2}layout: kubeadm\n$/);
    const t0 = Date.now();
    const res = await runCli([PLAYBOOK, '-i', inventory, '--yes', '--output', 'json'], { cwd: work });
    const seconds = (Date.now() - t0) / 1000;
    const events = jsonEvents(res.stdout);
    const end = events.find((e) => e.event === 'run-end');
    const failed = events.filter((e) => e.event === 'task-end' && e['status'] === 'failed');
    expect(res.code, `${JSON.stringify(failed.slice(0, 3))}\n${res.stderr.slice(-2000)}`).toBe(0);
    expect(end?.['status']).toBe('succeeded');

    // Restarts, per component, as kcarun did them (the summary names the container and how).
    const restarts: Record<string, number> = {};
    for (const e of events) {
      if (e.event !== 'task-end' || e['type'] !== 'service-restart' || e['status'] !== 'ok') continue;
      const what = /^(\S+) restarted/.exec(String(e['summary'] ?? ''))?.[1] ?? String(e['summary']);
      restarts[what] = (restarts[what] ?? 0) + 1;
    }
    const stages = events.filter((e) => e.event === 'stage-end' && e['status'] === 'ok').map((e) => `${e['stage']} ${Math.round(Number(e['durationMs']) / 1000)}s`);
    console.log(`[e2e real] rotate-ca: ${seconds.toFixed(0)} s; restarts ${JSON.stringify(restarts)}; stages: ${stages.join(', ')}`);

    // A little more traffic on the final state, then the counters.
    await new Promise((r) => setTimeout(r, 5000));
    await trafficStop({ dir });
    const v = await realVerify(paths, state);
    console.log(`[e2e real] traffic: ${v.requests} requests, ${v.failures} failed (through the load balancer: ${v.lbFailures}); by target ${JSON.stringify(v.requestsByTarget)} failed ${JSON.stringify(v.failuresByTarget)}`);
    for (const w of v.unavailability) console.log(`[e2e real] unavailable: ${w.target} ${w.from} -> ${w.to ?? '(end)'} ${w.seconds.toFixed(1)} s (${w.failures} failed requests)`);
    if (v.failures > 0) console.log(readFileSync(join(paths.trafficDir, 'failures.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 30).join('\n'));
    expect(v.requestsByTarget['lb'] ?? 0).toBeGreaterThan(1000);
    expect(v.lbFailures, JSON.stringify(v.unavailability.filter((w) => w.target === 'lb'))).toBe(0);
    expect(v.dataIntact, v.dataProblems.join('; ')).toBe(true);
    expect(v.allCertsOnNewCA, v.leavesOnOldCa.join(', ')).toBe(true);
    expect(v.filesTrustingOldCa).toEqual([]);
  }, 3_600_000);

  it('every certificate verifies against the new CAs with openssl; the old CAs are trusted nowhere', async () => {
    for (const n of state.nodes) {
      const pki = fs(n.name, '/etc/kubernetes/pki');
      const cas = { k8s: join(pki, 'ca.crt'), etcd: join(pki, 'etcd/ca.crt'), fp: join(pki, 'front-proxy-ca.crt') };
      for (const [kind, file] of Object.entries(cas)) {
        const ca = certsIn(readFileSync(file, 'utf8'));
        expect(ca, `${n.name}: ${file}`).toHaveLength(1);
        for (const old of originals.values()) expect(ca[0]!.fingerprint256, `${n.name} ${kind} CA is still an original`).not.toBe(old.fingerprint256);
      }
      const leaves: Array<[string, string]> = [
        ['apiserver.crt', cas.k8s], ['apiserver-kubelet-client.crt', cas.k8s], ['front-proxy-client.crt', cas.fp], ['apiserver-etcd-client.crt', cas.etcd],
        ['etcd/server.crt', cas.etcd], ['etcd/peer.crt', cas.etcd], ['etcd/healthcheck-client.crt', cas.etcd],
      ];
      for (const [leaf, ca] of leaves) {
        const r = await openssl(['verify', '-CAfile', ca, join(pki, leaf)]);
        expect(r.rc, `${n.name}: openssl verify ${leaf}: ${r.stdout}${r.stderr}`).toBe(0);
      }
      // Kubeconfigs: the CA they trust is the new one alone, and their embedded client certificate verifies.
      const confs = ['admin.conf', 'controller-manager.conf', 'scheduler.conf', 'super-admin.conf'].filter((c) => existsSync(fs(n.name, `/etc/kubernetes/${c}`)));
      expect(confs).toContain('admin.conf');
      if (n.name === 'cp1') expect(confs).toContain('super-admin.conf');
      for (const c of confs) {
        const doc = parse(readFileSync(fs(n.name, `/etc/kubernetes/${c}`), 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
        const trusted = Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString();
        expect(trusted.trim(), `${n.name}: ${c} trusts`).toBe(readFileSync(cas.k8s, 'utf8').trim());
        const client = join(work, `${n.name}-${c}.crt`);
        writeFileSync(client, Buffer.from(doc.users[0]!.user['client-certificate-data']!, 'base64'));
        const r = await openssl(['verify', '-CAfile', cas.k8s, client]);
        expect(r.rc, `${n.name}: ${c} client certificate: ${r.stdout}${r.stderr}`).toBe(0);
      }
      // kubelet.conf names kubelet-client-current.pem: the pair it points at now is from the new CA.
      const kpki = fs(n.name, '/var/lib/kubelet/pki');
      const pair = join(kpki, readlinkSync(join(kpki, 'kubelet-client-current.pem')));
      const r = await openssl(['verify', '-CAfile', cas.k8s, pair]);
      expect(r.rc, `${n.name}: kubelet client pair ${pair}: ${r.stdout}${r.stderr}`).toBe(0);
      // The kubelet's own self-signed serving certificate is outside the rotation: untouched.
      expect(readFileSync(fs(n.name, '/var/lib/kubelet/pki/kubelet.crt'), 'utf8')).toBe(kubeletServing.get(n.name));
    }
  });

  it('the real kubectl with the rotated admin.conf lists 3 Ready nodes', async () => {
    const r = await kubectl(paths, ['get', 'nodes', '-o', 'json']);
    expect(r.rc, r.stderr).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }> }).items;
    expect(nodes.map((x) => x.metadata.name).sort()).toEqual(['cp1', 'cp2', 'cp3']);
    for (const node of nodes) expect(node.status.conditions.find((c) => c.type === 'Ready')?.status, node.metadata.name).toBe('True');
  });
});
