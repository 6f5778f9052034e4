/**
 * Private keys in text: the one pattern kcarun knows them by, to find them (a combined
 * certificate+key file, a file that must be 0600) and to remove them from anything kcarun prints,
 * logs or journals. Keys are never put there on purpose; redaction catches the accidental ones (a
 * command's stdout that cat'ed a key). Works on plain text and on JSON text (newlines escaped).
 * Every PEM flavour: PKCS#1 `RSA`, SEC1 `EC`, PKCS#8, `ENCRYPTED`.
 */
const BEGIN = '-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----';
const BLOCK = `${BEGIN}[\\s\\S]*?-----END \\1PRIVATE KEY-----`;

const BEGIN_RE = new RegExp(BEGIN);
/** A whole block with the line end after it, as it sits in a file. */
const BLOCK_LINE_RE = new RegExp(`${BLOCK}\\r?\\n?`);
const COMPLETE_BLOCKS = new RegExp(BLOCK, 'g');
// A block cut short (truncated output): redact up to the end of the JSON string or the text.
const OPEN_BLOCKS = new RegExp(`${BEGIN}[^"]*`, 'g');

/** True when the text holds the start of a PEM private key. */
export function containsPrivateKey(text: string): boolean {
  return BEGIN_RE.test(text);
}

/** The first complete private key block of a text, byte for byte with its line end; undefined without one. */
export function privateKeyBlock(text: string): string | undefined {
  return BLOCK_LINE_RE.exec(text)?.[0];
}

/**
 * The one redactor: every byte kcarun prints, logs, journals or reports passes through
 * redactSecrets() (the terminal and JSON renderers, the CLI's stderr, the journal, the run report,
 * diffs, error messages and their excerpts). Keys are never put there on purpose; this catches the
 * accidental ones: a command's stderr that cat'ed a key, a diff of a file holding cert + key, a
 * YAML error excerpt inside a PEM block, a tail cut in the middle of a key.
 *
 * It masks, in plain text and in JSON text (where newlines are `\n` escapes):
 *   1. whole PEM private-key blocks (`-----BEGIN ... PRIVATE KEY-----` to its END);
 *   2. a BEGIN with no END in view: everything after it to the end of the line's JSON string or
 *      the text;
 *   3. any run of base64 of 40 characters or more, or consecutive base64 lines that together make
 *      40 or more (a key's body with neither BEGIN nor END in view, any window of it), that looks
 *      like key material: upper- and lower-case letters, not only hex digits (so SHA-256
 *      checksums, paths and words stay). Runs inside a complete CERTIFICATE, PUBLIC KEY, CSR or CRL
 *      block are public and kept, and so is an OpenSSH fingerprint (`SHA256:` and its 43
 *      characters: what a host-key error asks the operator to verify).
 *   3b. a run of 40 or more characters of the URL-safe alphabet (RFC 4648 section 5: `-` and `_`
 *      for `+` and `/`, as JWKs and tokens carry keys) with at least one `-` or `_`, upper- and
 *      lower-case letters (one past `f`) and a digit, that does not continue a path or a file name (not right
 *      after `/`, `.` or another such character): masked before rule 3 cuts it at its `-`s. A
 *      random run of 43 characters (an Ed25519 key) lacks a digit once in ~1,500; one line only.
 *   4. the private fields of `openssl pkey|rsa|ec -text` dumps: the hex lines under
 *      privateExponent, prime1, prime2, exponent1, exponent2, coefficient (RSA) and priv (EC,
 *      Ed25519, X25519) (found by a hostile-input review: a command that ran `openssl pkey -text`
 *      had put the primes in the journal).
 * Base64 of a whole PEM key (kubeconfig `client-key-data`) falls under rule 3. Not recognised: a key
 * dumped as bare hex (`xxd -p`) or cut into pieces shorter than 40 characters (docs/security.md).
 *
 * Redaction is for what leaves kcarun, never for data that goes to a host: a value that was
 * redacted (a registered output read back from the journal) is refused where a task would use it
 * (containsRedaction, checked when task params are rendered).
 */
export const REDACTED_KEY = '[REDACTED PRIVATE KEY]';
export const REDACTED_RUN = '[REDACTED]';

