/**
 * src/tasks/shared/cert-scan.ts `canonicalPaths` on this machine's /bin/sh (LocalTransport): a
 * symlinked PKI folder (kubespray's /etc/kubernetes/pki -> ssl) gives every file two names, and
 * discover must resolve thousands of paths on a large host without one command line outgrowing the
 * shell's ARG_MAX or OpenSSH's command limit (session 22's review).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalPaths } from '../../src/tasks/shared/cert-scan.js';
import { LocalTransport } from '../../src/transport/local.js';

const root = mkdtempSync(join(tmpdir(), 'kcarun-canonical-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('canonicalPaths', () => {
  it('resolves 3,300 paths through a symlinked folder, long ones among them, in commands of bounded length, every path answered in order', async () => {
    const ssl = join(root, 'ssl');
    mkdirSync(ssl);
    symlinkSync('ssl', join(root, 'pki'));
    // Long names (200 characters each): 3,000 of them on one command line would be ~1.2 MB.
    const names = Array.from({ length: 1500 }, (_, i) => `${String(i).padStart(4, '0')}-${'x'.repeat(190)}.crt`);
    for (const n of names) writeFileSync(join(ssl, n), n);
    const paths = names.flatMap((n) => [join(root, 'pki', n), join(ssl, n)]);
    // paths of 700 characters: 200 of them would pass 128 KiB in one command
    const deep = join(root, 'd'.repeat(250), 'e'.repeat(250));
    mkdirSync(deep, { recursive: true });
    const longNames = Array.from({ length: 300 }, (_, i) => join(deep, `${String(i).padStart(3, '0')}-${'y'.repeat(180)}.crt`));
    for (const f of longNames) writeFileSync(f, f);
    paths.push(...longNames, join(root, 'missing.crt'), join(root, 'no-such-dir', 'sub', 'x.crt'), join(root, "it's here.crt"));
    const transport = new LocalTransport();
    const commands: number[] = [];
    const exec = transport.exec.bind(transport);
    transport.exec = (command, options) => {
      commands.push(command.length);
      return exec(command, options);
    };
    const out = await canonicalPaths(transport, paths);
    expect(out.size).toBe(paths.length);
    for (const n of names) {
      expect(out.get(join(root, 'pki', n))).toBe(join(ssl, n));
      expect(out.get(join(ssl, n))).toBe(join(ssl, n));
    }
    for (const f of longNames) expect(out.get(f)).toBe(f);
    // readlink -f resolves a missing last component; a missing folder does not resolve (the path
    // maps to itself); a quote in a name stays one path
    expect(out.get(join(root, "it's here.crt"))).toBe(join(root, "it's here.crt"));
    expect(out.get(join(root, 'no-such-dir', 'sub', 'x.crt'))).toBe(join(root, 'no-such-dir', 'sub', 'x.crt'));
    expect(commands.length).toBeGreaterThan(1);
    expect(Math.max(...commands)).toBeLessThan(128 * 1024);
  });

  it('no paths: no command', async () => {
    const transport = new LocalTransport();
    let ran = 0;
    transport.exec = () => {
      ran += 1;
      throw new Error('not expected');
    };
    expect((await canonicalPaths(transport, [])).size).toBe(0);
    expect(ran).toBe(0);
  });
});
