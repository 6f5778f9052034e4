import { createHash, generateKeyPairSync } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverCommand, main as discoverMain } from '../../src/commands/discover.js';
import type { CommandIO } from '../../src/commands/io.js';
import { validateCommand } from '../../src/commands/validate.js';
import { shellJoin, shellQuote } from '../../src/core/shell.js';
import { manifestContainers, parseEnvFile, unitEnvironment, unitExecStart } from '../../src/discover/components.js';
import { LabPaths } from '../../lab/lab-paths.js';
import { kubeadmNodeFiles } from '../../lab/layouts/kubeadm-files.js';
import { writeNodeFile, writePrometheus } from '../../lab/layouts/node-pki.js';
import { renderUnit } from '../../lab/layouts/render.js';
import type { LabCas, LabNode, LayoutContext } from '../../lab/layouts/types.js';
import { caValidity, issueCertificate, leafValidity, type KeyPair } from '../../lab/openssl.js';
import { writeBinaryNode } from '../../lab/real/binary.js';
import { startSshd, type SshdHarness } from '../helpers/sshd.js';

/**
 * `kcarun discover` against a real sshd whose host looks like a lab node: the lab's own layout
 * writers lay out the files (openssl-made PKI, manifests or units, kubeconfigs, Prometheus: the
 * file-only kubeadm fixture lab/layouts/kubeadm-files.ts, or the hand-installed files the real binary
 * lab runs), they are
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

type NodeLayout = 'kubeadm' | 'binary';

/**
 * The binary layout as the real binary lab writes it (lab/real/binary.ts; its ranges and cgroup are
 * only words in flags here), plus the Prometheus client the emulated labs give their first node (the
 * real lab has none): discover must find an outside client on a hand-installed node too.
 */
async function writeBinaryLayout(ctx: LayoutContext, dir: string): Promise<void> {
  const serviceAccount = { key: join(dir, 'sa.key'), pub: join(dir, 'sa.pub') };
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  await writeFile(serviceAccount.key, sa.privateKey, { mode: 0o600 });
  await writeFile(serviceAccount.pub, sa.publicKey);
  await writeBinaryNode(ctx, { serviceSubnet: '10.239.96.0/20', podSubnet: '10.239.64.0/19', lbIp: '10.239.0.10', cgroupRoot: '/kcarun-discover/lab-node', serviceAccount });
  await writePrometheus(ctx, ctx.cas.etcd, ctx.cas.kubernetes);
  await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', ['/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml']));
}

/** The vars the binary node above comes with: its layout and its Prometheus client (etcd and kubelet client files). */
const BINARY_LAB_VARS = {
  layout: 'binary',
  extra_clients: [{
    name: 'prometheus', host: 'cp1', etcd_ca: '/etc/prometheus/ssl/etcd-ca.crt', etcd_cert: '/etc/prometheus/ssl/etcd-client.crt',
    k8s_ca: '/etc/prometheus/ssl/kubernetes-ca.crt', k8s_cert: '/etc/prometheus/ssl/kubelet-client.crt', restart: { method: 'systemd', unit: 'prometheus' },
  }],
};

/** The vars the kubeadm fixture's node comes with: the fixture's own, and the same Prometheus client. */
const KUBEADM_LAB_VARS = { ...kubeadmNodeFiles.vars(), extra_clients: BINARY_LAB_VARS.extra_clients };

