/**
 * `npx tsx bench/trees.ts [--n 50] [--rounds 5] [--cpu-prof DIR] NAME=DIR ...`: kcarun against earlier kcarun, side by
 * side in one run (issue 14: "no slower than the commit before the redesign"). Each DIR is a checkout
 * with its own `npm run build` done (a git worktree of the commit to compare). One sshd fleet of N
 * loopback hosts serves every tree; in each round every tree runs, in turn (ABC, then BCA, ...):
 *   - the fan-out job of bench/fanout.ts (the same playbook file for all: five steps on N hosts,
 *     --forks N, a fresh remote folder per run, checked afterwards), and
 *   - `kcarun validate` of that tree's own playbooks/rotate-ca.yaml against bench/startup-inventory.yaml
 *     (the start-up figure of docs/benchmarks.md; each tree validates its own stock playbooks).
 * Prints per tree the median wall/CPU seconds (min-max beside) and peak RSS, and a JSON object as the last line.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareWorkspace } from './fanout.js';
import { median, timed, type Measured } from './measure.js';
import { startFleet } from './sshd-fleet.js';

const CONFIG = '# app config\nname=bench\nflag=off\nlevel=3\n';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { n: { type: 'string' }, rounds: { type: 'string' }, 'cpu-prof': { type: 'string' } } });
// --cpu-prof DIR: each fan-out run also writes a V8 CPU profile to DIR/<tree>-<round>/ (node --cpu-prof).
const profArgs = (tree: string, round: number): string[] => (values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(values['cpu-prof'], `${tree}-${round}`)}`] : []);
const n = Number(values.n ?? 50);
const rounds = Number(values.rounds ?? 5);
const trees = positionals.map((p) => {
  const eq = p.indexOf('=');
  if (eq <= 0) throw new Error(`trees are NAME=DIR (got ${p})`);
  return { name: p.slice(0, eq), dir: resolve(p.slice(eq + 1)) };
});
if (trees.length < 2) throw new Error('usage: bench/trees.ts [--n 50] [--rounds 5] NAME=DIR NAME=DIR [...]');

const fleet = await startFleet(n);
const work = await mkdtemp(join(tmpdir(), 'kcarun-bench-trees-'));
const samples = new Map<string, { fanout: Measured[]; validate: Measured[] }>(trees.map((t) => [t.name, { fanout: [], validate: [] }]));
console.log(`bench/trees: N=${n}, ${rounds} round(s), trees ${trees.map((t) => t.name).join(', ')}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
try {
  const ws = await prepareWorkspace(fleet, n);
  for (let r = 0; r < rounds; r++) {
    const order = trees.map((_, i) => trees[(i + r) % trees.length]!);
    for (const t of order) {
      const runDir = join(work, `r${r}-${t.name}`);
      const base = join(runDir, 'remote');
      for (const h of fleet.hosts) {
        await mkdir(join(base, h.name), { recursive: true });
        await writeFile(join(base, h.name, 'app.conf'), CONFIG);
      }
      const m = await timed(
        process.execPath,
        [...profArgs(t.name, r), join(t.dir, 'dist/cli.js'), 'run', ws.kcarunPlaybook, '-i', ws.kcarunInventory, '--forks', String(n), '--output', 'json', '--yes', '--state-dir', join(runDir, 'state'), '-e', `base=${base}`],
        { stdoutFile: join(runDir, 'out.jsonl') },
      );
      if (m.exitCode !== 0) throw new Error(`${t.name}: fan-out exited ${m.exitCode} (${join(runDir, 'out.jsonl')})`);
      // A fast wrong run must not count: every host's file is written 0600 and its config patched.
      for (const h of fleet.hosts) {
        if (((await stat(join(base, h.name, 'data', 'secret.key'))).mode & 0o777) !== 0o600) throw new Error(`${t.name}: ${h.name} secret.key not 0600`);
        if (!/^flag=on$/m.test(await readFile(join(base, h.name, 'app.conf'), 'utf8'))) throw new Error(`${t.name}: ${h.name} app.conf not patched`);
      }
      samples.get(t.name)!.fanout.push(m);
      const v = await timed(process.execPath, [join(t.dir, 'dist/cli.js'), 'validate', join(t.dir, 'playbooks/rotate-ca.yaml'), '-i', join(import.meta.dirname, 'startup-inventory.yaml')], {
        stdoutFile: join(runDir, 'validate.out'),
      });
      if (v.exitCode !== 0) throw new Error(`${t.name}: validate exited ${v.exitCode}`);
      samples.get(t.name)!.validate.push(v);
      await rm(runDir, { recursive: true, force: true });
    }
    console.log(`  round ${r + 1}/${rounds} done (load ${loadavg()[0]!.toFixed(2)})`);
  }
} finally {
  await fleet.stop();
  await rm(work, { recursive: true, force: true });
}

const spread = (xs: number[]) => [Math.min(...xs), Math.max(...xs)];
const fig = (ms: Measured[]) => ({
  wall_s: median(ms.map((m) => m.wallSeconds)),
  cpu_s: median(ms.map((m) => m.cpuSeconds)),
  peak_rss_mb: median(ms.map((m) => m.peakRssMb)),
  wall_min_max: spread(ms.map((m) => m.wallSeconds)),
  cpu_min_max: spread(ms.map((m) => m.cpuSeconds)),
});
const result = Object.fromEntries([...samples].map(([name, s]) => [name, { fanout: fig(s.fanout), validate: fig(s.validate) }]));
for (const [name, r] of Object.entries(result)) {
  const mm = (x: number[], k = 1) => `${(x[0]! * k).toFixed(k === 1 ? 2 : 0)}-${(x[1]! * k).toFixed(k === 1 ? 2 : 0)}`;
  console.log(
    `${name.padEnd(12)} fan-out N=${n}: ${r.fanout.wall_s.toFixed(2)} s wall (${mm(r.fanout.wall_min_max)}), ${r.fanout.cpu_s.toFixed(2)} s CPU (${mm(r.fanout.cpu_min_max)}), ${r.fanout.peak_rss_mb.toFixed(0)} MB` +
      ` | validate: ${(r.validate.wall_s * 1000).toFixed(0)} ms wall (${mm(r.validate.wall_min_max, 1000)}), ${(r.validate.cpu_s * 1000).toFixed(0)} ms CPU (${mm(r.validate.cpu_min_max, 1000)}), ${r.validate.peak_rss_mb.toFixed(0)} MB`,
  );
}
console.log(JSON.stringify({ n, rounds, load_after: loadavg(), trees: result }));
