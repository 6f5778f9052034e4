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

export function redactSecrets(text: string): string {
  return text.replace(COMPLETE_BLOCKS, '[REDACTED PRIVATE KEY]').replace(OPEN_BLOCKS, '[REDACTED PRIVATE KEY]');
}
