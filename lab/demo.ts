/**
 * `npm run demo [-- --layout kubeadm|binary|kubespray|kubeadm-emulated|binary-emulated] [-- --nodes 5] [-- --keep] [-- --events FILE]`: the main
 * job on the local lab. Brings up a 3-node lab, starts lab traffic, runs the stock rotation
 * (`kcarun playbooks/rotate-ca.yaml`) with its live output, then prints the lab's verify JSON as the
 * last line. The lab is taken down at the end unless --keep. With --events, the rotation's JSON
 * events go to FILE instead of the live output, and FILE.time gets its wall, user and system seconds
 * and peak RSS (GNU time; the benchmark reads both).
 *
 * Layouts (lab/layout-names.ts): `kubeadm` (the default, issue 18) is the genuine kubeadm HA cluster
 * of lab/real/ (kubeadm init/join, real kubelet, containerd, control plane and etcd, haproxy in
 * front); on a machine without the pinned build it first runs scripts/build-lab-binaries.sh with its
 * output shown (~17-24 min cold on 2 cores, then cached). `binary` is the hand-installed layout on the
 * same real binaries (units, /etc/etcd/ssl, /etc/kubernetes/ssl), `kubespray` kubespray's. The `-real`
 * names mean the same. `kubeadm-emulated` and `binary-emulated` are the emulated labs (lab/components/:
 * minutes, no build).
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
import { labUp } from './commands/up.js';
import { labVerify } from './commands/verify.js';
import { layoutChoice, type LayoutChoice } from './layout-names.js';

const root = join(import.meta.dirname, '..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      layout: { type: 'string', default: 'kubeadm' },
      nodes: { type: 'string', default: '3' },
      dir: { type: 'string', default: '/tmp/kcarun-demo' },
      'ip-prefix': { type: 'string', default: '127.0.9' },
      subnet: { type: 'string', default: '10.231.0.0/16' },
      keep: { type: 'boolean', default: false },
      events: { type: 'string' },
    },
  });
  const dir = values.dir!;
  const log = (l: string) => console.error(l);
  let choice: LayoutChoice;
  try {
    choice = layoutChoice(values.layout!);
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    return 2;
  }
  if (choice.kind === 'emulated' && choice.layout === 'etcd-only') {
    console.error('demo: etcd-only has no Kubernetes to rotate: use kcarun playbooks/rotate-etcd-ca.yaml on `npm run lab -- up --layout etcd-only`');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('demo: the lab needs root (namespaces, bind mounts, sshd)');
    return 2;
  }
  const real = choice.kind === 'real';
  if (real && !(await realBinariesBuilt(log))) return 1;
  await labDown({ dir, purge: true, log: () => undefined }).catch(() => undefined);
  let verifyLine = '';
  let runCode = 1;
  try {
    if (choice.kind === 'real') await realUp({ dir, layout: choice.layout, nodes: Number(values.nodes), subnet: values.subnet, caDaysLeft: 30, log });
    else await labUp({ dir, nodes: Number(values.nodes), layout: choice.layout, caDaysLeft: 30, ipPrefix: values['ip-prefix'], log });
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
    const result = await labVerify(dir);
    verifyLine = JSON.stringify(result);
    await trafficStop({ dir });
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
