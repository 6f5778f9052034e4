import { KcarunError } from '../core/errors.js';
import type { EditResult } from './yaml-path.js';

/**
 * Variables in an environment file: a systemd `EnvironmentFile=` (kubespray's /etc/etcd.env,
 * /etc/default/etcd), `KEY=value` per line, optionally `export `-prefixed or quoted. A setting is
 * named by the variable (`ETCD_TRUSTED_CA_FILE`) or by the component's flag (`trusted-ca-file`,
 * `--peer-trusted-ca-file`), which becomes `<prefix><FLAG_IN_UPPER_SNAKE_CASE>` — the rule etcd
 * applies to its own flags (go.etcd.io/etcd pkg/flags: `ETCD_` + upper-cased flag, `-` -> `_`).
 * Only the value's bytes change; its quoting is kept.
 */
export interface EnvFileTarget {
  /** A variable name as is (upper case), or a flag with or without `--`. */
  flag: string;
  /** Prefix for a flag-spelled name (default `ETCD_`). */
  envPrefix?: string;
}

const VARIABLE = /^[A-Z_][A-Z0-9_]*$/;

export function envVariableName(target: EnvFileTarget): string {
  const name = target.flag.replace(/^-+/, '');
  if (VARIABLE.test(name)) return name;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new KcarunError('E_TASK', `${JSON.stringify(target.flag)} is neither an environment variable name nor a flag`);
  return `${target.envPrefix ?? 'ETCD_'}${name.toUpperCase().replace(/-/g, '_')}`;
}

interface Assignment {
  /** Offsets of the whole line (without its newline). */
  lineStart: number;
  lineEnd: number;
  /** Offsets of the value as written (quotes included). */
  valueStart: number;
  valueEnd: number;
  quote: '"' | "'" | '';
  value: string;
}

function assignments(text: string, name: string): Assignment[] {
  const found: Assignment[] = [];
  const re = new RegExp(`^([ \\t]*(?:export[ \\t]+)?${name}[ \\t]*=[ \\t]*)(.*?)[ \\t]*$`, 'gm');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const raw = m[2]!.replace(/\r$/, '');
    const valueStart = m.index + m[1]!.length;
    const q = raw[0];
    const quoted = (q === '"' || q === "'") && raw.length >= 2 && raw.endsWith(q);
    const value = quoted ? (q === '"' ? raw.slice(1, -1).replace(/\\(["\\$`])/g, '$1') : raw.slice(1, -1)) : raw;
    found.push({ lineStart: m.index, lineEnd: m.index + m[0].length, valueStart, valueEnd: valueStart + raw.length, quote: quoted ? (q as '"' | "'") : '', value });
  }
  return found;
}

function render(value: string, quote: Assignment['quote']): string {
  if (/[\n\r]/.test(value)) throw new KcarunError('E_TASK', `cannot put a line break into an environment file value: ${JSON.stringify(value)}`);
  if (quote === "'") {
    if (value.includes("'")) throw new KcarunError('E_TASK', `cannot put ${JSON.stringify(value)} in single quotes`);
    return `'${value}'`;
  }
  if (quote === '"' || /[\s"'\\$`#;]/.test(value)) return `"${value.replace(/(["\\$`])/g, '\\$1')}"`;
  return value;
}

/** The value in effect (the last assignment wins, as in systemd and the shell); undefined when unset. */
export function getEnvFileSetting(text: string, target: EnvFileTarget): string | undefined {
  return assignments(text, envVariableName(target)).at(-1)?.value;
}

/** Sets the variable: rewrites the value of its last assignment in place, or appends `NAME=value`. */
export function setEnvFileSetting(text: string, target: EnvFileTarget & { value: string }): EditResult {
  const name = envVariableName(target);
  const last = assignments(text, name).at(-1);
  if (last?.value === target.value) return { text, changed: false };
  let out: string;
  if (last) out = text.slice(0, last.valueStart) + render(target.value, last.quote) + text.slice(last.valueEnd);
  else out = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${name}=${render(target.value, '')}\n`;
  return { text: out, changed: out !== text };
}

/** Removes every assignment of the variable (lines and their newlines). */
export function removeEnvFileSetting(text: string, target: EnvFileTarget): EditResult {
  const found = assignments(text, envVariableName(target));
  if (found.length === 0) return { text, changed: false };
  let out = text;
  for (const a of [...found].reverse()) {
    const end = out[a.lineEnd] === '\n' ? a.lineEnd + 1 : a.lineEnd;
    out = out.slice(0, a.lineStart) + out.slice(end);
  }
  return { text: out, changed: true };
}
