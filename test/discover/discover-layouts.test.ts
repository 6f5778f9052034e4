import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverCommand } from '../../src/commands/discover.js';
import type { CommandIO } from '../../src/commands/io.js';
import { validateCommand } from '../../src/commands/validate.js';
import { shellJoin, shellQuote } from '../../src/core/shell.js';
import { manifestContainers, unitExecStart } from '../../src/discover/components.js';
import { labInventory } from '../../lab/commands/inventory.js';
import { LabPaths } from '../../lab/lab-paths.js';
import type { Layout } from '../../lab/lab-state.js';
import { layoutByName } from '../../lab/layouts/index.js';
import type { LabCas, LabNode } from '../../lab/layouts/types.js';
import { caValidity, issueCertificate, leafValidity, type KeyPair } from '../../lab/openssl.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

/**
 * `kcarun discover` against a real sshd whose host looks like a lab node: the lab's own layout
 * writer lays out the files (openssl-made PKI, manifests or units, kubeconfigs, Prometheus), they are
 * bind-mounted over /etc/kubernetes, /etc/etcd, ... in a private mount + UTS namespace, and a
 * process per component runs there with the command line its manifest or unit gives it.
 */
const MOUNTS = ['/etc/kubernetes', '/etc/etcd', '/etc/prometheus', '/etc/systemd/system', '/var/lib/kubelet'];
const NODE: LabNode = { index: 1, name: 'cp1', ip: '127.0.99.1' };

interface Node {
  dir: string;
  paths: LabPaths;
  sshd: SshdHarness;
  inventoryFile: string;
  /** The vars the lab's inventory gives for this layout (lab/commands/inventory.ts). */
  labVars: Record<string, unknown>;
}

async function makeCas(dir: string): Promise<LabCas> {
  await mkdir(dir, { recursive: true });
  const validity = caValidity(new Date(), 300);
  const make = async (name: string, cn: string): Promise<KeyPair> => {
    const kp = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    await issueCertificate({ subject: [['CN', cn]], usage: 'ca', validity, ...kp });
    return kp;
  };
  return { kubernetes: await make('kubernetes', 'kubernetes'), etcd: await make('etcd', 'etcd-ca'), frontProxy: await make('front-proxy', 'front-proxy-ca') };
}

async function startNode(layout: Layout, extra?: (fs: (p: string) => string, dir: string) => Promise<void>): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), `kcarun-discover-${layout}-`));
  const paths = new LabPaths(dir);
  const nodePaths = paths.node(NODE.name);
  const cas = await makeCas(join(dir, 'ca'));
  await layoutByName(layout).writeNode({ paths, nodes: [NODE], node: NODE, nodePaths, cas, leafValidity: leafValidity(new Date(), caValidity(new Date(), 300)) });
  for (const m of MOUNTS) await mkdir(nodePaths.fs(m), { recursive: true });
  if (extra) await extra((p) => nodePaths.fs(p), dir);

  // One stand-in process per component: `sh BIN/NAME <flags of its manifest or unit>`.
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const argvs: string[][] = [];
  const manifests = join(nodePaths.fs('/etc/kubernetes/manifests'));
  for (const f of await readdir(manifests).catch(() => [])) {
    for (const c of manifestContainers(await readFile(join(manifests, f), 'utf8'))) argvs.push(c.argv);
  }
  const units = nodePaths.fs('/etc/systemd/system');
  for (const f of await readdir(units)) {
    if (f === 'prometheus.service') continue;
    const argv = unitExecStart({ path: f, text: await readFile(join(units, f), 'utf8') });
    if (argv) argvs.push(argv);
  }
  const starts: string[] = [];
  for (const [exe, ...args] of argvs) {
    const name = exe!.split('/').pop()!;
    await writeFile(join(bin, name), '#!/bin/sh\nsleep 900 &\nwait\n');
    await chmod(join(bin, name), 0o755);
    starts.push(`sh ${shellJoin([join(bin, name), ...args])} </dev/null >/dev/null 2>&1 &`);
  }
  const script = [
    `hostname ${NODE.name}`,
    ...MOUNTS.map((m) => `mkdir -p ${shellQuote(m)} && mount --bind ${shellQuote(nodePaths.fs(m))} ${shellQuote(m)}`),
    ...starts,
  ].join('\n');
  const sshd = await startSshd({ name: NODE.name, namespaceScript: script });

  // The lab's own inventory text for this layout, from a state file naming this node.
  await writeFile(paths.state, JSON.stringify({ dir, layout, nodes: [{ name: NODE.name, ip: NODE.ip }], sshPort: sshd.port }));
  const labVars = (parse(labInventory(dir)) as { vars: Record<string, unknown> }).vars;
  const inventoryFile = join(dir, 'inventory.yaml');
  await writeFile(
    inventoryFile,
    [
      'apiVersion: kcarun/v1',
      'kind: Inventory',
      'defaults:',
      `  ssh: { user: root, port: ${sshd.port}, identityFile: ${sshd.identityFile}, knownHostsFile: ${sshd.knownHostsFile} }`,
      'hosts:',
      `  ${NODE.name}: { address: ${sshd.address} }`,
      'groups:',
      `  etcd: { hosts: [${NODE.name}] }`,
      `  control_plane: { hosts: [${NODE.name}] }`,
      '  workers: { hosts: [] }',
      '',
    ].join('\n'),
  );
  return { dir, paths, sshd, inventoryFile, labVars };
}