/** A node laid out by a lab layout, or (`custom`) only by `extra`. */
async function startNode(layout: NodeLayout | 'custom', extra?: (fs: (p: string) => string, dir: string) => Promise<void>): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), `kcarun-discover-${layout}-`));
  const paths = new LabPaths(dir);
  const nodePaths = paths.node(NODE.name);
  if (layout !== 'custom') {
    const cas = await makeCas(join(dir, 'ca'));
    const ctx: LayoutContext = { paths, nodes: [NODE], node: NODE, nodePaths, cas, leafValidity: leafValidity(new Date(), caValidity(new Date(), 300)) };
    if (layout === 'binary') await writeBinaryLayout(ctx, join(dir, 'ca'));
    else await kubeadmNodeFiles.writeNode(ctx);
  }
  for (const m of MOUNTS) await mkdir(nodePaths.fs(m), { recursive: true });
  if (extra) await extra((p) => nodePaths.fs(p), dir);

  // One stand-in process per component: `sh BIN/NAME <flags of its manifest or unit>`.
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const argvs: { argv: string[]; env: Record<string, string> }[] = [];
  const manifests = join(nodePaths.fs('/etc/kubernetes/manifests'));
  for (const f of await readdir(manifests).catch(() => [])) {
    for (const c of manifestContainers(await readFile(join(manifests, f), 'utf8'))) argvs.push({ argv: c.argv, env: {} });
  }
  const units = nodePaths.fs('/etc/systemd/system');
  for (const f of await readdir(units)) {
    if (f === 'prometheus.service') continue;
    if (!f.endsWith('.service')) continue;
    const unit = { path: f, text: await readFile(join(units, f), 'utf8') };
    const argv = unitExecStart(unit);
    // As systemd does: the unit's EnvironmentFile= and Environment= make the process environment.
    const env: Record<string, string> = {};
    const unitEnv = unitEnvironment(unit);
    for (const ef of unitEnv.files) Object.assign(env, parseEnvFile(await readFile(nodePaths.fs(ef.path), 'utf8').catch(() => '')));
    for (const [k, v] of Object.entries(unitEnv.assignments)) env[k] = v.value;
    if (argv) argvs.push({ argv, env });
  }
  const starts: string[] = [];
  for (const { argv: [exe, ...args], env } of argvs) {
    const name = exe!.split('/').pop()!;
    await writeFile(join(bin, name), '#!/bin/sh\nsleep 900 &\nwait\n');
    await chmod(join(bin, name), 0o755);
    const envWords = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    starts.push(`env ${shellJoin([...envWords, 'sh', join(bin, name), ...args])} </dev/null >/dev/null 2>&1 &`);
  }
  const script = [
    `hostname ${NODE.name}`,
    ...MOUNTS.map((m) => `mkdir -p ${shellQuote(m)} && mount --bind ${shellQuote(nodePaths.fs(m))} ${shellQuote(m)}`),
    ...starts,
  ].join('\n');
  const sshd = await startSshd({ name: NODE.name, namespaceScript: script });

  const labVars: Record<string, unknown> = layout === 'binary' ? BINARY_LAB_VARS : layout === 'kubeadm' ? KUBEADM_LAB_VARS : {};
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
    pid: process.pid,
    isRunning: () => false,
    confirm: async () => false,
    onInterrupt: () => () => {},
  };
}

/**
 * The hand-written vars of a layout as a run sees them: playbooks/layouts/<layout>.yaml under the
 * lab inventory's vars (inventory beats the playbook's vars files).
 */
async function handWritten(layout: NodeLayout, labVars: Record<string, unknown>): Promise<Record<string, unknown>> {
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
      // A second name for a PKI folder (kubespray links /etc/kubernetes/pki to its certificatesDir):
      // the same files, never a second copy for some extra client to hold.
      await symlink(layout === 'kubeadm' ? 'pki' : 'ssl', fs('/etc/kubernetes/compat-pki'));
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
    // Nothing else but the apiserver's port (defaults.yaml's 6443 unless its --secure-port says
    // otherwise) and the informational map of trust settings.
    expect(Object.keys(written).filter((k) => !(k in expected)).sort()).toEqual(['apiserver_port', 'discovered_trust_settings']);
    expect(written['apiserver_port']).toBe(6443);
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

  it('lists each file once, under the name its readers use, not under a symlinked folder\'s second name', () => {
    expect(result.json.map.entries.filter((e) => e.path.startsWith('/etc/kubernetes/compat-pki/')).map((e) => e.path)).toEqual([]);
    expect(JSON.stringify(result.json.vars)).not.toContain('compat-pki');
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
    // Through the command's own option table, as `kcarun discover -i FILE --output plain` runs it.
    expect(await discoverMain(['-i', node.inventoryFile, '--output', 'plain'], plain)).toBe(1);
    await expect(discoverMain(['--output', 'plain'], io(node.dir))).rejects.toMatchObject({ code: 'E_USAGE' });
    const text = plain.out.join('');
    expect(text).toMatch(/^CAs\n/);
    expect(text).toMatch(/cp1 +\/etc\/prometheus\/ssl\/etcd-client\.crt +CN=prometheus-etcd-client +etcd +extra-client +-/);
  });
});

/**
 * etcd alone, as the issue's user had it: started by a unit with no flags, ETCD_CONFIG_FILE from an
 * EnvironmentFile, a YAML config with separate server and peer certificates, and a monitoring
 * client's files under /etc/prometheus/etcd.
 */
