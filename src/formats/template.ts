import { Context, Liquid, Value, toValueSync } from 'liquidjs';
import type { TSchema } from '@sinclair/typebox';
import { KcarunError } from '../core/errors.js';
import { randomBytes } from 'node:crypto';
import { shellQuote } from '../core/shell.js';
import { containsRedaction } from '../core/redact.js';
import { joinShellParts, shellSlotProblems, ShellContextError, type ShellPart } from '../core/shell-context.js';

/**
 * `{{ ... }}` templating and `when:` expressions, on LiquidJS: Jinja-like syntax that Ansible users
 * read at sight, no way to reach JavaScript (no code evaluation, own properties only), strict about
 * undefined variables and filters. File tags ({% include %}, {% render %}) are disabled.
 */
export type Scope = Record<string, unknown>;

const noFileSystem = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (f: string) => {
    throw new Error(`templates cannot read files (${f})`);
  },
  readFileSync: (f: string) => {
    throw new Error(`templates cannot read files (${f})`);
  },
  resolve: (_root: string, file: string) => file,
};

function createEngine(outputEscape?: (value: unknown) => string, options: { shell?: boolean } = {}): Liquid {
  const liquid = new Liquid({
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    fs: noFileSystem,
    root: [],
    partials: [],
    layouts: [],
    greedy: false,
    relativeReference: false,
    ...(outputEscape ? { outputEscape } : {}),
  });
  // In a shell field every value is quoted for its context already: `| quote` there only says so.
  liquid.registerFilter('quote', (v: unknown) => (options.shell ? stringify(v) : shellQuote(stringify(v))));
  liquid.registerFilter('b64encode', (v: unknown) => Buffer.from(stringify(v), 'utf8').toString('base64'));
  liquid.registerFilter('b64decode', (v: unknown) => Buffer.from(stringify(v), 'base64').toString('utf8'));
  liquid.registerFilter('to_json', (v: unknown) => JSON.stringify(v));
  // A list as shell words, each quoted on its own (shellQuote) and joined by spaces: the one safe way
  // to hand a list of values to `for f in ...` or a command's arguments, as `{{ list | shell_words | raw }}`
  // (`| raw` because the result is shell syntax: several words; each value inside it stays data).
  liquid.registerFilter('shell_words', (v: unknown) => (Array.isArray(v) ? v : [v]).map((x) => shellQuote(stringify(x))).join(' '));
  // Paths named after hosts (kubespray's /etc/ssl/etcd/ssl/member-<host>.pem): each pattern with
  // `%s` replaced by each element, patterns outer, elements inner. formatEach has the rules.
  liquid.registerFilter('format_each', (v: unknown, ...patterns: unknown[]) => formatEach(v, patterns));
  return liquid;
}

/**
 * The `format_each` filter: `{{ groups.etcd | format_each: 'member-%s.pem', 'admin-%s.pem' }}` ->
 * ['member-cp1.pem', 'member-cp2.pem', 'admin-cp1.pem', 'admin-cp2.pem']. `v` is a list (one value is
 * a list of one) of strings or numbers; every `%s` of a pattern is replaced (no other printf directive:
 * `%` stays as it is). Throws when a pattern is not a string or has no `%s` (a list of the same path
 * repeated is a mistake), or an element is not a string or number.
 */
export function formatEach(v: unknown, patterns: readonly unknown[]): string[] {
  const items = (Array.isArray(v) ? v : [v]).map((x) => {
    if (typeof x !== 'string' && typeof x !== 'number') throw new Error(`format_each: ${JSON.stringify(x)} is not a name (a string or number)`);
    return String(x);
  });
  if (patterns.length === 0) throw new Error('format_each needs at least one pattern with %s');
  return patterns.flatMap((p) => {
    if (typeof p !== 'string' || !p.includes('%s')) throw new Error(`format_each: pattern ${JSON.stringify(p)} has no %s`);
    // split/join, not replaceAll: a `$&` or `$'` in a value stays as it is
    return items.map((x) => p.split('%s').join(x));
  });
}

const plain = createEngine();

/*
 * Shell fields: every {{ value }} is quoted for the shell context it lands in (bare word, '...',
 * "...", heredoc; src/core/shell-context.ts) unless the template says `| raw`. Liquid's escape hook
 * sees only the value, not where it goes, so it leaves a marker; once the text around it is known
 * (after {% if %} and loops) each marker is replaced by its value quoted for that place. The
 * marker carries a per-process random tag, so no value or raw text can forge one.
 */
