import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/task-context.js';

/* Issue 13, item 7: DER and PKCS#7 certificates are read; an unparsable one is an error row, exit 1. */
let dir: string;
let cleanup: () => Promise<void>;
let pem: string;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('kcarun-certfmt-'));
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.tmp', '-out', 'a.crt', '-days', '10', '-subj', '/CN=der-cert']);
  o(['x509', '-in', 'a.crt', '-outform', 'DER', '-out', 'a.der']);
  o(['crl2pkcs7', '-nocrl', '-certfile', 'a.crt', '-outform', 'DER', '-out', 'a.p7b']);
  o(['crl2pkcs7', '-nocrl', '-certfile', 'a.crt', '-out', 'bundle-p7.pem']);
  execFileSync('rm', ['-f', join(dir, 'k.tmp'), join(dir, 'a.crt')]);
  pem = execFileSync('openssl', ['x509', '-in', join(dir, 'a.der'), '-inform', 'DER'], { encoding: 'utf8' });
});
afterEach(async () => cleanup());

const inspect = (target: string) => runCli(['certs', 'inspect', target, '--output', 'json'], { cwd: dir });

describe('certs inspect reads DER and PKCS#7 and never drops a file (issue 13.7)', () => {
  for (const file of ['a.der', 'a.p7b', 'bundle-p7.pem']) {
    it(`${file}: the certificate is listed`, async () => {
      const res = await inspect(join(dir, file));
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout) as { certificates: { subject: string }[]; errors: unknown[] };
      expect(out.certificates.map((c) => c.subject)).toEqual(['CN=der-cert']);
      expect(out.errors).toEqual([]);
    });
  }

  it('a truncated PEM and a damaged DER are error rows with exit 1, in a directory scan too', async () => {
    await writeFile(join(dir, 'cut.crt'), pem.slice(0, 300));
    const der = await readFile(join(dir, 'a.der'));
    await writeFile(join(dir, 'broken.der'), der.subarray(0, der.length - 20));
    const res = await inspect(dir);
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as { certificates: { path: string }[]; errors: { path: string; message: string }[] };
    expect(out.errors.map((e) => e.path).sort()).toEqual([join(dir, 'broken.der'), join(dir, 'cut.crt')]);
    expect(out.errors.find((e) => e.path.endsWith('cut.crt'))?.message).toMatch(/cut short or damaged/);
    expect(out.certificates.map((c) => c.path).sort()).toEqual([join(dir, 'a.der'), join(dir, 'a.p7b'), join(dir, 'bundle-p7.pem')]);
    const table = await runCli(['certs', 'inspect', join(dir, 'cut.crt')], { cwd: dir });
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(`error: ${join(dir, 'cut.crt')}: `);
    expect(table.stdout).not.toContain('no certificates found');
  });
});