/** sha256 of every file (and the target of every link) under a folder. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[p] = `link:${await readlink(p)}`;
      else if (st.isDirectory()) await walk(p);
      else out[p] = `${st.mode.toString(8)}:${createHash('sha256').update(await readFile(p)).digest('hex')}`;
    }
  };
  await walk(root);
  return out;
}

function io(cwd: string): CommandIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    interactive: false,
    env: {},
    cwd,
    confirm: async () => false,
    onInterrupt: () => () => {},
  };
}

/**
 * The hand-written vars of a layout as a run sees them: playbooks/layouts/<layout>.yaml under the
 * lab inventory's vars (inventory beats the playbook's vars files).
 */
async function handWritten(layout: Layout, labVars: Record<string, unknown>): Promise<Record<string, unknown>> {
  const layoutFile = parse(await readFile(join(process.cwd(), 'playbooks', 'layouts', `${layout}.yaml`), 'utf8')) as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...layoutFile };
  for (const k of [...Object.keys(layoutFile), 'layout', 'extra_clients']) if (k in labVars) merged[k] = labVars[k];
  return merged;
}

/** Lists compare as sets (order carries no meaning in these vars); objects key by key. */
function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalise).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, normalise(x)]));
  return v;
}

describe.each([
  { layout: 'kubeadm' as const, unused: [] as string[] },
  // has_front_proxy_ca is false: these three paths are placeholders in binary.yaml that nothing reads.
  { layout: 'binary' as const, unused: ['front_proxy_ca_cert', 'front_proxy_ca_key', 'front_proxy_ca_bundle'] },
])('kcarun discover on a $layout node', ({ layout, unused }) => {
  let node: Node;
  let result: { code: number; out: string; err: string; json: { vars: Record<string, unknown>; warnings: string[]; map: { entries: { path: string; role: string; issuer?: string; readers: { component: string; setting: string; where: { file?: string } }[] }[] } } };
  let before: Record<string, string>;
  let after: Record<string, string>;
  let varsFile: string;

  beforeAll(async () => {
    node = await startNode(layout, async (fs, dir) => {
      // A certificate from a CA that is nowhere on the host: discover must say it cannot classify it.
      const stray = join(dir, 'stray');
      await mkdir(stray, { recursive: true });
      const ca = { certFile: join(stray, 'ca.crt'), keyFile: join(stray, 'ca.key') };
      const validity = caValidity(new Date(), 300);
      await issueCertificate({ subject: [['CN', 'somebody-elses-ca']], usage: 'ca', validity, ...ca });
      await mkdir(fs('/etc/kubernetes/pki'), { recursive: true });
      await issueCertificate({ subject: [['CN', 'stray-client']], usage: 'client', validity, issuer: ca, certFile: fs('/etc/kubernetes/pki/stray.crt'), keyFile: join(stray, 'stray.key') });
    });
    const fsRoot = node.paths.node(NODE.name).fs('/');
    before = await snapshot(fsRoot);
    varsFile = join(node.dir, 'vars.yaml');
    const jsonIo = io(node.dir);
    const code = await discoverCommand({ inventory: node.inventoryFile, output: 'json', writeVars: varsFile }, jsonIo);
    after = await snapshot(fsRoot);
    result = { code, out: jsonIo.out.join(''), err: jsonIo.err.join(''), json: JSON.parse(jsonIo.out.join('')) };
  });
  afterAll(async () => {
    await node?.sshd.stop();
    if (node) await rm(node.dir, { recursive: true, force: true });
  });

  it('writes the vars the hand-written layout and the lab inventory give, 0600', async () => {
    const expected = await handWritten(layout, node.labVars);
    const written = parse(await readFile(varsFile, 'utf8')) as Record<string, unknown>;
    expect((await lstat(varsFile)).mode & 0o777).toBe(0o600);
    for (const key of Object.keys(expected)) {
      if (unused.includes(key)) continue;
      expect({ key, value: normalise(written[key]) }).toEqual({ key, value: normalise(expected[key]) });
    }
    // Nothing else but the informational map of trust settings.
    expect(Object.keys(written).filter((k) => !(k in expected))).toEqual(['discovered_trust_settings']);
  });

  it('gives vars the stock rotate-ca validates with (-e @vars.yaml, an inventory without layout vars)', async () => {
    const v = io(node.dir);
    const code = await validateCommand({ playbook: join(process.cwd(), 'playbooks', 'rotate-ca.yaml'), inventory: node.inventoryFile, extraVars: [`@${varsFile}`] }, v);
    expect(v.out.join('')).toMatch(/rotate-ca.yaml: valid \(rotate-ca /);
    expect(code).toBe(0);
  });

  it('maps each certificate to its CA by signature, and to the processes and settings that read it', () => {
    const entries = result.json.map.entries;
    if (layout === 'kubeadm') {
      const etcdServer = entries.find((e) => e.path === '/etc/kubernetes/pki/etcd/server.crt')!;
      expect(etcdServer.issuer).toBe('etcd');
      expect(etcdServer.readers).toEqual([{ component: 'etcd', setting: '--cert-file', where: { kind: 'manifest-flag', file: '/etc/kubernetes/manifests/etcd.yaml', key: '--cert-file' } }]);
      const clientCa = entries.find((e) => e.path === '/etc/kubernetes/pki/ca.crt')!;
      expect(clientCa.readers).toContainEqual({ component: 'kubelet', setting: 'authentication.x509.clientCAFile', where: { kind: 'kubelet-config', file: '/var/lib/kubelet/config.yaml', key: 'authentication.x509.clientCAFile' } });
      expect(entries.find((e) => e.path === '/etc/kubernetes/pki/etcd/healthcheck-client.crt')).toMatchObject({ issuer: 'etcd', role: 'layout', readers: [] });
    } else {
      const etcdCert = entries.find((e) => e.path === '/etc/etcd/ssl/cert-etcd.pem')!;
      expect(etcdCert.readers.map((r) => `${r.component} ${r.setting} @ ${r.where.file}`).sort()).toEqual([
        'etcd --cert-file @ /etc/systemd/system/etcd.service',
        'etcd --peer-cert-file @ /etc/systemd/system/etcd.service',
        'kube-apiserver --etcd-certfile @ /etc/systemd/system/kube-apiserver.service',
      ]);
      expect(entries.find((e) => e.path === '/etc/kubernetes/ssl/kube-scheduler.pem')!.readers).toEqual([
        { component: 'kube-scheduler', setting: 'client-certificate', where: { kind: 'kubeconfig', file: '/etc/kubernetes/kube-scheduler.kubeconfig', key: 'users[0].user.client-certificate' } },
      ]);
    }
    expect(entries.filter((e) => e.role === 'extra-client').map((e) => e.path).sort()).toEqual([
      '/etc/prometheus/ssl/etcd-ca.crt', '/etc/prometheus/ssl/etcd-client.crt', '/etc/prometheus/ssl/kubelet-client.crt', '/etc/prometheus/ssl/kubernetes-ca.crt',
    ]);
  });

  it('warns about the certificate it cannot classify and exits 1', () => {
    // The only warning: everything else on a lab-shaped node is classified.
    expect(result.json.warnings).toEqual([
      `cp1:/etc/kubernetes/pki/stray.crt: cannot classify CN=stray-client: issued by none of the CAs found (CN=somebody-elses-ca)`,
    ]);
    expect(result.code).toBe(1);
  });

  it('changes nothing on the host', () => {
    expect(Object.keys(after).length).toBeGreaterThan(20);
    expect(after).toEqual(before);
  });

  it('refuses a host whose key is not known, as a run does, and writes no vars', async () => {
    const emptyKnownHosts = join(node.dir, 'known_hosts.empty');
    await writeFile(emptyKnownHosts, '');
    const inv = join(node.dir, 'unknown-key.yaml');
    await writeFile(inv, (await readFile(node.inventoryFile, 'utf8')).replace(node.sshd.knownHostsFile, emptyKnownHosts));
    const out = io(node.dir);
    const refused = join(node.dir, 'refused-vars.yaml');
    await expect(discoverCommand({ inventory: inv, output: 'json', writeVars: refused }, out)).rejects.toMatchObject({ code: 'E_UNREACHABLE', message: expect.stringContaining('cp1 could not be read') });
    const printed = JSON.parse(out.out.join('')) as { failedHosts: { host: string; message: string }[] };
    expect(printed.failedHosts).toEqual([{ host: 'cp1', message: expect.stringMatching(/host key/i) }]);
    await expect(lstat(refused)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('prints the same map as a table', async () => {
    const plain = io(node.dir);
    await discoverCommand({ inventory: node.inventoryFile, output: 'plain' }, plain);
    const text = plain.out.join('');
    expect(text).toMatch(/^CAs\n/);
    expect(text).toMatch(/cp1 +\/etc\/prometheus\/ssl\/etcd-client\.crt +CN=prometheus-etcd-client +etcd +extra-client +-/);
  });
});
