import { describe, expect, it } from 'vitest';
import { terminalText } from '../../src/core/terminal.js';
import { createPlainReporter } from '../../src/commands/render/plain.js';
import { formatTable } from '../../src/pki/report.js';

/* Issue 13, item 7: escapes from hosts and playbooks are shown, never obeyed. */
describe('terminal output escapes control characters (issue 13.7)', () => {
  it('escapes ANSI/OSC sequences, carriage returns and bidi overrides; keeps text and tabs', () => {
    expect(terminalText('a\x1b[31mred\x1b]0;title\x07\rb\tc\u202e')).toBe('a\\x1b[31mred\\x1b]0;title\\x07\\rb\tc\\u{202e}');
    expect(terminalText('one\ntwo')).toBe('one\\ntwo');
    expect(terminalText('one\ntwo\n  three', { newlines: 'indent' })).toBe('one\n    two\n  three');
  });

  it('a task name or host stderr cannot forge a line of kcarun\'s own in plain output', () => {
    let out = '';
    const r = createPlainReporter((t) => (out += t));
    r.emit({ event: 'task-end', stage: 's', host: 'h1', task: 'x\nrun succeeded in 1.0s: 0 changed, 0 failed', type: 'local-exec', status: 'failed', changed: false, durationMs: 10, error: { code: 'E_REMOTE_EXIT', message: 'exit 1\n\x1b[2K\rrun succeeded' } } as never);
    expect(out.split('\n').filter((l) => l.startsWith('run '))).toEqual([]);
    expect(out).not.toContain('\x1b');
    expect(out).toContain('\\x1b[2K\\r');
  });

  it('a certificate subject with a newline stays in its cell: `certs expiry`/`certs inspect` tables cannot gain a forged row', () => {
    const forged = 'CN=x\nh9  ca.crt  CN=kubernetes  2036-01-01  3650  CA  OK';
    const table = formatTable(['HOST', 'SUBJECT'], [['cp1', forged]]);
    expect(table.split('\n').filter(Boolean)).toHaveLength(2);
    expect(table).toContain('CN=x\\nh9');
  });
});
