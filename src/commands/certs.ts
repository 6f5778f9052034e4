import { resolve } from 'node:path';
import { KcarunError } from '../core/errors.js';
import type { Transport } from '../transport/types.js';
import { Command, inventoryOption, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';

/** `kcarun certs inspect|expiry ...`: each subcommand with its own option table. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'inspect') return inspect(rest, io);
  if (sub === 'expiry') return expiry(rest, io);
  throw new KcarunError('E_USAGE', `unknown certs command "${sub ?? ''}" (inspect, expiry)`);
}

async function inspect(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('certs inspect')
    .description('show the certificates in a file or under a directory (no key is ever printed)')
    .argument('<target>', 'a certificate file or a directory')
    .addOption(outputOption());
  const parsed = parseCommand<{ output: 'auto' | 'plain' | 'json' }>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  const { certsInspect } = await import('./certs-inspect.js');
  return certsInspect({ target: parsed.args[0]!, output: parsed.options.output === 'json' ? 'json' : 'table' }, io);
}

async function expiry(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('certs expiry')
    .description("report every host's certificates by expiry; exit 1 when one is under the threshold or a host is unreadable")
    .addOption(inventoryOption('the inventory (hosts to read)', { required: true }))
    .option('--warn-days <days>', 'exit 1 when a certificate expires within this many days')
    .option('--prometheus <file>', 'also write the expiry times as Prometheus metrics (textfile collector)')
    .option('--path <path>', 'a file or directory to scan (repeatable; default: the kubeadm and etcd PKI dirs)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--accept-new-host-keys', 'add unknown SSH host keys to known_hosts (changed keys are always refused)')
    .addOption(outputOption());
  type Flags = { inventory: string; warnDays?: string; prometheus?: string; path?: string[]; acceptNewHostKeys?: boolean; output: 'auto' | 'plain' | 'json' };
  const parsed = parseCommand<Flags>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  const v = parsed.options;
  const warnDays = v.warnDays === undefined ? undefined : Number(v.warnDays);
  if (warnDays !== undefined && !(warnDays >= 0)) throw new KcarunError('E_USAGE', `--warn-days must be a number of days, not "${v.warnDays}"`);
  const [{ loadInventory }, { createTransportProvider }, { certsExpiry }] = await Promise.all([
    import('../formats/inventory/load.js'),
    import('../engine/transports.js'),
    import('./certs-expiry.js'),
  ]);
  const inventory = await loadInventory(resolve(io.cwd, v.inventory));
  const transports = createTransportProvider(inventory, {
    acceptNewHostKeys: v.acceptNewHostKeys ?? false,
    env: io.env,
    log: { info: () => {}, warn: (m) => io.stderr(`${m}\n`), debug: () => {} },
  });
  try {
    const hosts = [...inventory.hosts.values()].map((h) => ({ host: h.name, transport: lazyTransport(() => transports.get(h.name), h.name) }));
    return await certsExpiry({ hosts, paths: v.path, warnDays, output: v.output === 'json' ? 'json' : 'table', prometheusFile: v.prometheus }, io);
  } finally {
    await transports.closeAll();
  }
}

/** A transport that connects on first use, so one unreachable host is reported, not fatal for all. */
function lazyTransport(open: () => Promise<Transport>, host: string): Transport {
  let t: Promise<Transport> | undefined;
  const get = () => (t ??= open());
  return {
    host,
    exec: async (c, o) => (await get()).exec(c, o),
    readFile: async (p, o) => (await get()).readFile(p, o),
    writeFile: async (p, d, o) => (await get()).writeFile(p, d, o),
    stat: async (p, o) => (await get()).stat(p, o),
    // Not known before connecting; the shell path works either way.
    directFileAccess: () => false,
    close: async () => {
      if (t) await (await t).close();
    },
  };
}