const MARK_TAG = randomBytes(6).toString('hex');
const MARK = new RegExp(`\uE000${MARK_TAG}:([0-9]+)\uE001`, 'g');
let shellValues: string[] = [];
const shell = createEngine(
  (v) => {
    shellValues.push(stringify(v));
    return `\uE000${MARK_TAG}:${shellValues.length - 1}\uE001`;
  },
  { shell: true },
);

/** A rendered shell field's text with its value markers, as literal parts and values. */
function shellParts(text: string, values: readonly string[]): ShellPart[] {
  const parts: ShellPart[] = [];
  let last = 0;
  for (const m of text.matchAll(MARK)) {
    parts.push(text.slice(last, m.index));
    parts.push({ value: values[Number(m[1])] ?? '' });
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function renderShell(text: string, scope: Scope): string {
  const outer = shellValues;
  shellValues = [];
  try {
    const rendered = shell.renderSync(parsedFor(shell, text), scope) as string;
    const joined = joinShellParts(shellParts(rendered, shellValues));
    // A marker inside a value: {% capture %} captured marked text, which would reach the host as the
    // marker instead of the value (and show its tag). validate refuses capture; this is the backstop.
    if (joined.includes('\uE000')) throw new Error('{% capture %} cannot be used in a shell field: use {% assign x = ... %} with filters, or a variable');
    return joined;
  } finally {
    shellValues = outer;
  }
}

/**
 * Where a shell field's templates sit in a context no value can be quoted in (backticks, ${...},
 * after a backslash...): one message per place, with the fix. Checked by `kcarun validate`.
 * `{% %}` tags are read as absent, so both branches of an {% if %} are checked as one text.
 */
export function shellTemplateProblems(text: string): string[] {
  if (!hasTemplate(text)) return [];
  const parts: ShellPart[] = [];
  let last = 0;
  const shown: string[] = [];
  for (const m of text.matchAll(/\{\{-?([\s\S]*?)-?\}\}|\{%[\s\S]*?%\}/g)) {
    parts.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    // A `| raw` value is the author's own shell text, like the literal around it.
    if (m[0].startsWith('{{') && !/\|\s*raw\s*$/.test(m[1]!.trim())) {
      parts.push({ value: '' });
      shown.push(m[0]);
    }
  }
  parts.push(text.slice(last));
  const capture = /\{%-?\s*capture\b/.test(text) ? ['{% capture %}: not in a shell field (the captured text would carry quoting markers, not the value); use {% assign x = ... %} with filters'] : [];
  return [
    ...capture,
    ...shellSlotProblems(parts).map((p) => {
      const slot = parts.slice(0, p.part).filter((x) => typeof x !== 'string').length;
      return `${shown[slot] ?? 'a value'}: ${p.message.replace(/^a value /, '')}`;
    }),
  ];
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function hasTemplate(text: string): boolean {
  return text.includes('{{') || text.includes('{%');
}

/** `{{ expr }}` and nothing else: rendered to the value itself, keeping its type (list, number...). */
const WHOLE_EXPRESSION = /^\{\{-?\s*([^{}]+?)\s*-?\}\}$/;

/** How deep a var may refer to vars that refer to vars (a cycle stops here with an error). */
const MAX_NESTING = 8;

/**
 * Renders one string. A value that reads a redaction mark (a registered output restored from the
 * journal, where key material is masked) is refused: a host never gets "[REDACTED...]" for the
 * real value. Throws E_TEMPLATE naming what to do.
 */
export function renderString(text: string, scope: Scope, options: { shell?: boolean } = {}): unknown {
  return refuseRedacted(renderStringAt(text, scope, options, 0), text);
}

function refuseRedacted<T>(value: T, source: unknown): T {
  if (hasRedaction(value) && !hasRedaction(source)) {
    throw new KcarunError(
      'E_TEMPLATE',
      `a value used here held private key material, which the journal does not keep (it was redacted); run the task that registered it again (--fresh, or --start-at its stage) instead of resuming past it`,
    );
  }
  return value;
}

function hasRedaction(v: unknown): boolean {
  if (typeof v === 'string') return containsRedaction(v);
  if (Array.isArray(v)) return v.some(hasRedaction);
  if (v && typeof v === 'object') return Object.values(v).some(hasRedaction);
  return false;
}

function renderStringAt(text: string, scope: Scope, options: { shell?: boolean } = {}, depth = 0): unknown {
  if (!hasTemplate(text)) return text;
  if (depth > MAX_NESTING) throw new KcarunError('E_TEMPLATE', `variables refer to each other more than ${MAX_NESTING} levels deep (a cycle?) in "${text}"`);
  let value: unknown;
  try {
    const whole = WHOLE_EXPRESSION.exec(text);
    if (options.shell) return renderShell(text, scope);
    if (!whole) return plain.renderSync(parsedFor(plain, text), scope);
    value = evalValue(whole[1]!, scope);
  } catch (err) {
    throw templateError(err, text);
  }
  // A var's value may itself hold templates (a layout profile's `hosts: "{{ groups.etcd }}"`):
  // render them too, as Ansible does.
  return renderNested(value, scope, depth + 1);
}

function renderNested(value: unknown, scope: Scope, depth: number): unknown {
  if (typeof value === 'string') return renderStringAt(value, scope, {}, depth);
  if (Array.isArray(value)) return value.map((v) => renderNested(v, scope, depth));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderNested(v, scope, depth)]));
  return value;
}

/**
 * A var whose whole value is one `{{ expr }}` (a layout profile's `etcd_leaf_certs: "{{ groups.etcd |
 * format_each: ... }}"`) is that expression's value wherever it is read: as a filter's input (`{{
 * etcd_leaf_certs | concat: k8s_leaf_certs }}`), in `{% for f in etcd_leaf_certs %}`, in `when:`.
 * Used wherever vars and builtins meet in one scope (src/engine/scope.ts for runs,
 * src/formats/playbook/validate.ts for `kcarun validate`). Without this such a var was its template
 * text there: a list concatenated with it held the text, rendered later into a list inside the list
 * (check-expiry with the kubespray profile, session 22); a loop ran once over the text.
 *
 * Each such var becomes a getter that renders it with this scope the first time it is read. A var
 * that cannot be rendered here (it reads a registered output that does not exist yet, or vars that
 * refer to each other in a cycle) reads as its text, as before: the error, if any, comes where a
 * task uses it, with its usual message. Registered outputs are never touched.
 *
 * @param scope the host's scope (mutated: the vars named in `varNames` become getters) @returns scope
 */
export function resolveWholeExpressionVars(scope: Record<string, unknown>, varNames: readonly string[]): Record<string, unknown> {
  const resolving = new Set<string>();
  for (const name of varNames) {
    const raw = scope[name];
    // a registered output or a builtin (host, groups, run) of the same name wins, as before
    if (typeof raw !== 'string' || !WHOLE_EXPRESSION.test(raw)) continue;
    let done = false;
    let value: unknown = raw;
    Object.defineProperty(scope, name, {
      enumerable: true,
      configurable: true,
      get() {
        if (done || resolving.has(name)) return value;
        resolving.add(name);
        try {
          value = renderString(raw, scope);
        } catch {
          value = raw;
        } finally {
          resolving.delete(name);
          done = true;
        }
        return value;
      },
    });
  }
  return scope;
}

/**
 * Renders every string inside `value`. Strings at a spot the schema marks `x-shell` (a command
 * line), however deep (a `command` probe inside a list of probes), have their values shell-quoted.
 */
export function renderValue(value: unknown, scope: Scope, schema?: TSchema): unknown {
  const walk = (v: unknown, schemas: TSchema[]): unknown => {
    if (typeof v === 'string') return renderStringAt(v, scope, { shell: schemas.some(isShellSchema) });
    if (Array.isArray(v)) return v.map((item) => walk(item, schemas.flatMap((s) => childSchemas(s, 'items'))));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, schemas.flatMap((s) => childSchemas(s, k)))]));
    }
    return v;
  };
  return refuseRedacted(walk(value, schema ? [schema] : []), value);
}

