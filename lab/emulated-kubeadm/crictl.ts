/**
 * Emulated `crictl ps|pods|stop|inspect` over the kubelet's static pod records. `crictl stop ID`
 * kills the container; the kubelet then starts it again (new container id, attempt + 1), which is how
 * operators restart a static pod whose manifest did not change. The flags kcarun uses are the real
 * crictl's: `ps --name RE|--id ID [-q|-o json]` (JSON as cri-tools prints it: containers[].id,
 * metadata.name/attempt, state, createdAt in ns), `stop [--timeout N] ID`, `inspect ID`.
 */
import { readPodRecords, writeRecord } from './static-pods.js';
import { isAlive, stopPid } from '../stand-ins/procs.js';

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} seconds ago` : `${Math.round(s / 60)} minutes ago`;
}

export async function crictlMain(argv: string[]): Promise<number> {
  const verb = argv.find((a) => !a.startsWith('-'));
  const valueOf = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i >= 0) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`${flag}=`));
    return eq?.slice(flag.length + 1);
  };
  const records = readPodRecords();
  switch (verb) {
    case 'ps': {
      const all = argv.includes('-a') || argv.includes('--all');
      const quiet = argv.includes('-q') || argv.includes('--quiet');
      const name = valueOf('--name');
      const id = valueOf('--id');
      const rows = records.filter((r) => (all || isAlive(r.pid)) && (!name || new RegExp(name).test(r.container)) && (!id || r.id.startsWith(id)));
      if (valueOf('-o') === 'json' || valueOf('--output') === 'json') {
        const containers = rows.map((r) => ({
          id: r.id, podSandboxId: r.id.slice(13, 26), metadata: { name: r.container, attempt: r.attempt },
          state: isAlive(r.pid) ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED', createdAt: String(BigInt(Date.parse(r.startedAt)) * 1_000_000n),
        }));
        console.log(JSON.stringify({ containers }, null, 2));
        return 0;
      }
      if (quiet) {
        for (const r of rows) console.log(r.id);
        return 0;
      }
      console.log(['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD'].join('\t'));
      for (const r of rows) {
        console.log([r.id.slice(0, 13), `registry.k8s.io/${r.container}:lab`, age(r.startedAt), isAlive(r.pid) ? 'Running' : 'Exited', r.container, r.attempt, r.id.slice(13, 26), r.pod].join('\t'));
      }
      return 0;
    }
    case 'pods': {
      console.log(['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT'].join('\t'));
      for (const r of records) console.log([r.id.slice(13, 26), age(r.startedAt), 'Ready', r.pod, 'kube-system', r.attempt].join('\t'));
      return 0;
    }
    case 'stop':
    case 'rm':
    case 'inspect': {
      // `stop --timeout N ID`: N is the flag's value, not an id.
      const rest = argv.slice(argv.indexOf(verb) + 1);
      const ids = rest.filter((a, i) => !a.startsWith('-') && !(i > 0 && (rest[i - 1] === '--timeout' || rest[i - 1] === '-t')));
      if (ids.length === 0) {
        console.error(`crictl ${verb}: ID cannot be empty`);
        return 1;
      }
      for (const id of ids) {
        const r = records.find((x) => x.id.startsWith(id));
        if (!r) {
          console.error(`crictl ${verb}: container "${id}" not found`);
          return 1;
        }
        if (verb === 'inspect') console.log(JSON.stringify({ status: { id: r.id, state: isAlive(r.pid) ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED', createdAt: r.startedAt, metadata: { name: r.container, attempt: r.attempt } }, info: { pid: r.pid } }, null, 2));
        else {
          if (verb === 'stop') writeRecord({ ...r, stopRequestedAt: new Date().toISOString() });
          await stopPid(r.pid);
          console.log(r.id);
        }
      }
      return 0;
    }
    default:
      console.error(`crictl (kcarun lab): unsupported command ${verb ?? '(none)'}; supported: ps, pods, stop, inspect`);
      return 1;
  }
}
