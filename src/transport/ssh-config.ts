import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import type { HostInfo } from '../core/types.js';

/**
 * Where and how to connect to one host: the inventory's HostInfo, completed from the operator's
 * ~/.ssh/config where the inventory is silent (as `ssh <address>` would). The inventory wins.
 *
 * "Silent" means: `user` is '' (then config User, else root), `port` is 0 or 22 (then config Port,
 * else 22), `ssh.identityFile` / `ssh.proxyJump` / `ssh.knownHostsFile` unset. The address is looked
 * up as a Host alias, so `address: cp1` with `Host cp1 / HostName 10.0.0.1` connects to 10.0.0.1.
 */
export interface SshTarget {
  /** What the host key is checked against and what TCP connects to. */
  address: string;
  port: number;
  user: string;
  identityFile?: string;
  proxyJump?: string;
  knownHostsFile: string;
}

export type ParsedSshConfig = Pick<SSHConfig, 'compute'>;

export function defaultSshConfigPath(): string {
  return join(homedir(), '.ssh', 'config');
}

/** null when the file does not exist (no config is a normal setup). */
export async function loadSshConfig(path: string | null | undefined): Promise<ParsedSshConfig | null> {
  if (path === null) return null;
  try {
    return SSHConfig.parse(await readFile(path ?? defaultSshConfigPath(), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** OpenSSH's `~` and the common %-tokens in IdentityFile / UserKnownHostsFile. */
export function expandSshPath(path: string, tokens: { host: string; user: string; port: number }): string {
  const home = homedir();
  const expanded = path.startsWith('~/') ? join(home, path.slice(2)) : path;
  return expanded.replace(/%([%dhurp])/g, (_, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return home;
      case 'h':
        return tokens.host;
      case 'r':
        return tokens.user;
      case 'u':
        return userInfo().username;
      case 'p':
        return String(tokens.port);
      default:
        return '';
    }
  });
}

export function resolveSshTarget(host: HostInfo, config: ParsedSshConfig | null): SshTarget {
  // matchExec false: never run `Match exec` commands from a config file just to look a host up.
  const c: Record<string, string | string[]> = config ? config.compute(host.address, { ignoreCase: true, matchExec: false }) : {};
  const get = (k: string) => first(c[k] ?? c[k.toLowerCase()]);
  const hostName = get('HostName');
  const address = hostName ? hostName.replace(/%h/g, host.address) : host.address;
  const configPort = get('Port');
  const port = (host.port === 0 || host.port === 22) && configPort ? Number(configPort) : host.port || 22;
  // As OpenSSH: the inventory, then ~/.ssh/config, then the local user name.
  const user = host.user || get('User') || userInfo().username;
  const tokens = { host: address, user, port };
  const identity = host.ssh.identityFile ?? get('IdentityFile');
  const jump = host.ssh.proxyJump ?? get('ProxyJump');
  const knownHosts = host.ssh.knownHostsFile ?? get('UserKnownHostsFile')?.split(/\s+/)[0];
  return {
    address,
    port,
    user,
    identityFile: identity ? expandSshPath(identity, tokens) : undefined,
    proxyJump: jump && jump.toLowerCase() !== 'none' ? oneHop(jump, host.name) : undefined,
    knownHostsFile: knownHosts ? expandSshPath(knownHosts, tokens) : join(homedir(), '.ssh', 'known_hosts'),
  };
}

/** A ProxyJump of one hop; a hop list (`a,b`, from ~/.ssh/config) is refused, never cut to its first hop. */
function oneHop(jump: string, host: string): string {
  if (jump.includes(',')) throw new Error(`${host}: ProxyJump "${jump}" lists several hops; kcarun follows one: make the first hop an inventory host with its own proxyJump to chain them`);
  return jump;
}

/** `[user@]host[:port]` of a ProxyJump value that is not an inventory host name. */
export function parseJumpSpec(spec: string): { user?: string; address: string; port?: number } {
  let rest = spec.replace(/^ssh:\/\//, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracket) {
    rest = bracket[1]!;
    port = bracket[2] ? Number(bracket[2]) : undefined;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest);
    if (m) {
      rest = m[1]!;
      port = Number(m[2]);
    }
  }
  return { user, address: rest, port };
}
