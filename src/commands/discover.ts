import { resolve } from 'node:path';
import { KcarunError } from '../core/errors.js';
import { Command, inventoryOption, outputOption, parseCommand } from './args.js';
import type { CommandIO } from './io.js';

/** `kcarun discover ...` with its own option table (src/cli.ts lists it in COMMANDS). */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const command = new Command('discover')
    .description('read what runs on every host (read-only) and print its PKI map; --write-vars writes the vars the stock playbooks read')
    .addOption(inventoryOption('the inventory (hosts to read)', { required: true }))
    .option('--write-vars <file>', 'write the discovered vars here (YAML, 0600), for -e @file')
    .option('--svg <file>', 'also draw the PKI map as a picture (SVG) into this file')
    .option('--accept-new-host-keys', 'add unknown SSH host keys to known_hosts (changed keys are always refused)')
    .addOption(outputOption());
  type Flags = { inventory: string; writeVars?: string; svg?: string; acceptNewHostKeys?: boolean; output: 'auto' | 'plain' | 'json' };
  const parsed = parseCommand<Flags>(command, argv, io);
  if ('exit' in parsed) return parsed.exit;
  const v = parsed.options;
  return discoverCommand({ inventory: v.inventory, output: v.output, writeVars: v.writeVars, svg: v.svg, acceptNewHostKeys: v.acceptNewHostKeys }, io);
}

export interface DiscoverOptions {
  inventory: string;
  output: 'plain' | 'json' | 'auto';
  /** Writes the vars the stock playbooks read here (YAML, 0600, atomically). */
  writeVars?: string;
  /** Writes the PKI map as an SVG picture here (src/discover/svg.ts). */
  svg?: string;
  acceptNewHostKeys?: boolean;
  now?: Date;
}

/**
 * `kcarun discover -i INVENTORY [--output plain|json] [--write-vars FILE] [--svg FILE]`: reads every host of the
 * inventory over SSH (host keys verified as in a run) and prints its PKI map. Read-only on the hosts.
 * Exit 0: every host read, everything classified; 1: warnings (something unclassified, a host not
 * read); the vars file is still written when at least one host was read and a layout was found,
 * never when a host could not be read (the vars would be missing what it holds).
 */
export async function discoverCommand(options: DiscoverOptions, io: CommandIO): Promise<number> {
  const [{ loadInventory }, { createTransportProvider }, { discover }, { renderPlain, renderVarsFile }] = await Promise.all([
    import('../formats/inventory/load.js'),
    import('../engine/transports.js'),
    import('../discover/index.js'),
    import('../discover/render.js'),
  ]);
  const inventory = await loadInventory(resolve(io.cwd, options.inventory));
  const transports = createTransportProvider(inventory, { acceptNewHostKeys: options.acceptNewHostKeys ?? false, env: io.env, log: { info: () => {}, warn: (m) => io.stderr(`${m}\n`), debug: () => {} } });
  try {
    const hosts = [...inventory.hosts.values()].map((h) => ({ host: h.name, become: h.become, transport: lazy(h.name, () => transports.get(h.name)) }));
    const result = await discover(hosts);
    if (options.output === 'json') io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else io.stdout(renderPlain(result));
    if (options.svg) {
      const [{ renderSvg }, { writeFileAtomic }] = await Promise.all([import('../discover/svg.js'), import('../transport/local.js')]);
      await writeFileAtomic(resolve(io.cwd, options.svg), renderSvg(result), 0o644);
      io.stderr(`wrote ${options.svg}\n`);
    }
    if (options.writeVars) {
      if (result.failedHosts.length > 0) throw new KcarunError('E_UNREACHABLE', `not writing ${options.writeVars}: ${result.failedHosts.map((f) => f.host).join(', ')} could not be read`);
      if (!result.vars['layout']) throw new KcarunError('E_TASK', `not writing ${options.writeVars}: no host runs kube-apiserver or etcd`);
      const { writeFileAtomic } = await import('../transport/local.js');
      await writeFileAtomic(resolve(io.cwd, options.writeVars), renderVarsFile(result, options.now ?? new Date()), 0o600);
      io.stderr(`wrote ${options.writeVars}\n`);
    }
    return result.warnings.length > 0 || result.failedHosts.length > 0 ? 1 : 0;
  } finally {
    await transports.closeAll();
  }
}

/** Connects on first use, so one unreachable host is reported by discover, not fatal for all. */
function lazy(host: string, open: () => Promise<import('../transport/types.js').Transport>): import('../transport/types.js').Transport {
  let t: Promise<import('../transport/types.js').Transport> | undefined;
  const get = () => (t ??= open());
  return {
    host,
    exec: async (c, o) => (await get()).exec(c, o),
    readFile: async (p, o) => (await get()).readFile(p, o),
    writeFile: async () => {
      throw new KcarunError('E_TASK', 'discover is read-only');
    },
    stat: async (p, o) => (await get()).stat(p, o),
    directFileAccess: () => false,
    close: async () => {
      if (t) await (await t).close();
    },
  };
}
