import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED_KEY, mayHoldBase64Run, maskBase64Runs, maskUrlSafeRuns, redactSecrets } from '../../src/core/redact.js';
import { renderValue } from '../../src/formats/template.js';
import { localExecTask } from '../../src/tasks/local-exec/index.js';

/*
 * Issue 13, item 2: one redactor masks private keys whole, cut short, and as any window of their
 * base64 body with neither BEGIN nor END in view. Keys of every kind kcarun meets are made by
 * openssl and cut at every offset; no run of 40 characters of a key's body may survive, in plain
 * text, in a diff, in JSON text and after a prefix on the same line.
 */
const dir = mkdtempSync(join(tmpdir(), 'kcarun-redact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', cwd: dir });
const KINDS: Record<string, string[]> = {
  'RSA 2048 PKCS#1': ['genrsa', '-traditional', '2048'],
  'RSA 2048 PKCS#8': ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'RSA 4096 PKCS#1': ['genrsa', '-traditional', '4096'],
  'RSA 4096 PKCS#8': ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'],
  'EC P-256 SEC1': ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'],
  'EC P-384 SEC1': ['ecparam', '-name', 'secp384r1', '-genkey', '-noout'],
  'EC P-256 PKCS#8': ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'Ed25519 PKCS#8': ['genpkey', '-algorithm', 'ed25519'],
};
const keys = new Map<string, string>();
let certificate = '';

beforeAll(() => {
  for (const [kind, args] of Object.entries(KINDS)) keys.set(kind, openssl(args));
  certificate = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'c.key'), '-subj', '/CN=c', '-days', '1']);
}, 120_000);

const body = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');

/** Every 40-character window of the key's body, to look for in what the redactor let through. */
function windows(b: string): Set<string> {
  const set = new Set<string>();
  for (let i = 0; i + 40 <= b.length; i++) set.add(b.slice(i, i + 40));
  return set;
}

/** The longest stretch of key body still readable in `out` (line breaks, diff markers, JSON escapes removed). */
function leaks(out: string, secret: Set<string>): string | undefined {
  const flat = out.replace(/\\n/g, '\n').replace(/\n[-+ ]?/g, '');
  for (let i = 0; i + 40 <= flat.length; i++) if (secret.has(flat.slice(i, i + 40))) return flat.slice(i, i + 40);
  return undefined;
}

const CONTEXTS: Record<string, (s: string) => string> = {
  plain: (s) => s,
  'diff of cert + key, hunk without BEGIN': (s) => s.split('\n').map((l) => `+${l}`).join('\n'),
  'JSON event': (s) => JSON.stringify({ event: 'task-end', error: { message: `stderr: ${s}` } }),
  'stderr tail after a prefix': (s) => `error: exit 1: ${s}`,
};

