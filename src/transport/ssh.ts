import { KcarunError } from '../core/errors.js';
import type { HostInfo, TaskLogger } from '../core/types.js';
import { connectWithRetries } from './ssh-connect.js';
import { loadSshConfig, parseJumpSpec, resolveSshTarget, type ParsedSshConfig } from './ssh-config.js';
import { SshTransport } from './ssh-transport.js';
import type { Transport } from './types.js';

export { SshTransport, MAX_EXEC_CHANNELS } from './ssh-transport.js';

export interface SshPoolOptions {
  /** Add unknown host keys to known_hosts (StrictHostKeyChecking=accept-new). Changed keys are always refused. */
  acceptNewHostKeys?: boolean;
  /** OpenSSH client config consulted where the inventory is silent; default ~/.ssh/config, null: none. */
  sshConfigPath?: string | null;
  /** Inventory hosts by name, for ProxyJump values that name one. */
  resolveHost: (name: string) => HostInfo | undefined;
  log?: TaskLogger;
  /** Extra attempts after a transient connect failure (default 2), first backoff (default 500 ms). */
  connectRetries?: number;
  backoffMs?: number;
  /** Where passphrase / sudo password variables and SSH_AUTH_SOCK are looked up (default: none). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface SshPool {
  /** The host's transport: one connection per host name, shared by all callers (concurrent calls share one connect). */
  get(host: HostInfo): Promise<Transport>;
  closeAll(): Promise<void>;
  /** SSH connections opened so far (jump hosts and reconnects included). */
  readonly opened: number;
}

/**
 * The SSH connections of one run. Rejects with E_UNREACHABLE (network, after retries), E_HOST_KEY
 * (unknown or changed host key) or E_AUTH (login or sudo refused).
 */
export function createSshPool(options: SshPoolOptions): SshPool {
  const transports = new Map<string, Promise<SshTransport>>();
  const order: Promise<SshTransport>[] = [];
  let opened = 0;
  let config: Promise<ParsedSshConfig | null> | undefined;
  const sshConfig = () => (config ??= loadSshConfig(options.sshConfigPath));

  /** A jump host named in ProxyJump: an inventory host, or `[user@]host[:port]` with the target's key settings. */
  const jumpHostFor = (spec: string, target: HostInfo): HostInfo => {
    const known = options.resolveHost(spec);
    if (known) return known;
    const parsed = parseJumpSpec(spec);
    return {
      name: `jump:${spec}`,
      address: parsed.address,
      port: parsed.port ?? 0,
      user: parsed.user ?? '',
      groups: [],
      vars: {},
      become: false,
      ssh: {
        identityFile: target.ssh.identityFile,
        identityPassphraseEnv: target.ssh.identityPassphraseEnv,
        knownHostsFile: target.ssh.knownHostsFile,
        useAgent: target.ssh.useAgent,
        connectTimeoutSeconds: target.ssh.connectTimeoutSeconds,
      },
    };
  };

  const open = async (host: HostInfo, chain: string[]): Promise<SshTransport> => {
    const target = resolveSshTarget(host, await sshConfig());
    let jump: (() => Promise<SshTransport>) | undefined;
    if (target.proxyJump) {
      const jumpHost = jumpHostFor(target.proxyJump, host);
      if (chain.includes(jumpHost.name)) {
        throw new KcarunError('E_SCHEMA', `${host.name}: proxyJump loop: ${[...chain, jumpHost.name].join(' -> ')}`, { host: host.name });
      }
      jump = () => getTransport(jumpHost, [...chain, host.name]);
    }
    const dial = async () => {
      const client = await connectWithRetries({
        hostName: host.name,
        target,
        identityPassphraseEnv: host.ssh.identityPassphraseEnv,
        useAgent: host.ssh.useAgent,
        connectTimeoutSeconds: host.ssh.connectTimeoutSeconds,
        acceptNewHostKeys: options.acceptNewHostKeys ?? false,
        sock: jump ? async () => (await jump()).forwardOut(target.address, target.port) : undefined,
        retries: options.connectRetries,
        backoffMs: options.backoffMs,
        log: options.log,
        env: options.env,
      });
      opened++;
      options.log?.debug(`${host.name}: connected to ${target.user}@${target.address}:${target.port}${target.proxyJump ? ` via ${target.proxyJump}` : ''}`);
      return client;
    };
    const transport = new SshTransport(host, target, dial, options.log, options.env ?? {});
    await transport.connect();
    return transport;
  };

  const getTransport = (host: HostInfo, chain: string[]): Promise<SshTransport> => {
    let entry = transports.get(host.name);
    if (!entry) {
      entry = open(host, chain);
      transports.set(host.name, entry);
      order.push(entry);
      // A failed connect is not cached: the next get() (e.g. a retry of the run) tries again.
      entry.catch(() => {
        if (transports.get(host.name) === entry) transports.delete(host.name);
      });
    }
    return entry;
  };

  return {
    get: (host) => getTransport(host, []),
    async closeAll() {
      // Newest first: hosts reached through a jump host close before the jump host.
      const all = [...order].reverse();
      order.length = 0;
      transports.clear();
      for (const entry of all) {
        const t = await entry.catch(() => undefined);
        await t?.close();
      }
    },
    get opened() {
      return opened;
    },
  };
}
