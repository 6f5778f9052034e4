/**
 * `kcarun discover`, below the command: read every host (read-only), build the PKI map and the
 * layout vars. Hosts come with their transports; the command owns the connections.
 */
import type { Transport } from '../transport/types.js';
import { collectHost, readCaKeys, type HostFacts } from './collect.js';
import { layoutVars, type LayoutVars } from './layout-vars.js';
import { buildPkiMap, keyPathFor, type PkiMap } from './pki-map.js';
import { extractCertificates } from '../tasks/shared/cert-scan.js';

export interface DiscoverHost {
  host: string;
  transport: Transport;
  become?: boolean;
}

export interface DiscoverResult {
  map: PkiMap;
  vars: LayoutVars;
  /** Hosts that could not be read at all (unreachable, host key refused): the vars are then incomplete. */
  failedHosts: { host: string; message: string }[];
  warnings: string[];
}

export async function discover(hosts: readonly DiscoverHost[]): Promise<DiscoverResult> {
  const failedHosts: DiscoverResult['failedHosts'] = [];
  const facts: HostFacts[] = [];
  const results = await Promise.all(
    hosts.map(async (h) => {
      try {
        const f = await collectHost(h.transport, { become: h.become });
        // CA certificates found on the host: read the key beside each to learn who can sign.
        const caPaths = [...f.files].filter(([path, body]) => safeCerts(path, body).some((c) => c.certificate.isCa && c.source.startsWith('pem'))).map(([p]) => p);
        await readCaKeys(h.transport, f, caPaths, (ca) => keyPathFor(f, ca), { become: h.become });
        return { facts: f };
      } catch (err) {
        return { error: { host: h.host, message: (err as Error).message } };
      }
    }),
  );
  for (const r of results) {
    if (r.facts) facts.push(r.facts);
    else if (r.error) failedHosts.push(r.error);
  }
  const map = buildPkiMap(facts);
  const { vars, warnings } = layoutVars(map, facts);
  return { map, vars, failedHosts, warnings: [...map.warnings, ...warnings, ...failedHosts.map((f) => `${f.host}: not read: ${f.message}`)] };
}

function safeCerts(path: string, body: Buffer) {
  try {
    return extractCertificates(path, body);
  } catch {
    return [];
  }
}
