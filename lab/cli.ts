/**
 * `npm run lab -- <verb>`: the lab's command line (the only file here that reads argv or exits).
 *   up [--layout kubeadm|binary|kubespray] [--nodes 3] [--subnet 10.231.0.0/16] [--ca-days-left 30] [--dir DIR]   (real components)
 *   up --layout etcd-only [--nodes 3] [--ca-days-left 30] [--ssh-port 22] [--ip-prefix 127.0.1] [--dir DIR]   (Debian's etcd on loopback)
 *   add-worker (kubeadm-real: a new machine joins with the printed join command)
 *   down [--purge] | status [--json] | inventory | kubeconfig | traffic start [--rate N] | traffic stop
 *   verify [--json] | fault stop-sshd|start-sshd|pause|resume|change-host-key NODE
 */
import { parseArgs } from 'node:util';
import { DEFAULT_LAB_DIR, LabPaths } from './lab-paths.js';
import { labUp } from './commands/up.js';
import { labDown } from './commands/down.js';
import { labStatus } from './commands/status.js';
import { labInventory } from './commands/inventory.js';
import { trafficStart, trafficStop } from './commands/traffic.js';
import { labVerify } from './commands/verify.js';
import { FAULTS, labFault, type Fault } from './commands/fault.js';
import { adminConf, realUp } from './real/up.js';
import { layoutChoice } from './layout-names.js';
import { realJoinNewWorker } from './real/worker.js';

const USAGE = `usage: npm run lab -- <verb> [options]   (needs root, Linux)
  up [--layout kubeadm|binary|kubespray] [--nodes 3] [--subnet 10.231.0.0/16] [--ca-days-left 30]
                            a genuine cluster from the pinned builds (scripts/build-lab-binaries.sh):
                            kubeadm's (the default), hand-installed (the binary layout's units, real
                            binaries), or kubespray's (kubeadm's control plane, etcd on the host from
                            /etc/etcd.env); kubeadm-real, binary-real, kubespray-real: the same
  up --layout etcd-only [--nodes 3] [--ca-days-left 30] [--ssh-port 22] [--ip-prefix 127.0.1]
                            etcd alone, Debian's etcd 3.4 on loopback (seconds to start; its Prometheus
                            stand-in on cp1). The emulated kubeadm and binary labs are retired (issue 18):
                            --layout kubeadm and --layout binary run those layouts on the real components
  add-worker                kubeadm: a new node wN joins with \`kubeadm token create --print-join-command\`
                            (up to 9, on P.0.21-29)
  down [--purge]            stop every lab process (by pid), remove mount points
  status [--json]           nodes, sshd, units
  inventory                 print the kcarun inventory for the lab
  kubeconfig                real labs: print the path of a current admin kubeconfig for kubectl here
  traffic start [--rate 20] | traffic stop
  verify [--json]           counters, component errors, allCertsOnNewCA, dataIntact
  fault <${FAULTS.join('|')}> NODE
  every verb takes --dir DIR (default ${DEFAULT_LAB_DIR}, or $KCARUN_LAB_DIR)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      nodes: { type: 'string' },
      layout: { type: 'string' },
      'ca-days-left': { type: 'string' },
      'ssh-port': { type: 'string' },
      'ip-prefix': { type: 'string' },
      subnet: { type: 'string' },
      rate: { type: 'string' },
      json: { type: 'boolean' },
      purge: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const dir = values.dir ?? process.env['KCARUN_LAB_DIR'] ?? DEFAULT_LAB_DIR;
  const [verb, arg1, arg2] = positionals;
  if (values.help || !verb) {
    console.log(USAGE);
    return verb ? 0 : 2;
  }
  if (process.getuid?.() !== 0 && verb !== 'inventory') {
    console.error('lab: needs root (namespaces, bind mounts, sshd)');
    return 2;
  }
  switch (verb) {
    case 'up': {
      const choice = layoutChoice(values.layout ?? 'kubeadm');
      // An option the chosen kind of lab does not take is refused, not ignored.
      const notHere = choice.kind === 'real' ? (['ssh-port', 'ip-prefix'] as const).filter((o) => values[o] !== undefined) : values.subnet !== undefined ? ['subnet'] : [];
      if (notHere.length) throw new Error(`--${notHere.join(', --')} ${notHere.length > 1 ? 'are' : 'is'} not for --layout ${values.layout ?? 'kubeadm'} (${choice.kind === 'real' ? 'real components: --subnet, --nodes, --ca-days-left; add-worker adds workers' : 'loopback: --ip-prefix, --ssh-port'})`);
      if (choice.kind === 'real') {
        await realUp({
          dir,
          layout: choice.layout,
          nodes: values.nodes ? Number(values.nodes) : undefined,
          subnet: values.subnet,
          caDaysLeft: values['ca-days-left'] ? Number(values['ca-days-left']) : undefined,
          until: process.env['KCARUN_REAL_UNTIL'] === 'namespaces' ? 'namespaces' : undefined,
        });
        return 0;
      }
      await labUp({
        dir,
        layout: choice.layout,
        nodes: values.nodes ? Number(values.nodes) : undefined,
        caDaysLeft: values['ca-days-left'] ? Number(values['ca-days-left']) : undefined,
        sshPort: values['ssh-port'] ? Number(values['ssh-port']) : undefined,
        ipPrefix: values['ip-prefix'],
      });
      return 0;
    }
    case 'add-worker': {
      const { worker } = await realJoinNewWorker({ dir });
      console.log(`${worker.name} ${worker.ip} joined`);
      return 0;
    }
    case 'down':
      await labDown({ dir, purge: values.purge });
      return 0;
    case 'status': {
      const s = labStatus(dir);
      if (values.json) console.log(JSON.stringify(s));
      else if (s.nodes.length === 0) console.log(`no lab in ${dir}`);
      else {
        console.log(`layout ${s.layout}; traffic ${s.traffic ? 'running' : 'stopped'}`);
        for (const n of s.nodes) {
          const list = (r: Record<string, boolean>): string => Object.entries(r).map(([k, v]) => `${k}${v ? '' : '(down)'}`).join(' ') || '-';
          console.log(`${n.name} ${n.ip} ${n.up ? 'up' : 'DOWN'} sshd:${n.sshd ? 'up' : 'down'} processes:${n.processes} units: ${list(n.units)}`);
        }
      }
      return 0;
    }
    case 'inventory':
      process.stdout.write(labInventory(dir));
      return 0;
    case 'kubeconfig':
      // a real lab: the admin kubeconfig for kubectl on this machine, as the nodes hold it now
      console.log(adminConf(new LabPaths(dir)));
      return 0;
    case 'traffic':
      if (arg1 === 'start') console.log(`traffic started (pid ${await trafficStart({ dir, rate: values.rate ? Number(values.rate) : undefined })})`);
      else if (arg1 === 'stop') {
        await trafficStop({ dir });
        console.log('traffic stopped');
      } else throw new Error('traffic start|stop');
      return 0;
    case 'verify': {
      const r = await labVerify(dir);
      if (!values.json) {
        console.log(`requests ${r.requests}, failures ${r.failures}, component errors ${r.componentErrors} (+${r.connectionErrors} connection errors), allCertsOnNewCA ${r.allCertsOnNewCA}, dataIntact ${r.dataIntact}`);
      }
      console.log(JSON.stringify(r));
      return 0;
    }
    case 'fault': {
      if (!arg1 || !(FAULTS as readonly string[]).includes(arg1) || !arg2) throw new Error(`fault <${FAULTS.join('|')}> NODE`);
      console.log(await labFault(arg1 as Fault, arg2, dir));
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