describe('kcarun discover on an etcd configured by a YAML file', () => {
  let node: Node;
  let json: { vars: Record<string, unknown>; warnings: string[]; map: { hosts: { components: { name: string; settings: Record<string, { value: string; source: unknown }> }[] }[]; entries: { path: string; role: string; issuer?: string; readers: unknown[] }[] } };
  let code: number;
  let written: Record<string, unknown>;

  beforeAll(async () => {
    node = await startNode('custom', async (fs) => {
      const validity = caValidity(new Date(), 300);
      const ca = { certFile: fs('/etc/etcd/pki/ca.crt'), keyFile: fs('/etc/etcd/pki/ca.key') };
      await mkdir(fs('/etc/etcd/pki'), { recursive: true });
      await mkdir(fs('/etc/prometheus/etcd'), { recursive: true });
      await issueCertificate({ subject: [['CN', 'etcd-ca']], usage: 'ca', validity, ...ca });
      const sans = { dnsNames: ['cp1'], ipAddresses: [NODE.ip] };
      await issueCertificate({ subject: [['CN', 'cp1']], usage: 'server', validity, issuer: ca, certFile: fs('/etc/etcd/pki/server.crt'), keyFile: fs('/etc/etcd/pki/server.key'), ...sans });
      await issueCertificate({ subject: [['CN', 'cp1']], usage: 'peer', validity, issuer: ca, certFile: fs('/etc/etcd/pki/peer.crt'), keyFile: fs('/etc/etcd/pki/peer.key'), ...sans });
      await issueCertificate({ subject: [['CN', 'prometheus']], usage: 'client', validity, issuer: ca, certFile: fs('/etc/prometheus/etcd/client.pem'), keyFile: fs('/etc/prometheus/etcd/client-key.pem') });
      await writeFile(fs('/etc/prometheus/etcd/ca.pem'), await readFile(ca.certFile));
      await writeFile(fs('/etc/etcd/etcd.yaml'), [
        'name: cp1',
        'data-dir: /var/lib/etcd',
        `listen-client-urls: https://${NODE.ip}:2379`,
        'client-transport-security:',
        '  cert-file: /etc/etcd/pki/server.crt',
        '  key-file: /etc/etcd/pki/server.key',
        '  trusted-ca-file: /etc/etcd/pki/ca.crt',
        '  client-cert-auth: true',
        'peer-transport-security:',
        '  cert-file: /etc/etcd/pki/peer.crt',
        '  key-file: /etc/etcd/pki/peer.key',
        '  trusted-ca-file: /etc/etcd/pki/ca.crt',
        '  client-cert-auth: true',
        '',
      ].join('\n'));
      await writeFile(fs('/etc/etcd/etcd.env'), 'ETCD_CONFIG_FILE=/etc/etcd/etcd.yaml\n');
      await writeFile(fs('/etc/systemd/system/etcd.service'), '[Service]\nType=notify\nEnvironmentFile=/etc/etcd/etcd.env\nExecStart=/usr/local/bin/etcd\n');
      await writeFile(fs('/etc/systemd/system/prometheus.service'), '[Service]\nExecStart=/usr/local/bin/prometheus --config.file=/etc/prometheus/prometheus.yml\n');
    });
    const out = io(node.dir);
    code = await discoverCommand({ inventory: node.inventoryFile, output: 'json', writeVars: join(node.dir, 'vars.yaml') }, out);
    json = JSON.parse(out.out.join(''));
    written = parse(await readFile(join(node.dir, 'vars.yaml'), 'utf8')) as Record<string, unknown>;
  });
  afterAll(async () => {
    await node?.sshd.stop();
    if (node) await rm(node.dir, { recursive: true, force: true });
  });

  it('reads the settings from the YAML keys, and the config file from the environment file that names it', () => {
    const etcd = json.map.hosts[0]!.components.find((c) => c.name === 'etcd')!;
    expect(etcd.settings['config-file']).toEqual({ name: 'config-file', value: '/etc/etcd/etcd.yaml', source: { kind: 'env-file', file: '/etc/etcd/etcd.env', key: 'ETCD_CONFIG_FILE' } });
    expect(etcd.settings['peer-cert-file']).toEqual({ name: 'peer-cert-file', value: '/etc/etcd/pki/peer.crt', source: { kind: 'etcd-config', file: '/etc/etcd/etcd.yaml', key: 'peer-transport-security.cert-file' } });
    const ca = json.map.entries.find((e) => e.path === '/etc/etcd/pki/ca.crt')!;
    expect(ca.readers).toEqual([
      { component: 'etcd', setting: 'client-transport-security.trusted-ca-file', where: { kind: 'etcd-config', file: '/etc/etcd/etcd.yaml', key: 'client-transport-security.trusted-ca-file' } },
      { component: 'etcd', setting: 'peer-transport-security.trusted-ca-file', where: { kind: 'etcd-config', file: '/etc/etcd/etcd.yaml', key: 'peer-transport-security.trusted-ca-file' } },
    ]);
  });

  it('writes the etcd vars (trust edited in the YAML config file) and the monitoring client, without a warning', () => {
    expect(written).toMatchObject({
      layout: 'binary',
      flags_in: 'unit',
      etcd_ca_cert: '/etc/etcd/pki/ca.crt',
      etcd_ca_key: '/etc/etcd/pki/ca.key',
      etcd_ca_bundle: '/etc/etcd/pki/ca-bundle.crt',
      etcd_config: '/etc/etcd/etcd.yaml',
      etcd_trust_in: 'etcd-config',
      etcd_restart: { method: 'systemd', unit: 'etcd' },
      etcd_leaf_certs: ['/etc/etcd/pki/peer.crt', '/etc/etcd/pki/server.crt'],
      extra_clients: [{ name: 'prometheus', host: 'cp1', etcd_ca: '/etc/prometheus/etcd/ca.pem', etcd_cert: '/etc/prometheus/etcd/client.pem', k8s_ca: '', k8s_cert: '', restart: { method: 'systemd', unit: 'prometheus' } }],
    });
    expect(written).not.toHaveProperty('apiserver_config');
    expect(json.warnings).toEqual([]);
    expect(code).toBe(0);
  });
});
