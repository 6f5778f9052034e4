/**
 * The PKI map as a picture (SVG, no scripts, no external references): the CAs on the left, every
 * certificate and trust file found (one row each, grouped by host, coloured by role) in the middle,
 * and the components that read each one, with the setting and the file it lives in, on the right.
 * A solid line joins a CA to a certificate it issued, a dashed one to a file that holds the CA (a
 * trust file). Pure: the discover result in, SVG text out.
 */
import type { DiscoverResult } from './index.js';
import type { MapEntry } from './pki-map.js';

const ROW = 24;
const CHAR = 7.2; // width of one character of 12px monospace
const ROLE_FILL: Record<MapEntry['role'], string> = { 'component': '#dbeafe', 'layout': '#e5e7eb', 'extra-client': '#fde68a', 'unclassified': '#fecaca' };
const CA_FILL = ['#bbf7d0', '#c7d2fe', '#fbcfe8', '#fed7aa'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function text(x: number, y: number, s: string, extra = ''): string {
  return `<text x="${x}" y="${y}" ${extra}>${esc(s)}</text>`;
}

/** Renders the discover result as a standalone SVG document. */
export function renderSvg(r: DiscoverResult): string {
  const entries = [...r.map.entries].sort((a, b) => a.host.localeCompare(b.host) || (a.kind === b.kind ? 0 : a.kind === 'ca' ? -1 : 1) || a.path.localeCompare(b.path));
  const label = (e: MapEntry) => `${e.path}${e.source !== 'pem' ? ` (${e.source})` : ''}  ${e.kind === 'ca' ? `[trusts ${e.subject}]` : e.subject}`;
  const readersText = (e: MapEntry) => {
    const groups = new Map<string, string[]>();
    for (const x of e.readers) groups.set(`${x.component} @ ${x.where.file ?? 'command line'}`, [...(groups.get(`${x.component} @ ${x.where.file ?? 'command line'}`) ?? []), x.setting]);
    return [...groups].map(([k, s]) => `${k.split(' @ ')[0]} ${s.join(' ')} @ ${k.split(' @ ')[1]}`).join('; ') || (e.role === 'extra-client' ? 'read by none: extra client' : e.role === 'layout' ? 'read by none (layout file)' : '-');
  };
  const caLine3 = (c: DiscoverResult['map']['cas'][number]) => `until ${c.notAfter.slice(0, 10)}${c.keys.length ? `, key on ${c.keys.length} host(s)` : ', no key on any host'}`;
  const caW = Math.max(180, ...r.map.cas.map((c) => (Math.max(c.id.length, c.subject.length, caLine3(c).length) + 2) * CHAR));
  const hostW = Math.max(40, ...entries.map((e) => (e.host.length + 1) * CHAR));
  const fileW = Math.max(200, ...entries.map((e) => (label(e).length + 2) * CHAR));
  const readW = Math.max(200, ...entries.map((e) => (readersText(e).length + 2) * CHAR));
  const top = 70;
  const caX = 20;
  const hostX = caX + caW + 110;
  const fileX = hostX + hostW;
  const readX = fileX + fileW + 30;
  const width = Math.ceil(readX + readW + 20);
  const caBoxH = 54;
  const rowsH = entries.length * ROW;
  const casH = r.map.cas.length * (caBoxH + 16);
  const height = Math.ceil(top + Math.max(rowsH, casH) + 70);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(text(caX, 24, 'kcarun discover: PKI map', 'font-size="16" font-weight="bold"'));
  out.push(text(caX, 46, 'CAs', 'font-weight="bold"'), text(hostX, 46, 'host  file (subject)', 'font-weight="bold"'), text(readX, 46, 'read by: component setting @ where it is set', 'font-weight="bold"'));

  const caY = new Map<string, number>();
  r.map.cas.forEach((c, i) => {
    const y = top + i * (caBoxH + 16);
    caY.set(c.id, y + caBoxH / 2);
    const fill = CA_FILL[i % CA_FILL.length]!;
    out.push(`<rect x="${caX}" y="${y}" width="${caW}" height="${caBoxH}" rx="6" fill="${fill}" stroke="#334155"/>`);
    out.push(text(caX + 8, y + 17, c.id, 'font-weight="bold"'), text(caX + 8, y + 32, c.subject), text(caX + 8, y + 47, caLine3(c), 'fill="#475569"'));
  });

  let lastHost = '';
  const hostLabels: string[] = [];
  entries.forEach((e, i) => {
    const y = top + i * ROW;
    if (e.host !== lastHost) {
      if (i > 0) out.push(`<line x1="${hostX}" y1="${y - 2}" x2="${width - 20}" y2="${y - 2}" stroke="#94a3b8"/>`);
      hostLabels.push(`<rect x="${hostX - 4}" y="${y + 3}" width="${hostW}" height="${ROW - 6}" fill="#ffffff"/>`, text(hostX, y + 16, e.host, 'font-weight="bold"'));
      lastHost = e.host;
    }
    out.push(`<rect x="${fileX}" y="${y + 2}" width="${fileW}" height="${ROW - 4}" rx="3" fill="${ROLE_FILL[e.role]}" stroke="#64748b" stroke-width="0.5"/>`);
    out.push(text(fileX + 6, y + 16, label(e)));
    out.push(text(readX, y + 16, readersText(e), e.readers.length ? '' : 'fill="#64748b"'));
    const from = e.issuer ? caY.get(e.issuer) : undefined;
    if (from !== undefined) {
      const x1 = caX + caW;
      const y2 = y + ROW / 2;
      out.push(`<path d="M${x1},${from} C${x1 + 60},${from} ${hostX - 60},${y2} ${fileX},${y2}" fill="none" stroke="#475569" stroke-width="0.8"${e.kind === 'ca' ? ' stroke-dasharray="4 3"' : ''}/>`);
    }
  });

  out.push(...hostLabels);
  const ly = height - 24;
  let lx = caX;
  for (const [role, fill] of Object.entries(ROLE_FILL)) {
    out.push(`<rect x="${lx}" y="${ly - 11}" width="14" height="14" fill="${fill}" stroke="#64748b" stroke-width="0.5"/>`, text(lx + 20, ly, role));
    lx += 20 + (role.length + 3) * CHAR;
  }
  out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="#475569"/>`, text(lx + 36, ly, 'issued by'));
  lx += 36 + 12 * CHAR;
  out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="#475569" stroke-dasharray="4 3"/>`, text(lx + 36, ly, 'holds the CA (trust file)'));
  if (r.warnings.length) out.push(text(lx + 36 + 28 * CHAR, ly, `${r.warnings.length} warning(s): see the text output`, 'fill="#b91c1c"'));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