/**
 * Every shell-context problem in a task's params (see shellTemplateProblems), with the path of the
 * string it is in, for `kcarun validate` to point at.
 */
export function shellFieldProblems(value: unknown, schema: TSchema): { path: (string | number)[]; message: string }[] {
  const found: { path: (string | number)[]; message: string }[] = [];
  const walk = (v: unknown, schemas: TSchema[], path: (string | number)[]): void => {
    if (typeof v === 'string') {
      if (schemas.some(isShellSchema)) for (const message of shellTemplateProblems(v)) found.push({ path, message });
    } else if (Array.isArray(v)) v.forEach((item, i) => walk(item, schemas.flatMap((s) => childSchemas(s, 'items')), [...path, i]));
    else if (v && typeof v === 'object') Object.entries(v).forEach(([k, item]) => walk(item, schemas.flatMap((s) => childSchemas(s, k)), [...path, k]));
  };
  walk(value, [schema], []);
  return found;
}

function branches(s: TSchema): TSchema[] {
  const anyOf = (s as { anyOf?: TSchema[] }).anyOf;
  return anyOf ? anyOf.flatMap(branches) : [s];
}

function isShellSchema(s: TSchema): boolean {
  return branches(s).some((b) => (b as Record<string, unknown>)['x-shell'] === true);
}

