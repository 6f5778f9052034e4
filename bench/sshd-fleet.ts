/**
 * N real OpenSSH servers on loopback (127.0.220.1 … 127.0.220.N, one /usr/sbin/sshd each, own host
 * key and port) sharing one client key and one known_hosts file — the "hosts" of the fan-out
 * benchmark. Every sshd logs its accepted logins to stderr (LogLevel INFO), so the benchmark can
 * count the SSH connections each tool opened, and its /proc stat (with reaped children) gives the
 * server-side CPU time. Stopped by pid.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from '../lab/net.js';

const run = promisify(execFile);

export interface FleetHost {
  name: string;
  address: string;
  port: number;
}

export interface SshdFleet {
  dir: string;
  hosts: FleetHost[];
  identityFile: string;
  knownHostsFile: string;
  /** Accepted logins since the fleet started (all servers). */
  acceptedLogins(): number;
  /** CPU seconds of every sshd (listeners + their reaped per-connection processes). */
  serverCpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** Third octet of the fleet's addresses: away from the lab (127.0.1.x) and tests' usual picks. */
const THIRD_OCTET = 220;

async function listening(address: string, port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  if (await waitForPort(address, port, 20_000, () => child.exitCode !== null)) return;
  throw new Error(child.exitCode !== null ? `sshd on ${address}:${port} exited ${child.exitCode}: ${stderr()}` : `sshd not listening on ${address}:${port}: ${stderr()}`);
}

async function keygen(path: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kcarun-bench', '-f', path]);
}

/** CPU seconds of a process plus its reaped children: /proc/PID/stat utime+stime+cutime+cstime. */
async function procCpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!text) return 0;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

export async function startFleet(n: number): Promise<SshdFleet> {
  if (n > 250) throw new Error('at most 250 hosts (one loopback /24)');
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-bench-fleet-'));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const identityFile = join(dir, 'id_ed25519');
  await keygen(identityFile);
  const userPub = (await readFile(`${identityFile}.pub`, 'utf8')).trim();
  await writeFile(join(dir, 'authorized_keys'), `${userPub}\n`, { mode: 0o644 });
  const children: ChildProcess[] = [];
  const hosts: FleetHost[] = [];
  const known: string[] = [];
  let logins = 0;
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 3000);
            c.once('exit', () => (clearTimeout(t), resolve()));
            c.kill('SIGTERM');
          }),
      ),
    );
    process.removeListener('exit', onExit);
    await rm(dir, { recursive: true, force: true });
  };
  // A crashed benchmark still stops its servers.
  const onExit = () => {
    for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', onExit);
  try {
    // Host keys in parallel: ssh-keygen is cheap, but 100 in a row add up on a loaded machine.
    await Promise.all(Array.from({ length: n }, (_, i) => keygen(join(dir, `host${i + 1}_key`))));
    for (let i = 1; i <= n; i++) {
      const address = `127.0.${THIRD_OCTET}.${i}`;
      const port = await freePort(address);
      const hostKey = join(dir, `host${i}_key`);
      const config = [
        `ListenAddress ${address}:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, `sshd${i}.pid`)}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxSessions 10',
        'MaxStartups 200',
        'LogLevel INFO',
        'Subsystem sftp internal-sftp',
        // Root's .bashrc on this machine runs `pyenv init` for every non-nested shell (seconds under
        // load); every tool pays the same, so skip it for all of them (as test/helpers/sshd.ts does).
        'SetEnv SHLVL=1',
      ];
      const configFile = join(dir, `sshd${i}_config`);
      await writeFile(configFile, `${config.join('\n')}\n`);
      const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        logins += d.split('Accepted publickey').length - 1;
        if (stderr.length < 4000) stderr += d;
      });
      await listening(address, port, child, () => stderr);
      const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
      known.push(`[${address}]:${port} ${hostPub}`);
      hosts.push({ name: `h${String(i).padStart(3, '0')}`, address, port });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const knownHostsFile = join(dir, 'known_hosts');
  await writeFile(knownHostsFile, `${known.join('\n')}\n`);
  return {
    dir,
    hosts,
    identityFile,
    knownHostsFile,
    acceptedLogins: () => logins,
    serverCpuSeconds: async () => (await Promise.all(children.map((c) => procCpuSeconds(c.pid!)))).reduce((a, b) => a + b, 0),
    stop,
  };
}
