/**
 * Fan-out benchmark: the same five-step job (mkdir; upload a file 0600; patch a flag line in a
 * config; read it back; fetch a file) on N loopback sshd "hosts", three ways, alternating:
 * kcarun (a playbook, --forks N), Ansible (ansible-playbook, forks N, pipelining, ControlPersist,
 * no facts, host keys checked) and the floor (bench/floor-ssh2.mjs: bare ssh2, all hosts at once).
 * Every run is checked afterwards (file modes, patched line, fetched copies), so a fast wrong run
 * cannot count. Each run starts from a fresh remote folder and cold connections.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { median, timed, type Measured } from './measure.js';
import { startFleet, type SshdFleet } from './sshd-fleet.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

export type Tool = 'kcarun' | 'ansible' | 'floor';
export const TOOLS: Tool[] = ['kcarun', 'ansible', 'floor'];

export interface RunSample extends Measured {
  tool: Tool;
  n: number;
  /** SSH logins the servers accepted during the run. */
  connections: number;
  /** CPU seconds the sshd side spent (listeners + per-connection processes + remote commands). */
  serverCpuSeconds: number;
}

export interface ToolSummary {
  wall_s: number;
  cpu_s: number;
  peak_rss_mb: number;
  server_cpu_s: number;
  connections: number;
  runs: number;
}

export interface FanoutRow {
  n: number;
  tools: Record<Tool, ToolSummary>;
  ratios: { kcarunVsAnsibleWall: number; kcarunVsFloorWall: number; kcarunVsAnsibleCpu: number; kcarunVsFloorCpu: number };
}

const PAYLOAD = `${'kcarun-bench-payload-0123456789abcdef\n'.repeat(110)}`; // ~4 KiB
const CONFIG = '# app config\nname=bench\nflag=off\nlevel=3\n';

export function kcarunPlaybook(): string {
  return stringify({
    apiVersion: 'kcarun/v1',
    kind: 'Playbook',
    metadata: { name: 'bench-fanout', version: '1.0.0', description: 'Five-step fan-out job of the benchmark' },
    vars: { base: '/tmp/unset', payload: PAYLOAD },
    stages: [
      {
        name: 'fanout',
        hosts: 'all',
        // The hosts are independent: each goes through the five steps at its own pace (Ansible's play
        // below uses its `free` strategy too, so both tools get the same freedom).
        strategy: 'free',
        tasks: [
          { name: 'mkdir', type: 'ssh-exec', with: { command: 'mkdir -p {{ base }}/{{ inventory_hostname }}/data' } },
          { name: 'upload 0600', type: 'file-upload', with: { dest: '{{ base }}/{{ inventory_hostname }}/data/secret.key', content: '{{ payload }}', mode: '0600' } },
          { name: 'patch flag', type: 'file-patch', with: { path: '{{ base }}/{{ inventory_hostname }}/app.conf', edits: [{ op: 'line', match: '^flag=', line: 'flag=on' }] } },
          { name: 'read back', type: 'ssh-exec', with: { command: "grep '^flag=on$' {{ base }}/{{ inventory_hostname }}/app.conf", changedWhen: '[^\\s\\S]' } },
          { name: 'fetch', type: 'file-fetch', with: { src: '{{ base }}/{{ inventory_hostname }}/app.conf', artifact: 'hosts/{{ inventory_hostname }}/app.conf' } },
        ],
      },
    ],
  });
}

export function ansiblePlaybook(): string {
  return stringify([
    {
      name: 'bench-fanout',
      hosts: 'all',
      gather_facts: false,
      strategy: 'free',
      vars: { payload: PAYLOAD },
      tasks: [
        { name: 'mkdir', 'ansible.builtin.file': { path: '{{ base }}/{{ inventory_hostname }}/data', state: 'directory' } },
        { name: 'upload 0600', 'ansible.builtin.copy': { content: '{{ payload }}', dest: '{{ base }}/{{ inventory_hostname }}/data/secret.key', mode: '0600' } },
        { name: 'patch flag', 'ansible.builtin.lineinfile': { path: '{{ base }}/{{ inventory_hostname }}/app.conf', regexp: '^flag=', line: 'flag=on' } },
        { name: 'read back', 'ansible.builtin.command': "grep '^flag=on$' {{ base }}/{{ inventory_hostname }}/app.conf", changed_when: false },
        { name: 'fetch', 'ansible.builtin.fetch': { src: '{{ base }}/{{ inventory_hostname }}/app.conf', dest: '{{ fetch_dir }}/' } },
      ],
    },
  ]);
}

