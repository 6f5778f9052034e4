/**
 * discover's choice of the pair the apiserver gates present (apiserver_probe_cert/key), against the
 * files kubeadm really writes: kubeadm's apiserver-kubelet-client.crt has no O= group (v1.37.2
 * cmd/kubeadm/app/phases/certs/certlist.go) and the
 * admin certificate lives only inside admin.conf, so the apiserver's own --kubelet-client-certificate
 * pair is the candidate (it may read /readyz and is authorized on the kubelets); an admin client
 * certificate file, where one exists, still comes first. Certificates made with the openssl CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/discover/collect.js';
import type { ComponentInstance, Setting } from '../../src/discover/components.js';
import { layoutVars } from '../../src/discover/layout-vars.js';
import { buildPkiMap } from '../../src/discover/pki-map.js';

const dir = mkdtempSync(join(tmpdir(), 'kcarun-probe-creds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PKI = '/etc/kubernetes/pki';
const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '30', '-subj', '/CN=kubernetes', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
/** A client certificate from the cluster CA, as kubeadm makes them. */
function client(name: string, subject: string): Buffer {
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`), '-subj', subject]);
  openssl(['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '10', '-out', join(dir, `${name}.crt`)]);
  return readFileSync(join(dir, `${name}.crt`));
}

const flag = (name: string, value: string): Setting => ({ name, value, source: { kind: 'manifest-flag', file: MANIFEST, key: `--${name}` } });

function facts(files: Record<string, Buffer>, keys: string[], extra: Record<string, string> = {}, host = 'cp1'): HostFacts {
  const settings: Record<string, string> = {
    ...extra,
    'client-ca-file': `${PKI}/ca.crt`,
    'kubelet-client-certificate': `${PKI}/apiserver-kubelet-client.crt`,
    'kubelet-client-key': `${PKI}/apiserver-kubelet-client.key`,
  };
  const apiserver: ComponentInstance = {
    name: 'kube-apiserver',
    pid: 10,
    argv: [],
    flagsIn: 'manifest',
    configFile: MANIFEST,
    restart: { method: 'static-pod', container: 'kube-apiserver' },
    settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, flag(k, v)])),
    precedence: '',
    warnings: [],
  };
  return { host, components: [apiserver], unitNames: [], files: new Map(Object.entries(files)), kubeconfigs: new Map(), keysPresent: new Set(keys), caKeyCandidates: new Map(), scannedFiles: Object.keys(files), warnings: [] };
}

describe('discover: the apiserver gate\'s client pair', () => {
  const ca = readFileSync(join(dir, 'ca.crt'));
  const kubeletClient = client('kubelet-client', '/CN=kube-apiserver-kubelet-client');
  const admin = client('admin', '/O=system:masters/CN=ops-admin');

  it('on kubeadm (no admin file, no O= on apiserver-kubelet-client): the apiserver\'s --kubelet-client-certificate pair, no warning', () => {
    const f = [facts({ [`${PKI}/ca.crt`]: ca, [`${PKI}/apiserver-kubelet-client.crt`]: kubeletClient }, [`${PKI}/apiserver-kubelet-client.key`])];
    const { vars, warnings } = layoutVars(buildPkiMap(f), f);
    expect(vars).toMatchObject({ apiserver_probe_cert: `${PKI}/apiserver-kubelet-client.crt`, apiserver_probe_key: `${PKI}/apiserver-kubelet-client.key` });
    expect(warnings.filter((w) => w.includes('health gate'))).toEqual([]);
  });

  it('an admin client certificate file, where there is one, comes first', () => {
    const f = [facts({ [`${PKI}/ca.crt`]: ca, [`${PKI}/apiserver-kubelet-client.crt`]: kubeletClient, [`${PKI}/ops-admin.crt`]: admin }, [`${PKI}/apiserver-kubelet-client.key`, `${PKI}/ops-admin.key`])];
    expect(layoutVars(buildPkiMap(f), f).vars).toMatchObject({ apiserver_probe_cert: `${PKI}/ops-admin.crt`, apiserver_probe_key: `${PKI}/ops-admin.key` });
  });

  it('warns, naming both kinds of candidate, when neither pair has its key on the host', () => {
    const f = [facts({ [`${PKI}/ca.crt`]: ca, [`${PKI}/apiserver-kubelet-client.crt`]: kubeletClient }, [])];
    const { vars, warnings } = layoutVars(buildPkiMap(f), f);
    expect(vars['apiserver_probe_cert']).toBeUndefined();
    expect(warnings).toContain('cp1: no client certificate file for the apiserver health gate (an admin one, O=kubeadm:cluster-admins or system:masters, or the apiserver\'s --kubelet-client-certificate pair); set apiserver_probe_cert/key');
  });

  // A hostile-input review found discover wrote no apiserver_port: with the apiserver on 8443 and a
  // co-located load balancer on :6443, every gate would have asked the balancer.
  it("writes apiserver_port from the apiserver's --secure-port (6443 when unset); warns on a host that differs or a value that is no port", () => {
    const files = { [`${PKI}/ca.crt`]: ca, [`${PKI}/apiserver-kubelet-client.crt`]: kubeletClient };
    const keys = [`${PKI}/apiserver-kubelet-client.key`];
    const unset = [facts(files, keys)];
    expect(layoutVars(buildPkiMap(unset), unset).vars['apiserver_port']).toBe(6443);
    const moved = [facts(files, keys, { 'secure-port': '8443' }), facts(files, keys, { 'secure-port': '8443' }, 'cp2')];
    const r = layoutVars(buildPkiMap(moved), moved);
    expect(r.vars['apiserver_port']).toBe(8443);
    expect(r.warnings.filter((w) => w.includes('secure-port'))).toEqual([]);
    const mixed = [facts(files, keys, { 'secure-port': '8443' }), facts(files, keys, {}, 'cp2')];
    expect(layoutVars(buildPkiMap(mixed), mixed).warnings).toContain("cp2: kube-apiserver --secure-port 6443 differs from cp1's: set apiserver_port in that host's vars");
    const bad = [facts(files, keys, { 'secure-port': '6443;id' })];
    const b = layoutVars(buildPkiMap(bad), bad);
    expect(b.vars['apiserver_port']).toBeUndefined();
    expect(b.warnings).toContain('cp1: kube-apiserver --secure-port=6443;id is not a TCP port: set apiserver_port');
  });
});