describe('the redactor masks private keys cut at every offset (issue 13.2)', () => {
  for (const kind of Object.keys(KINDS)) {
    it(`${kind}: no 40-character run of the body survives any cut, in any context`, () => {
      const pem = keys.get(kind)!;
      const secret = windows(body(pem));
      const text = `${certificate}${pem}`;
      const from = certificate.length;
      const check = (cut: string, where: string) => {
        for (const [name, wrap] of Object.entries(CONTEXTS)) {
          const leaked = leaks(redactSecrets(wrap(cut)), secret);
          expect(leaked, `${kind}, ${where}, ${name}`).toBeUndefined();
        }
      };
      for (let k = from; k <= text.length; k++) {
        check(text.slice(k), `from offset ${k - from}`);
        check(text.slice(0, k), `up to offset ${k - from}`);
      }
      // Windows with neither BEGIN nor END in view.
      for (const len of [45, 70, 100, 200]) for (let k = from; k + len <= text.length; k += 3) check(text.slice(k, k + len), `window ${k - from}+${len}`);
    }, 120_000);
  }

  it('masks a whole block as one mark, and keeps certificates, checksums, paths and prose', () => {
    const pem = keys.get('EC P-256 SEC1')!;
    const sha = 'a'.repeat(10) + '0123456789abcdef'.repeat(4);
    const prose = `${certificate}${pem}sha256 ${sha} /etc/kubernetes/pki/apiserver-kubelet-client.crt restarted kube-apiserver`;
    const out = redactSecrets(prose);
    expect(out).toBe(`${certificate}${REDACTED_KEY}\nsha256 ${sha} /etc/kubernetes/pki/apiserver-kubelet-client.crt restarted kube-apiserver`);
  });

  it('masks the private fields of `openssl pkey -text` dumps (RSA primes and exponent, EC/Ed25519 priv), plain and JSON; keeps the public ones', () => {
    for (const [kind, pem] of keys) {
      const dump = execFileSync('openssl', ['pkey', '-text', '-noout'], { input: pem, encoding: 'utf8' });
      // The private numbers as openssl prints them: hex pairs, each field's lines joined.
      const fields = [...dump.matchAll(/^(privateExponent|prime1|prime2|exponent1|exponent2|coefficient|priv):\n((?:[ \t]+[0-9a-f:]+\n)+)/gm)].map((m) => m[2]!.replace(/[\s:]/g, ''));
      expect(fields.length, kind).toBeGreaterThan(0);
      for (const out of [redactSecrets(dump), redactSecrets(JSON.stringify({ stdout: dump }))]) {
        const flat = out.replace(/\\n/g, '\n').replace(/[\s:]/g, '');
        for (const f of fields) expect(flat.includes(f.slice(0, 32)), `${kind}: a private field survived`).toBe(false);
      }
      if (kind.startsWith('RSA')) expect(redactSecrets(dump)).toMatch(/^modulus:\n\s+00:/m);
    }
  });

  it('masks base64 of a PEM key (a kubeconfig client-key-data line)', () => {
    const line = `client-key-data: ${Buffer.from(keys.get('RSA 2048 PKCS#8')!).toString('base64')}`;
    expect(redactSecrets(line)).toBe('client-key-data: [REDACTED]');
  });

  it('masks base64url of a key (RFC 4648 section 5, as a JWK carries it: `-` and `_` in the body), plain and JSON', () => {
    let urlOnly = 0;
    for (const [kind, pem] of keys) {
      const der = execFileSync('openssl', ['pkey', '-outform', 'DER'], { input: pem });
      const url = der.toString('base64url');
      if (/[-_]/.test(url)) urlOnly++;
      const secret = windows(url);
      for (const out of [redactSecrets(`"d": "${url}"`), redactSecrets(JSON.stringify({ stdout: url }))]) {
        const flat = out.replace(/\\n/g, '');
        for (let i = 0; i + 40 <= flat.length; i++) expect(secret.has(flat.slice(i, i + 40)), `${kind}: a base64url window survived`).toBe(false);
      }
    }
    // Most bodies hold a `-` or `_` (those without are plain base64 too, rule 3's).
    expect(urlOnly).toBeGreaterThanOrEqual(6);
  });

  it("keeps an OpenSSH fingerprint (a host-key error asks the operator to verify it) and lower-case hyphenated names", () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
    const fp = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'host.pub')], { encoding: 'utf8' });
    const printed = fp.split(' ')[1]!;
    expect(printed).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const message = `cp3: HOST KEY CHANGED for cp3: it offered ssh-ed25519 ${printed}, which does not match known_hosts`;
    expect(redactSecrets(message)).toBe(message);
    expect(redactSecrets(JSON.stringify({ message }))).toBe(JSON.stringify({ message }));
    const names = 'kube-apiserver-etcd-client_requestheader-allowed-names-front-proxy-client';
    expect(redactSecrets(names)).toBe(names);
    // Paths and file names keep their hyphenated, mixed-case, numbered parts.
    const path = 'node1:/tmp/kcarun-dryrun-Xy12Ab/etc/kubernetes/manifests/Kube-Apiserver-2026-12-03-Backup-Copy_v2.yaml';
    expect(redactSecrets(path)).toBe(path);
  });

  it('a value restored redacted (a registered output read back from the journal) is refused, never sent to a host', () => {
    expect(() => renderValue({ command: 'echo {{ r.stdout }}' }, { r: { stdout: `x\n${REDACTED_KEY}\n` } }, localExecTask.schema)).toThrow(/held private key material.*run the task that registered it again/);
    // Text the playbook itself writes is its own business.
    expect(renderValue({ command: 'echo "[REDACTED]"' }, {}, localExecTask.schema)).toEqual({ command: 'echo "[REDACTED]"' });
  });

  it('the cheap pre-check never skips text the full scan would mask (20,000 generated texts, plain and JSON)', () => {
    // Texts built from what kcarun prints: base64-ish runs of every length and case, real and JSON-escaped
    // line breaks, indentation, diff markers, padding, punctuation; compared with the full scan alone.
    let seed = 2026;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const alphabets = ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', '0123456789abcdef', 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'];
    const separators = ['\n', '\\n', '\\r\\n', '\r\n', ' ', '  + ', '\n- ', '\t', '\\t', '\\"', '=', '==\n', ': ', '"', '-', ', ', '/', '\\/', '.'];
    const run = () => {
      const a = pick(alphabets);
      const n = 1 + Math.floor(random() * (random() < 0.7 ? 12 : 70));
      return Array.from({ length: n }, () => pick([...a])).join('');
    };
    let masked = 0;
    let skipped = 0;
    for (let i = 0; i < 20_000; i++) {
      const pieces = Array.from({ length: 1 + Math.floor(random() * 30) }, () => `${run()}${pick(separators)}`);
      const plain = pieces.join('');
      for (const text of [plain, JSON.stringify({ event: 'task-end', stdout: plain })]) {
        const full = maskBase64Runs(maskUrlSafeRuns(text));
        expect(redactSecrets(text), text).toBe(full);
        if (full !== text) masked++;
        if (!mayHoldBase64Run(text)) skipped++;
      }
    }
    // Both sides of the pre-check were exercised.
    expect(masked).toBeGreaterThan(1000);
    expect(skipped).toBeGreaterThan(1000);
  });
});
