/**
 * Text from hosts (stderr, stdout) and from playbooks (task and stage names) is shown on an
 * operator's terminal. Escape sequences in it could recolour, move the cursor, retitle the window,
 * hide text or forge a line such as "run succeeded". Everything kcarun prints for a person goes
 * through terminalText() (the plain and listr renderers, the CLI's stderr); JSON output needs
 * nothing more, JSON.stringify escapes control characters itself.
 *
 * Escaped as `\xNN` / `\u{N}`: C0 controls but tab and newline, DEL, C1 controls (0x80-0x9f, which
 * some terminals read as CSI), and the Unicode bidi overrides (the "Trojan Source" characters, which
 * reorder what is shown). A carriage return is escaped too: it would let a line overwrite itself.
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
const UNSAFE_WITH_NEWLINES = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

function escapeChar(c: string): string {
  const code = c.codePointAt(0)!;
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * Text safe to print on a terminal. newlines:
 *   'escape' (default) shows them as `\n`: one-line fields (names, titles);
 *   'indent' keeps them and indents every later line that would start at column 0 (by 4 spaces),
 *            so text from a host or a playbook never starts a line where kcarun's own lines
 *            ("run succeeded ...", "== stage") start: the plain renderer;
 *   'keep'   keeps them as they are: whole messages kcarun composed (the CLI's stderr).
 */
export function terminalText(text: string, options: { newlines?: 'escape' | 'indent' | 'keep' } = {}): string {
  const newlines = options.newlines ?? 'escape';
  if (newlines === 'escape') return text.replace(UNSAFE_WITH_NEWLINES, escapeChar);
  const safe = text.replace(UNSAFE, escapeChar);
  return newlines === 'indent' ? safe.replace(/\n(?=[^\s])/g, '\n    ') : safe;
}
