/**
 * Start-up benchmark: `kcarun validate playbooks/rotate-ca.yaml -i bench/startup-inventory.yaml`
 * (load + schema-check + template-check of the stock 33-stage playbook) against
 * `ansible-playbook --syntax-check` of the fan-out benchmark's Ansible playbook. Median of `repeats`
 * runs each, alternating; wall and CPU (user+sys) time from GNU time.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ansiblePlaybook } from './fanout.js';
import { median, timed, type Measured } from './measure.js';

const ROOT = join(import.meta.dirname, '..');

export interface StartupFigures {
  wall_ms: number;
  cpu_ms: number;
  min_wall_ms: number;
  peak_rss_mb: number;
  runs: number;
}

export interface StartupResult {
  kcarun: StartupFigures & { command: string };
  ansible: StartupFigures & { command: string };
  target_ms: number;
  /** Judged on CPU time when the machine is loaded (wall time then mostly measures the queue). */
  met_by_wall: boolean;
  met_by_cpu: boolean;
}

function figures(samples: Measured[]): StartupFigures {
  return {
    wall_ms: median(samples.map((s) => s.wallSeconds)) * 1000,
    cpu_ms: median(samples.map((s) => s.cpuSeconds)) * 1000,
    min_wall_ms: Math.min(...samples.map((s) => s.wallSeconds)) * 1000,
    peak_rss_mb: Math.max(...samples.map((s) => s.peakRssMb)),
    runs: samples.length,
  };
}

export async function startupBench(repeats: number, log: (s: string) => void): Promise<StartupResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-bench-startup-'));
  try {
    const playbook = join(dir, 'ansible-fanout.yaml');
    const inventory = join(dir, 'hosts.ini');
    await writeFile(playbook, ansiblePlaybook());
    await writeFile(inventory, '[bench]\nh001 ansible_host=127.0.221.1\n');
    const kArgs = [join(ROOT, 'dist/cli.js'), 'validate', join(ROOT, 'playbooks/rotate-ca.yaml'), '-i', join(import.meta.dirname, 'startup-inventory.yaml')];
    const aArgs = ['--syntax-check', '-i', inventory, playbook];
    const k: Measured[] = [];
    const a: Measured[] = [];
    const out = join(dir, 'out');
    for (let r = 0; r < repeats; r++) {
      for (const tool of r % 2 ? (['ansible', 'kcarun'] as const) : (['kcarun', 'ansible'] as const)) {
        const m =
          tool === 'kcarun'
            ? await timed(process.execPath, kArgs, { stdoutFile: out })
            : await timed('ansible-playbook', aArgs, { stdoutFile: out, env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: join(dir, 'atmp') } });
        if (m.exitCode !== 0) throw new Error(`${tool} start-up command failed (exit ${m.exitCode})`);
        (tool === 'kcarun' ? k : a).push(m);
      }
    }
    const kcarun = { command: 'kcarun validate playbooks/rotate-ca.yaml -i bench/startup-inventory.yaml', ...figures(k) };
    const ansible = { command: 'ansible-playbook --syntax-check (fan-out benchmark playbook)', ...figures(a) };
    log(`  validate: kcarun ${kcarun.wall_ms.toFixed(0)} ms wall / ${kcarun.cpu_ms.toFixed(0)} ms CPU; ansible --syntax-check ${ansible.wall_ms.toFixed(0)} ms wall / ${ansible.cpu_ms.toFixed(0)} ms CPU`);
    return { kcarun, ansible, target_ms: 300, met_by_wall: kcarun.wall_ms <= 300, met_by_cpu: kcarun.cpu_ms <= 300 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Run alone (`npx tsx bench/startup.ts [REPEATS]`): rewrites results/startup.json only, e.g. after a
// start-up fix; `npx tsx bench/render-summary.ts` then refreshes summary.md.
if (process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])) {
  const { writeFile: write } = await import('node:fs/promises');
  const { loadavg } = await import('node:os');
  const before = loadavg().map((v) => +v.toFixed(2));
  const result = await startupBench(Number(process.argv[2] ?? 10), (s) => process.stderr.write(`${s}\n`));
  const out = { date: new Date().toISOString(), loadavg: { before, after: loadavg().map((v) => +v.toFixed(2)) }, ...result };
  await write(join(import.meta.dirname, 'results', 'startup.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
