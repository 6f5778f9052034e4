/**
 * Entry point of the lab's own programs, bundled once at `up` into the lab's bin folder
 * (lab/stand-ins-bundle.ts). Each name on a node's PATH is a two-line wrapper that calls this bundle
 * with its own name first: the etcd-only nodes' service manager (`systemctl`) and the Prometheus
 * stand-in, a client of etcd with its own certificates. The etcd-only lab's traffic generator runs
 * from the same bundle on the host.
 */
import { prometheusMain } from './prometheus.js';
import { systemctlMain } from './systemctl.js';
import { trafficMain } from './traffic.js';
import { signalReady } from './procs.js';

const [name, ...args] = process.argv.slice(2);

/** The long-running programs; each main resolves once it has read its files and is serving. */
const SERVICES: Record<string, (argv: string[]) => Promise<void>> = {
  prometheus: prometheusMain,
  traffic: trafficMain,
};

/** The commands; each main returns its exit code. */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  systemctl: systemctlMain,
};

async function main(): Promise<void> {
  const own = <T>(table: Record<string, T>): T | undefined => (name !== undefined && Object.hasOwn(table, name) ? table[name] : undefined);
  const command = own(COMMANDS);
  if (command) process.exit(await command(args));
  const service = own(SERVICES);
  if (!service) {
    console.error(`kcarun lab: unknown program ${name ?? '(none)'}`);
    process.exit(2);
  }
  await service(args);
  signalReady();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
