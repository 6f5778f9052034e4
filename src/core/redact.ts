/**
 * Removes private key material from anything kcarun prints, logs or journals. Keys are never put
 * there on purpose; this catches the accidental ones (a command's stdout that cat'ed a key).
 * Works on plain text and on JSON text (where newlines are escaped).
 */
const COMPLETE_BLOCK = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
// A block cut short (truncated output): redact up to the end of the JSON string or the text.
const OPEN_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[^"]*/g;

export function redactSecrets(text: string): string {
  return text.replace(COMPLETE_BLOCK, '[REDACTED PRIVATE KEY]').replace(OPEN_BLOCK, '[REDACTED PRIVATE KEY]');
}
