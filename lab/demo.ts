/**
 * `npm run demo [-- --layout kubeadm|binary|kubespray] [-- --nodes 5] [-- --subnet 10.231.0.0/16] [-- --keep] [-- --events FILE]`:
 * the main job on the local lab. Brings up a 3-node lab, starts lab traffic, runs the stock rotation
 * (`kcarun playbooks/rotate-ca.yaml`) with its live output, then prints the lab's verify JSON as the
 * last line. The lab is taken down at the end unless --keep. With --events, the rotation's JSON
 * events go to FILE instead of the live output, and FILE.time gets its wall, user and system seconds
 * and peak RSS (GNU time; the benchmark reads both).
 *
 * Layouts (lab/layout-names.ts), all on the real components (issue 18): `kubeadm` (the default) is
 * the genuine kubeadm HA cluster of lab/real/ (kubeadm init/join, real kubelet, containerd, control
 * plane and etcd, haproxy in front); on a machine without the pinned build it first runs
 * scripts/build-lab-binaries.sh with its output shown (~17-24 min cold on 2 cores, then cached).
 * `binary` is the hand-installed layout on the same real binaries (units, /etc/etcd/ssl,
 * /etc/kubernetes/ssl), `kubespray` kubespray's. The `-real` names mean the same. The emulated labs
 * are retired (issue 18); etcd-only has no Kubernetes to rotate.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labDown } from './commands/down.js';
import { BUILD_SCRIPT, requireArtifacts } from './real/artifacts.js';
import { realUp } from './real/up.js';
import { labInventory } from './commands/inventory.js';
import { trafficStart, trafficStop } from './commands/traffic.js';
import { labVerify } from './commands/verify.js';
import { layoutChoice, type RealUpLayout } from './layout-names.js';

const root = join(import.meta.dirname, '..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      layout: { type: 'string', default: 'kubeadm' },
      nodes: { type: 'string', default: '3' },
      dir: { type: 'string', default: '/tmp/kcarun-demo' },
      subnet: { type: 'string', default: '10.231.0.0/16' },
      keep: { type: 'boolean', default: false },
      events: { type: 'string' },
    },
  });
  const dir = values.dir!;
  const log = (l: string) => console.error(l);
  let layout: RealUpLayout;
  try {
    const choice = layoutChoice(values.layout!);
    if (choice.kind === 'loopback') {
      throw new Error('etcd-only has no Kubernetes to rotate: use kcarun playbooks/rotate-etcd-ca.yaml on `npm run lab -- up --layout etcd-only`');
    }
    layout = choice.layout;
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('demo: the lab needs root (namespaces, bind mounts, sshd)');
    return 2;
  }
  if (!(await realBinariesBuilt(log))) return 1;
  await labDown({ dir, purge: true, log: () => undefined }).catch(() => undefined);
  let verifyLine = '';
  let runCode = 1;
  try {
    await realUp({ dir, layout, nodes: Number(values.nodes), subnet: values.subnet, caDaysLeft: 30, log });
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, labInventory(dir));
    await trafficStart({ dir });
    log(`demo: lab up with traffic; rotating the CAs: kcarun playbooks/rotate-ca.yaml -i ${inventory}`);
    const eventsFd = values.events ? openSync(values.events, 'w', 0o600) : undefined;
    runCode = await new Promise<number>((resolve) => {
      const args = [join(root, 'dist', 'cli.js'), join(root, 'playbooks', 'rotate-ca.yaml'), '-i', inventory, '--yes'];
      // For the benchmark, GNU time records the run's own CPU time beside the events.
      const child =
        eventsFd === undefined
          ? spawn(process.execPath, args, { stdio: 'inherit', cwd: dir })
          : spawn('/usr/bin/time', ['-o', `${values.events}.time`, '-f', '%e %U %S %M', process.execPath, ...args, '--output', 'json'], {
              stdio: ['ignore', eventsFd, 'inherit'],
              cwd: dir,
            });
      child.on('close', (code) => resolve(code ?? 1));
    });
    if (eventsFd !== undefined) closeSync(eventsFd);
    // Let a few more seconds of traffic run on the rotated cluster before counting.
    await new Promise((r) => setTimeout(r, 3000));
    // The real lab's generator records its last acknowledged writes once a second while it keeps
    // writing: it stops (flushing them) before verify reads the data back, or a later write looks lost.
    await trafficStop({ dir });
    const result = await labVerify(dir);
    verifyLine = JSON.stringify(result);
  } finally {
    if (!values.keep) await labDown({ dir, purge: true, log: () => undefined });
  }
  if (values.keep) log(`demo: the lab stays up in ${dir} (npm run lab -- down --dir ${dir})`);
  console.log(verifyLine);
  return runCode;
}

/**
 * True when the real lab's pinned binaries and images are in the cache; otherwise runs the build
 * (scripts/build-lab-binaries.sh, its progress on this terminal) and says whether it succeeded.
 */
async function realBinariesBuilt(log: (l: string) => void): Promise<boolean> {
  try {
    requireArtifacts();
    return true;
  } catch {
    log('demo: the real lab\'s pinned binaries are not built yet: building them once (scripts/build-lab-binaries.sh, ~17-24 min on 2 cores, then cached)');
  }
  const code = await new Promise<number>((resolve) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PATH: `${process.env['PATH'] ?? '/usr/bin:/bin'}:/usr/local/go/bin` } });
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) log(`demo: the build failed (exit ${code}); its output is above`);
  return code === 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