// Public PEM blocks, whole: their bodies are not secrets.
const PUBLIC_BLOCK = /-----BEGIN (CERTIFICATE|TRUSTED CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|X509 CRL|PKCS7)-----[\s\S]*?-----END \1-----/g;
// A base64 run, or a JSON escape (consumed whole so the `n` of `\n` is never glued to a run).
const TOKEN = /\\[nrt"\\/]|[A-Za-z0-9+/]+=*/g;
// What may stand between two lines of one base64 body: one line break (real or JSON-escaped),
// indentation, a diff marker.
const LINE_GAP = /^=*[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*[-+ ]?[ \t]*$/;
const MIN_RUN = 40;

// Rule 4: a private field's label, then its indented hex lines (real or JSON-escaped line breaks).
const TEXT_DUMP_FIELD = /((?:privateExponent|prime1|prime2|exponent1|exponent2|coefficient|priv):[ \t]*)(?:(?:\r?\n|\\r\\n|\\n)[ \t]+[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*:?[ \t]*)+/g;

/** Text with private key material masked (rules above); other text unchanged. */
export function redactSecrets(text: string): string {
  if (!text) return text;
  const blocks = text
    .replace(COMPLETE_BLOCKS, REDACTED_KEY)
    .replace(OPEN_BLOCKS, REDACTED_KEY)
    .replace(TEXT_DUMP_FIELD, `$1 ${REDACTED_RUN}`);
  const urlSafe = maskUrlSafeRuns(blocks);
  return mayHoldBase64Run(urlSafe) ? maskBase64Runs(urlSafe) : urlSafe;
}

/**
 * Rule 3b alone. Besides `-` or `_`, both cases and a digit, a lower-case letter past `f`: an id
 * made of an upper-case name and a hex digest (`NAME-3f2a...`) is not key material.
 */
export function maskUrlSafeRuns(text: string): string {
  if (!text.includes('-') && !text.includes('_')) return text;
  return text.replace(URL_SAFE_RUN, (run) => (/[-_]/.test(run) && /[A-Z]/.test(run) && /[g-z]/.test(run) && /[0-9]/.test(run) ? REDACTED_RUN : run));
}

// Rule 3b: a URL-safe base64 run starting at the start of a line, a JSON escape or a character that
// is in no run, path or file name.
const URL_SAFE_RUN = /(?<=^|[^A-Za-z0-9+/_.-]|\\[nrt])[A-Za-z0-9_-]{40,}=*/gm;

// A stretch of raw text that may hold a whole chain of rule 3: base64 runs joined by line gaps, the
// JSON escapes `\n` and `\r\n` included as gaps (a run starting at the `n` of an escape only makes
// the stretch longer, never shorter).
const CANDIDATE = /[A-Za-z0-9+/]+=*(?:[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*[-+ ]?[ \t]*[A-Za-z0-9+/]+=*)*/g;

/**
 * The cheap pre-check of rule 3 (every line kcarun prints passes here; issue 14's fan-out benchmark
 * found the full scan at ~0.3 ms per step): false only when no stretch of the text could hold a chain
 * of 40 or more characters with both letter cases, in which case maskBase64Runs would change nothing
 * (test/safety/redact.test.ts checks that on generated text).
 */
export function mayHoldBase64Run(text: string): boolean {
  if (text.length < MIN_RUN) return false;
  CANDIDATE.lastIndex = 0;
  for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
    if (m[0].length >= MIN_RUN && /[A-Z]/.test(m[0]) && /[a-z]/.test(m[0])) return true;
  }
  return false;
}

/** Whether a string holds a redaction mark (it was redacted and is not the real value any more). */
export function containsRedaction(text: string): boolean {
  return text.includes(REDACTED_KEY) || text.includes(REDACTED_RUN);
}

interface Run {
  start: number;
  end: number;
}

/** Rule 3 alone: base64 runs and chains of them that look like key material, masked. */
export function maskBase64Runs(text: string): string {
  const publicRanges: Run[] = [];
  for (const m of text.matchAll(PUBLIC_BLOCK)) publicRanges.push({ start: m.index, end: m.index + m[0].length });
  const inPublic = (i: number) => publicRanges.some((r) => i >= r.start && i < r.end);

  // Chains of runs joined by single line breaks: one body seen through any window.
  const chains: Run[][] = [];
  let chain: Run[] = [];
  let lastEnd = -1;
  const close = () => {
    if (chain.length) chains.push(chain);
    chain = [];
  };
  for (const m of text.matchAll(TOKEN)) {
    if (m[0].startsWith('\\') && m[0].length === 2) continue;
    const run = { start: m.index, end: m.index + m[0].length };
    if (inPublic(run.start)) {
      close();
      lastEnd = -1;
      continue;
    }
    if (chain.length && lastEnd >= 0 && LINE_GAP.test(text.slice(lastEnd, run.start))) chain.push(run);
    else {
      close();
      chain.push(run);
    }
    lastEnd = run.end;
  }
  close();

  const masked: Run[] = [];
  for (const c of chains) {
    const body = c.map((r) => text.slice(r.start, r.end)).join('');
    if (body.length >= MIN_RUN && looksLikeKeyMaterial(body) && !isFingerprint(text, c)) masked.push(...c);
  }
  if (masked.length === 0) return text;
  let out = '';
  let at = 0;
  for (const r of masked) {
    out += text.slice(at, r.start) + REDACTED_RUN;
    at = r.end;
  }
  return out + text.slice(at);
}

/** An OpenSSH SHA-256 fingerprint (`ssh-keygen -l`): `SHA256:` then 43 characters of unpadded base64. */
function isFingerprint(text: string, chain: Run[]): boolean {
  const r = chain[0]!;
  return chain.length === 1 && r.end - r.start === 43 && text.slice(Math.max(0, r.start - 7), r.start) === 'SHA256:';
}

/**
 * Random base64 has upper- and lower-case letters in any 40 characters (the chance of missing
 * either is below 1e-9); checksums (hex), paths and ordinary words mostly do not.
 */
function looksLikeKeyMaterial(body: string): boolean {
  return /[A-Z]/.test(body) && /[a-z]/.test(body) && !/^[0-9A-Fa-f]+$/.test(body);
}