interface Workspace {
  dir: string;
  kcarunPlaybook: string;
  kcarunInventory: string;
  ansiblePlaybook: string;
  ansibleInventory: string;
  ansibleConfig: string;
  controlDir: string;
}

/** Writes the three tools' inputs for this fleet (once per N). */
export async function prepareWorkspace(fleet: SshdFleet, n: number): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-bench-ws-'));
  const ws: Workspace = {
    dir,
    kcarunPlaybook: join(dir, 'fanout.yaml'),
    kcarunInventory: join(dir, 'inventory.yaml'),
    ansiblePlaybook: join(dir, 'ansible-fanout.yaml'),
    ansibleInventory: join(dir, 'ansible-hosts.ini'),
    ansibleConfig: join(dir, 'ansible.cfg'),
    controlDir: join(dir, 'cp'),
  };
  await mkdir(ws.controlDir, { mode: 0o700 });
  await writeFile(ws.kcarunPlaybook, kcarunPlaybook());
  await writeFile(ws.ansiblePlaybook, ansiblePlaybook());
  await writeFile(
    ws.kcarunInventory,
    stringify({
      apiVersion: 'kcarun/v1',
      kind: 'Inventory',
      defaults: { ssh: { user: 'root', identityFile: fleet.identityFile, knownHostsFile: fleet.knownHostsFile, useAgent: false } },
      hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { address: h.address, port: h.port }])),
    }),
  );
  await writeFile(
    ws.ansibleInventory,
    `[bench]\n${fleet.hosts.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`).join('\n')}\n\n` +
      `[all:vars]\nansible_user=root\nansible_ssh_private_key_file=${fleet.identityFile}\nansible_python_interpreter=/usr/bin/python3\n`,
  );
  // Ansible's best settings for this job (issue 8): forks = N, pipelining, ControlPersist, no facts,
  // host keys checked against the same known_hosts file.
  await writeFile(
    ws.ansibleConfig,
    [
      '[defaults]',
      `inventory = ${ws.ansibleInventory}`,
      `forks = ${n}`,
      'host_key_checking = True',
      'gathering = explicit',
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${join(dir, 'ansible-local')}`,
      '',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${fleet.knownHostsFile} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`,
      `control_path_dir = ${ws.controlDir}`,
      '',
    ].join('\n'),
  );
  return ws;
}

/** Closes Ansible's ControlPersist masters (by their sockets) so the next run starts cold. */
async function closeControlMasters(controlDir: string): Promise<void> {
  const sockets = await readdir(controlDir).catch(() => [] as string[]);
  await Promise.all(
    sockets.map((s) => run('ssh', ['-o', `ControlPath=${join(controlDir, s)}`, '-O', 'exit', 'bench-host']).catch(() => undefined)),
  );
  // The masters exit a moment after answering.
  for (let i = 0; i < 50 && (await readdir(controlDir).catch(() => [])).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
}

async function checkRun(tool: Tool, fleet: SshdFleet, base: string, fetched: (host: string) => string): Promise<void> {
  for (const h of fleet.hosts) {
    const key = join(base, h.name, 'data', 'secret.key');
    const st = await stat(key);
    if ((st.mode & 0o777) !== 0o600) throw new Error(`${tool}: ${key} has mode ${(st.mode & 0o777).toString(8)}, not 0600`);
    if ((await readFile(key, 'utf8')) !== PAYLOAD) throw new Error(`${tool}: ${key} content differs`);
    const conf = await readFile(join(base, h.name, 'app.conf'), 'utf8');
    if (!/^flag=on$/m.test(conf) || /^flag=off$/m.test(conf)) throw new Error(`${tool}: ${h.name} app.conf not patched`);
    if ((await readFile(fetched(h.name), 'utf8')) !== conf) throw new Error(`${tool}: ${h.name} fetched copy differs`);
  }
}

export async function runOnce(tool: Tool, fleet: SshdFleet, ws: Workspace, n: number, seq: number): Promise<RunSample> {
  const runDir = join(ws.dir, `run-${seq}-${tool}`);
  const base = join(runDir, 'remote'); // the "hosts" share this machine's file system
  const local = join(runDir, 'local');
  await mkdir(local, { recursive: true });
  for (const h of fleet.hosts) {
    await mkdir(join(base, h.name), { recursive: true });
    await writeFile(join(base, h.name, 'app.conf'), CONFIG);
  }
  const logins0 = fleet.acceptedLogins();
  const cpu0 = await fleet.serverCpuSeconds();
  const out = join(runDir, `${tool}.out`);
  let m: Measured;
  let fetched: (host: string) => string;
  if (tool === 'kcarun') {
    const stateDir = join(local, 'state');
    m = await timed(
      process.execPath,
      [join(ROOT, 'dist/cli.js'), 'run', ws.kcarunPlaybook, '-i', ws.kcarunInventory, '--forks', String(n), '--output', 'json', '--yes', '--state-dir', stateDir, '-e', `base=${base}`],
      { stdoutFile: out },
    );
    fetched = (h) => join(stateDir, 'artifacts', 'hosts', h, 'app.conf');
  } else if (tool === 'ansible') {
    m = await timed('ansible-playbook', [ws.ansiblePlaybook, '-e', `base=${base}`, '-e', `fetch_dir=${local}`], {
      stdoutFile: out,
      env: { ...process.env, ANSIBLE_CONFIG: ws.ansibleConfig, ANSIBLE_NOCOLOR: '1' },
    });
    await closeControlMasters(ws.controlDir);
    fetched = (h) => join(local, h, base, h, 'app.conf');
  } else {
    const job = join(runDir, 'floor-job.json');
    const known = new Map(
      (await readFile(fleet.knownHostsFile, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string, string])
        .map(([hp, , key]) => [hp, key]),
    );
    await writeFile(
      job,
      JSON.stringify({
        hosts: fleet.hosts.map((h) => ({ ...h, hostKey: known.get(`[${h.address}]:${h.port}`) })),
        identityFile: fleet.identityFile,
        base,
        payload: PAYLOAD,
        fetchDir: local,
      }),
    );
    m = await timed(process.execPath, [join(import.meta.dirname, 'floor-ssh2.mjs'), job], { stdoutFile: out, cwd: ROOT });
    fetched = (h) => join(local, h, 'app.conf');
  }
  if (m.exitCode !== 0) {
    const tail = (await readFile(out, 'utf8')).slice(-3000);
    throw new Error(`${tool} at N=${n} exited ${m.exitCode}:\n${tail}`);
  }
  // sshd reaps its per-connection processes right after the client leaves.
  await new Promise((r) => setTimeout(r, 300));
  const sample: RunSample = { ...m, tool, n, connections: fleet.acceptedLogins() - logins0, serverCpuSeconds: (await fleet.serverCpuSeconds()) - cpu0 };
  await checkRun(tool, fleet, base, fetched);
  await rm(runDir, { recursive: true, force: true });
  return sample;
}

function summarise(samples: RunSample[]): ToolSummary {
  return {
    wall_s: median(samples.map((s) => s.wallSeconds)),
    cpu_s: median(samples.map((s) => s.cpuSeconds)),
    peak_rss_mb: Math.max(...samples.map((s) => s.peakRssMb)),
    server_cpu_s: median(samples.map((s) => s.serverCpuSeconds)),
    connections: median(samples.map((s) => s.connections)),
    runs: samples.length,
  };
}

/** Runs every tool `repeats` times at this N, rotating which tool goes first. */
export async function fanoutAt(n: number, repeats: number, log: (s: string) => void, tools: Tool[] = TOOLS): Promise<{ row: FanoutRow; samples: RunSample[] }> {
  const fleet = await startFleet(n);
  const samples: RunSample[] = [];
  let ws: Workspace | undefined;
  try {
    ws = await prepareWorkspace(fleet, n);
    let seq = 0;
    for (let r = 0; r < repeats; r++) {
      const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
      for (const tool of order) {
        const s = await runOnce(tool, fleet, ws, n, seq++);
        samples.push(s);
        log(`  N=${n} ${tool.padEnd(7)} wall ${s.wallSeconds.toFixed(2)} s  cpu ${s.cpuSeconds.toFixed(2)} s  rss ${s.peakRssMb.toFixed(0)} MB  conns ${s.connections}  sshd-cpu ${s.serverCpuSeconds.toFixed(2)} s`);
      }
    }
  } finally {
    if (ws) {
      await closeControlMasters(ws.controlDir);
      await rm(ws.dir, { recursive: true, force: true });
    }
    await fleet.stop();
  }
  const by = (t: Tool) => summarise(samples.filter((s) => s.tool === t));
  const tools3 = { kcarun: by('kcarun'), ansible: by('ansible'), floor: by('floor') };
  return {
    samples,
    row: {
      n,
      tools: tools3,
      ratios: {
        kcarunVsAnsibleWall: tools3.kcarun.wall_s / tools3.ansible.wall_s,
        kcarunVsFloorWall: tools3.kcarun.wall_s / tools3.floor.wall_s,
        kcarunVsAnsibleCpu: tools3.kcarun.cpu_s / tools3.ansible.cpu_s,
        kcarunVsFloorCpu: tools3.kcarun.cpu_s / tools3.floor.cpu_s,
      },
    },
  };
}