/** The schemas a property (or, with 'items', an array element) may have under `s`. */
function childSchemas(s: TSchema, key: string): TSchema[] {
  return branches(s).flatMap((b) => {
    const shape = b as unknown as { items?: TSchema; properties?: Record<string, TSchema> };
    if (key === 'items' && shape.items) return [shape.items];
    const prop = shape.properties?.[key];
    return prop ? [prop] : [];
  });
}

/** Evaluates a `when:` expression (`a == 1 and b contains "x"`) to a boolean. */
export function evaluate(expression: string, scope: Scope): unknown {
  try {
    return evalValue(expression, scope);
  } catch (err) {
    throw templateError(err, expression);
  }
}

export function isTrue(value: unknown): boolean {
  // Liquid truthiness (only false and nil are false) surprises YAML users for "false" strings.
  if (value === 'false' || value === '' || value === 0) return false;
  return value !== false && value !== null && value !== undefined;
}

/**
 * Parsed templates and expressions by text. A run renders the same few hundred templates for every
 * host (and validation asks both "does it parse" and "which names does it read" of each), so each
 * is parsed once per engine. Parse errors are remembered too. Bounded, in case nested vars keep
 * producing new texts.
 */
const CACHE_LIMIT = 10_000;

function remember<V>(cache: Map<string, V>, key: string, make: () => V): V {
  let entry = cache.get(key);
  if (entry === undefined) {
    entry = make();
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, entry);
  }
  return entry;
}

type Templates = ReturnType<Liquid['parse']>;
type ParseResult = { templates: Templates; names?: readonly string[] } | { error: unknown };
// Per engine: the shell engine's parse appends its quoting filter to every output.
const parsedByEngine = new Map<Liquid, Map<string, ParseResult>>([
  [plain, new Map()],
  [shell, new Map()],
]);

function parseResult(engine: Liquid, text: string): ParseResult {
  return remember(parsedByEngine.get(engine)!, text, () => {
    try {
      return { templates: engine.parse(text) };
    } catch (error) {
      return { error };
    }
  });
}

/** `shown` is what an error message quotes (the expression, not the `{% if %}` wrapped around it). */
function parsed(text: string, shown = text): { templates: Templates; names?: readonly string[] } {
  const entry = parseResult(plain, text);
  if ('error' in entry) throw templateError(entry.error, shown);
  return entry;
}

/** Parsed for rendering; a parse error is thrown as the engine threw it (renderString words it). */
function parsedFor(engine: Liquid, text: string): Templates {
  const entry = parseResult(engine, text);
  if ('error' in entry) throw entry.error;
  return entry.templates;
}

const parsedValues = new Map<string, Value | { error: unknown }>();

/** A `{{ expr }}` or `when:` expression evaluated to its value (keeping lists, numbers, booleans). */
function evalValue(expression: string, scope: Scope): unknown {
  const value = remember(parsedValues, expression, () => {
    try {
      return new Value(expression, plain);
    } catch (error) {
      return { error };
    }
  });
  if (!(value instanceof Value)) throw value.error;
  return toValueSync(value.value(new Context(scope, plain.options, {}, { liquid: plain })));
}

function rootNames(text: string, shown = text): readonly string[] {
  const entry = parsed(text, shown);
  entry.names ??= plain.globalVariablesSync(entry.templates);
  return entry.names;
}

const asTemplate = (expression: string) => `{% if ${expression} %}{% endif %}`;

/** Root variable names a template reads (for the undefined-variable check before any host is contacted). */
export function templateVariables(text: string): readonly string[] {
  if (!hasTemplate(text)) return [];
  return rootNames(text);
}

export function expressionVariables(expression: string): readonly string[] {
  return rootNames(asTemplate(expression), expression);
}

/** Throws E_TEMPLATE when a template or expression does not parse. */
export function checkSyntax(text: string, kind: 'template' | 'expression'): void {
  if (kind === 'template') parsed(text);
  else parsed(asTemplate(text), text);
}

function templateError(err: unknown, text: string): KcarunError {
  if (err instanceof ShellContextError) return new KcarunError('E_TEMPLATE', `${err.message} in "${text.length > 80 ? `${text.slice(0, 77)}...` : text}"`, {}, { cause: err });
  const message = (err as Error).message.replace(/, line:\d+, col:\d+.*$/s, '');
  const code = /undefined variable/.test(message) ? 'E_UNDEFINED_VAR' : 'E_TEMPLATE';
  return new KcarunError(code, `${message} in "${text.length > 80 ? `${text.slice(0, 77)}...` : text}"`, {}, { cause: err });
}

