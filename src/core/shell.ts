/**
 * POSIX shell quoting. Every value that comes from an inventory, vars or a registered result goes
 * through here before it is put on a command line, so a hostile value (quotes, `$(...)`, `;`,
 * newlines) stays one literal argument.
 */
export function shellQuote(value: string): string {
  if (value === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** An argv list as one command line, each word quoted. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
