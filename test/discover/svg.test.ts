import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSvg } from '../../src/discover/svg.js';
import type { DiscoverResult } from '../../src/discover/index.js';

const result: DiscoverResult = {
  map: {
    cas: [{ id: 'etcd', role: 'etcd', subject: 'CN=etcd-ca', fingerprintSha256: 'ab', notAfter: '2030-01-01T00:00:00Z', files: [{ host: 'e1', path: '/etc/etcd/pki/ca.crt' }], keys: [] }],
    entries: [
      { host: 'e1', path: '/etc/etcd/pki/server.crt', source: 'pem', subject: 'CN=e1 <server>', notAfter: '2027-01-01', kind: 'leaf', issuer: 'etcd', role: 'component', readers: [{ component: 'etcd', setting: 'client-transport-security.cert-file', where: { kind: 'etcd-config', file: '/etc/etcd/etcd.conf.yml', key: 'client-transport-security.cert-file' } }] },
      { host: 'e1', path: '/etc/etcd/pki/ca.crt', source: 'pem', subject: 'CN=etcd-ca', notAfter: '2030-01-01', kind: 'ca', issuer: 'etcd', role: 'component', readers: [] },
      { host: 'e1', path: '/etc/prometheus/ssl/etcd-client.crt', source: 'pem', subject: 'CN=prometheus', notAfter: '2027-01-01', kind: 'leaf', issuer: 'etcd', role: 'extra-client', readers: [] },
      { host: 'e1', path: '/tmp/stray.crt', source: 'pem', subject: 'CN=stray', notAfter: '2027-01-01', kind: 'leaf', role: 'unclassified', readers: [] },
    ],
    hosts: [],
    warnings: [],
  },
  vars: {},
  failedHosts: [],
  warnings: ['e1:/tmp/stray.crt: cannot classify CN=stray'],
};

describe('the PKI map as a picture', () => {
  it('draws the CA, one row per file with its reader, lines only for files a CA issued (dashed for trust files), escaped text; it parses as SVG', () => {
    const svg = renderSvg(result);
    expect(svg).toContain('CN=e1 &lt;server&gt;');
    expect(svg).not.toContain('<server>');
    expect(svg).toContain('etcd client-transport-security.cert-file @ /etc/etcd/etcd.conf.yml');
    expect(svg).toContain('read by none: extra client');
    expect(svg).toContain('no key on any host');
    expect(svg).toContain('1 warning(s)');
    const paths = svg.match(/<path [^>]*>/g) ?? [];
    expect(paths).toHaveLength(3); // the stray certificate has no CA to join
    expect(paths.filter((p) => p.includes('stroke-dasharray'))).toHaveLength(1);
    expect(svg).not.toMatch(/<script|href=/);
    // rsvg-convert (librsvg) renders it: well-formed SVG.
    const dir = mkdtempSync(join(tmpdir(), 'kcarun-svg-'));
    try {
      writeFileSync(join(dir, 'map.svg'), svg);
      execFileSync('rsvg-convert', [join(dir, 'map.svg'), '-o', join(dir, 'map.png')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
