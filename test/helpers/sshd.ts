import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HostInfo } from '../../src/tasks/define.js';
import { freePort, waitForPort } from '../../lab/net.js';

const run = promisify(execFile);

/**
 * A real OpenSSH server (Debian's /usr/sbin/sshd) on a 127.0.x.y loopback address, for tests and
 * benchmarks. It gets its own host key, a user key allowed for root (and, on request, for two
 * non-root sudo users), and a known_hosts file that trusts its host key. Stopped by pid.
 */
export interface SshdHarness {
  /** root@address:port with the generated identity and known_hosts file. */
  host: HostInfo;
  address: string;
  port: number;
  dir: string;
  identityFile: string;
  knownHostsFile: string;
  /** The host key's public line, e.g. `ssh-ed25519 AAAA...`. */
  hostPublicKey: string;
  /** Login users with sudo (when `sudoUsers` was set): NOPASSWD, and password-protected. */
  sudoUsers?: { nopasswd: string; password: string; passwordValue: string };
  /** A HostInfo for another login user (same key, same known_hosts). */
  hostAs(user: string, extra?: Partial<HostInfo>): HostInfo;
  /**
   * Cuts every open connection, keeping the listener: kills the per-connection sshd processes and
   * (default) the commands below them; with `{ commandsSurvive: true }` only the sshd processes,
   * so remote commands see their stdin end early, as on a real network cut.
   */
  killSessions(options?: { commandsSurvive?: boolean }): Promise<number>;
  pid: number;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Host name in the returned HostInfo (default `sshd-<port>`). */
  name?: string;
  /** Create two non-root users with sudo rights (removed again by stop()). */
  sudoUsers?: boolean;
  /** Use this host key type (default ed25519). */
  hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  /** Reuse this client identity file instead of generating one (benchmarks start many servers). */
  identityFile?: string;
  /** Extra sshd_config lines, placed first (they win). A `SetEnv` here replaces the default `SetEnv SHLVL=1`. */
  extraConfig?: string[];
  /**
   * Run sshd in a private mount + UTS namespace (`unshare --mount --uts`), like a lab node: these
   * bash lines run there first (bind mounts over /etc/kubernetes..., background processes that
   * then belong to sshd and are stopped with it), then sshd is exec'd under the same pid.
   */
  namespaceScript?: string;
}

let addressCounter = 0;

/** A loopback address in 127.0.3.0/24–127.0.250.0/24 (the lab uses 127.0.1.x), spread per process. */
function pickAddress(): string {
  addressCounter++;
  const third = 3 + ((process.pid + addressCounter * 7) % 240);
  const fourth = 1 + ((process.pid * 13 + addressCounter) % 250);
  return `127.0.${third}.${fourth}`;
}

export async function keygen(path: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', passphrase = ''): Promise<void> {
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  await run('ssh-keygen', ['-q', '-t', type, ...bits, '-N', passphrase, '-C', 'kcarun-test', '-f', path]);
}

