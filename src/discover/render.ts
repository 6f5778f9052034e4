/** The PKI map as a readable plain-text report (tables per section), and the vars file text. */
import { stringify } from 'yaml';
import { displayPath, formatTable } from '../pki/report.js';
import type { DiscoverResult } from './index.js';
import type { MapEntry } from './pki-map.js';

export function renderPlain(r: DiscoverResult): string {
  const out: string[] = [];
  out.push('CAs');
  out.push(
    indent(
      formatTable(
        ['CA', 'SUBJECT', 'NOT AFTER', 'KEY (can sign)', 'FILES'],
        r.map.cas.map((c) => [c.id, c.subject, c.notAfter.slice(0, 10), c.keys.map((k) => `${k.host}:${k.path}`).join(', ') || '-', c.files.map((f) => `${f.host}:${f.path}`).join(', ')]),
      ),
    ),
  );
  out.push('Components');
  out.push(
    indent(
      formatTable(
        ['HOST', 'COMPONENT', 'PID', 'FLAGS IN', 'RESTART', 'PRECEDENCE'],
        r.map.hosts.flatMap((h) =>
          h.components.map((c) => [h.host, c.name, String(c.pid), c.configFile ?? c.flagsIn, restartText(c.restart), c.precedence]),
        ),
      ),
    ),
  );
  out.push('Certificates');
  out.push(
    indent(
      formatTable(
        ['HOST', 'FILE', 'SUBJECT', 'ISSUER', 'ROLE', 'READ BY (setting @ file)'],
        [...r.map.entries].sort((a, b) => a.host.localeCompare(b.host) || ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) || a.path.localeCompare(b.path)).map((e) => [
          e.host,
          displayPath(e),
          e.kind === 'ca' ? `${e.subject} [CA]` : e.subject,
          e.issuer ?? '?',
          e.role,
          readersText(e.readers),
        ]),
      ),
    ),
  );
  if (r.warnings.length) out.push(`Warnings\n${r.warnings.map((w) => `  - ${w}`).join('\n')}\n`);
  return out.join('\n');
}

/** `static-pod etcd`, `systemd kubelet`, `command /etc/init.d/etcd restart`, `unknown`. */
export function restartText(r: DiscoverResult['map']['hosts'][number]['components'][number]['restart']): string {
  return r.method === 'static-pod' ? `static-pod ${r.container}` : r.method === 'systemd' ? `systemd ${r.unit}` : r.method === 'command' ? `command ${r.command}` : 'unknown';
}

const ROLE_ORDER = ['component', 'layout', 'extra-client', 'unclassified'];

/** `etcd --cert-file --peer-cert-file @ /etc/systemd/system/etcd.service; kube-apiserver ...`: one group per component and file. */
function readersText(readers: MapEntry['readers']): string {
  const groups = new Map<string, string[]>();
  for (const x of readers) {
    const k = `${x.component}\0${x.where.file ?? '(command line only)'}`;
    groups.set(k, [...(groups.get(k) ?? []), x.setting]);
  }
  return [...groups].map(([k, settings]) => `${k.split('\0')[0]} ${settings.join(' ')} @ ${k.split('\0')[1]}`).join('; ') || '-';
}

const indent = (s: string) => s.replace(/^(?=.)/gm, '  ');

export function renderVarsFile(r: DiscoverResult, when: Date): string {
  return `# Written by kcarun discover at ${when.toISOString()}; use with -e @<this file>.\n# Check it before a run: discover reads what runs, it cannot know what you intend.\n${stringify(r.vars)}`;
}
