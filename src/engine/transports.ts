import { KcarunError } from '../core/errors.js';
import type { Inventory } from '../formats/inventory/load.js';
import { LOCAL_HOST } from '../formats/inventory/patterns.js';
import type { TaskLogger } from '../core/types.js';
import { LocalTransport } from '../transport/local.js';
import type { Transport } from '../transport/types.js';

export interface TransportProvider {
  get(hostName: string): Promise<Transport>;
  /** Connections opened so far (for reports and benchmarks). */
  readonly opened: number;
  closeAll(): Promise<void>;
}

/**
 * `local` runs on this machine; every inventory host gets one SSH connection, opened on first use
 * and shared by all its tasks. ssh2 is loaded only when a remote host is first needed.
 */
export function createTransportProvider(
  inventory: Inventory,
  options: {
    acceptNewHostKeys: boolean;
    log: TaskLogger;
    /** Environment of local commands; where passphrase, sudo password and SSH_AUTH_SOCK are looked up. */
    env: Readonly<Record<string, string | undefined>>;
  },
): TransportProvider {
  const local = new LocalTransport(LOCAL_HOST, options.env);
  const locals = new Map<string, Transport>();
  // A `connection: local` host is this machine under the host's own name (messages name the host).
  const localFor = (name: string): Transport => {
    let t = locals.get(name);
    if (!t) {
      t = new LocalTransport(name, options.env);
      locals.set(name, t);
    }
    return t;
  };
  let pool: Promise<{ get(host: import('../core/types.js').HostInfo): Promise<Transport>; closeAll(): Promise<void>; opened: number }> | undefined;
  const getPool = () =>
    (pool ??= import('../transport/ssh.js').then(({ createSshPool }) =>
      createSshPool({ acceptNewHostKeys: options.acceptNewHostKeys, resolveHost: (name: string) => inventory.hosts.get(name), log: options.log, env: options.env }),
    ));
  let poolReady: Awaited<ReturnType<typeof getPool>> | undefined;
  return {
    async get(hostName) {
      if (hostName === LOCAL_HOST) return local;
      const host = inventory.hosts.get(hostName);
      if (!host) throw new KcarunError('E_SCHEMA', `unknown host "${hostName}"`);
      if (host.connection === 'local') return localFor(hostName);
      poolReady = await getPool();
      return poolReady.get(host);
    },
    get opened() {
      return poolReady?.opened ?? 0;
    },
    async closeAll() {
      if (pool) await (await pool).closeAll();
    },
  };
}