export async function startSshd(options: SshdOptions = {}): Promise<SshdHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'kcarun-sshd-'));
  // Non-root users must reach their authorized_keys file below this folder.
  await chmod(dir, 0o755);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, `ssh_host_${options.hostKeyType ?? 'ed25519'}_key`);
  await keygen(hostKey, options.hostKeyType ?? 'ed25519');
  let identityFile = options.identityFile;
  if (!identityFile) {
    identityFile = join(dir, 'id_ed25519');
    await keygen(identityFile);
  }
  const userPub = (await readFile(`${identityFile}.pub`, 'utf8')).trim();
  const hostPublicKey = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');

  const sudoUsers = options.sudoUsers ? await createSudoUsers() : undefined;
  const authDir = join(dir, 'authorized_keys');
  await mkdir(authDir, { mode: 0o755 });
  await chmod(authDir, 0o755);
  for (const user of ['root', ...(sudoUsers ? [sudoUsers.nopasswd, sudoUsers.password] : [])]) {
    await writeFile(join(authDir, user), `${userPub}\n`, { mode: 0o644 });
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const address = pickAddress();
    const port = await freePort(address);
    const config = [
      // First: sshd takes the first value of a keyword, so callers' lines win over the defaults.
      ...(options.extraConfig ?? []),
      `ListenAddress ${address}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authDir}/%u`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxSessions 10',
      'MaxStartups 200',
      'LogLevel ERROR',
      'Subsystem sftp internal-sftp',
      // bash sources ~/.bashrc for commands run by sshd when SHLVL < 2; this machine's root
      // .bashrc runs `pyenv init` (~1.7 s per command under load). Commands still run through the
      // login shell exactly as on a real host, just without that interactive setup.
      'SetEnv SHLVL=1',
    ];
    const configFile = join(dir, 'sshd_config');
    await writeFile(configFile, `${config.join('\n')}\n`);
    const child = options.namespaceScript
      ? spawn('unshare', ['--mount', '--uts', '--propagation', 'private', '--', 'bash', '-c', `set -e\n${options.namespaceScript}\nexec /usr/sbin/sshd -D -e -f "$0"`, configFile], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForListening(child, address, port, () => stderr);
    } catch (err) {
      lastError = err;
      if (child.pid && child.exitCode === null) child.kill('SIGKILL');
      continue;
    }
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, `[${address}]:${port} ${hostPublicKey}\n`);
    const name = options.name ?? `sshd-${port}`;
    const pid = child.pid!;
    // A worker that exits without stop() (a crashed or timed-out test file) still stops its sshd.
    const onExit = () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already stopped */
      }
    };
    process.once('exit', onExit);
    const hostAs = (user: string, extra: Partial<HostInfo> = {}): HostInfo => ({
      name,
      address,
      port,
      user,
      groups: [],
      vars: {},
      become: false,
      ...extra,
      ssh: { identityFile, knownHostsFile, useAgent: false, ...extra.ssh },
    });
    return {
      host: hostAs('root'),
      address,
      port,
      dir,
      identityFile,
      knownHostsFile,
      hostPublicKey,
      sudoUsers,
      hostAs,
      pid,
      killSessions: (o = {}) => killDescendants(pid, o.commandsSurvive ? 'sshd' : undefined),
      stop: async () => {
        process.removeListener('exit', onExit);
        await killDescendants(pid);
        await stopChild(child);
        if (sudoUsers) await removeSudoUsers(sudoUsers);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  if (sudoUsers) await removeSudoUsers(sudoUsers);
  await rm(dir, { recursive: true, force: true });
  throw new Error(`sshd did not start: ${String(lastError)}`);
}

async function waitForListening(child: ChildProcess, address: string, port: number, stderr: () => string): Promise<void> {
  if (await waitForPort(address, port, 5000, () => child.exitCode !== null)) return;
  throw new Error(child.exitCode !== null ? `sshd exited ${child.exitCode}: ${stderr()}` : `sshd not listening on ${address}:${port}: ${stderr()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Kills all processes below `pid` (or only those named `onlyComm`), by pid. */
async function killDescendants(pid: number, onlyComm?: string): Promise<number> {
  const all: number[] = [];
  const walk = async (p: number) => {
    let text = '';
    try {
      text = await readFile(`/proc/${p}/task/${p}/children`, 'utf8');
    } catch {
      return;
    }
    for (const c of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
      all.push(c);
      await walk(c);
    }
  };
  await walk(pid);
  const targets: number[] = [];
  for (const c of all) {
    const comm = (await readFile(`/proc/${c}/comm`, 'utf8').catch(() => '')).trim();
    if (!onlyComm || comm === onlyComm) targets.push(c);
  }
  for (const c of targets) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return targets.length;
}

async function createSudoUsers(): Promise<{ nopasswd: string; password: string; passwordValue: string }> {
  const tag = randomBytes(3).toString('hex');
  const nopasswd = `kcnp${tag}`;
  const password = `kcpw${tag}`;
  // A password with shell metacharacters: proves it is fed on stdin, never put on a command line.
  const passwordValue = `p'w$(x);"${tag}`;
  for (const user of [nopasswd, password]) {
    await run('useradd', ['-m', '-s', '/bin/sh', user]);
  }
  await new Promise<void>((resolve, reject) => {
    const c = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`chpasswd: ${err}`))));
    // Unlock the NOPASSWD user too: sshd refuses public-key logins of locked (`!`) accounts.
    c.stdin.end(`${password}:${passwordValue}\n${nopasswd}:${randomBytes(12).toString('hex')}\n`);
  });
  await writeFile(sudoersFile(tag), `${nopasswd} ALL=(ALL) NOPASSWD: ALL\n${password} ALL=(ALL) ALL\n`, { mode: 0o440 });
  return { nopasswd, password, passwordValue };
}

function sudoersFile(tag: string): string {
  return `/etc/sudoers.d/kcarun-test-${tag}`;
}

async function removeSudoUsers(users: { nopasswd: string; password: string }): Promise<void> {
  await rm(sudoersFile(users.nopasswd.slice(4)), { force: true });
  for (const user of [users.nopasswd, users.password]) {
    await run('userdel', ['-r', '-f', user]).catch(() => {});
  }
}
