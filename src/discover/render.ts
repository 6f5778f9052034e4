/** The PKI map as a readable plain-text report (tables per section), and the vars file text. */
import { stringify } from 'yaml';
import { displayPath, formatTable } from '../pki/report.js';
import type { DiscoverResult } from './index.js';

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
          h.components.map((c) => [h.host, c.name, String(c.pid), c.configFile ?? c.flagsIn, c.restart.method === 'static-pod' ? `static-pod ${c.restart.container}` : c.restart.method === 'systemd' ? `systemd ${c.restart.unit}` : 'unknown', c.precedence]),
        ),
      ),
    ),
  );
  out.push('Certificates');
  out.push(
    indent(
      formatTable(
        ['HOST', 'FILE', 'SUBJECT', 'ISSUER', 'ROLE', 'READ BY (setting @ file)'],
        r.map.entries.map((e) => [
          e.host,
          displayPath(e),
          e.kind === 'ca' ? `${e.subject} [CA]` : e.subject,
          e.issuer ?? '?',
          e.role,
          e.readers.map((x) => `${x.component} ${x.setting}${x.where.file ? ` @ ${x.where.file}` : ''}`).join('; ') || '-',
        ]),
      ),
    ),
  );
  if (r.warnings.length) out.push(`Warnings\n${r.warnings.map((w) => `  - ${w}`).join('\n')}\n`);
  return out.join('\n');
}

const indent = (s: string) => s.replace(/^(?=.)/gm, '  ');

export function renderVarsFile(r: DiscoverResult, when: Date): string {
  return `# Written by kcarun discover at ${when.toISOString()}; use with -e @<this file>.\n# Check it before a run: discover reads what runs, it cannot know what you intend.\n${stringify(r.vars)}`;
}
