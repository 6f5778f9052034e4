/**
 * Issue 15 on the etcd-only lab layout (lab/layouts/etcd-only.ts): etcd members started by an init
 * script from a YAML config file (separate server and peer certificates), no CA key on the nodes, no
 * Kubernetes, a monitoring client with its own etcd client certificate. `kcarun discover` on an
 * inventory of hosts and groups only writes the vars; the stock rotate-etcd-ca.yaml with those vars
 * alone rotates the etcd CA under traffic (the monitoring client's files carry it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { expectCleanRotation, FAST_GATES, labSession, PLAYBOOKS, useLab } from './lab-session.js';
import { discoverVars } from './plan-check.js';


const lab = labSession({ name: 'etcd-only-layout', ipPrefix: '127.0.72', layout: 'etcd-only', nodes: 3 });

describe('etcd alone (config file, init script, monitoring client): discover, then rotate-etcd-ca with the discovered vars', () => {
  useLab(lab, { beforeAll, afterAll });
  let varsFile: string;
  let bare: string;

  it('discovers where etcd is configured, how it restarts and the monitoring client', async () => {
    const found = await discoverVars(lab, undefined);
    ({ bare, varsFile } = found);
    const vars = found.vars;
    expect(vars).toMatchObject({
      etcd_ca_cert: '/etc/etcd/pki/ca.crt',
      etcd_trust_in: 'etcd-config',
      etcd_config: '/etc/etcd/etcd.conf.yml',
      etcd_restart: { method: 'command', command: '/etc/init.d/etcd restart' },
      etcd_probe_cert: '/etc/etcd/pki/etcdctl.crt',
      preflight_ca_keys: [],
      extra_clients: [{ name: 'prometheus', host: 'cp1', etcd_ca: '/etc/prometheus/ssl/etcd-ca.crt', etcd_cert: '/etc/prometheus/ssl/etcd-client.crt', restart: { method: 'systemd', unit: 'prometheus' } }],
    });
    expect(vars['etcd_leaf_certs']).toEqual(['/etc/etcd/pki/etcdctl.crt', '/etc/etcd/pki/peer.crt', '/etc/etcd/pki/server.crt']);
  }, 120_000);

  it('rotates the etcd CA with 0 failed requests; the monitoring client is re-issued; no CA key appears', async () => {
    const t0 = Date.now();
    const run = await lab.kcarun([join(PLAYBOOKS, 'rotate-etcd-ca.yaml'), '-i', bare, '--yes', ...FAST_GATES, '-e', `@${varsFile}`]);
    expect(run.code, run.stdout.slice(-3000) + run.stderr).toBe(0);
    console.log(`[e2e] etcd-only rotate-etcd-ca: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await expectCleanRotation(lab, 'etcd-only rotation with discovered vars');
    for (const n of ['cp1', 'cp2', 'cp3']) {
      const fs = (p: string) => join(lab.dir, 'nodes', n, 'fs', p);
      const config = parse(readFileSync(fs('/etc/etcd/etcd.conf.yml'), 'utf8')) as Record<string, Record<string, string>>;
      expect(config['client-transport-security']!['trusted-ca-file']).toBe('/etc/etcd/pki/ca.crt');
      expect(config['peer-transport-security']!['trusted-ca-file']).toBe('/etc/etcd/pki/ca.crt');
      expect(() => readFileSync(fs('/etc/etcd/pki/ca.key'))).toThrow(/ENOENT/);
    }
    // The monitoring client's certificate chains to the etcd CA now on the nodes (verify checked it left the old one).
    const newCa = readFileSync(join(lab.dir, 'nodes', 'cp1', 'fs', 'etc', 'etcd', 'pki', 'ca.crt'), 'utf8');
    expect(readFileSync(join(lab.dir, 'nodes', 'cp1', 'fs', 'etc', 'prometheus', 'ssl', 'etcd-ca.crt'), 'utf8')).toBe(newCa);
  }, 1_200_000);
});
