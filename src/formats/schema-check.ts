import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { KcarunError, type SourcePosition } from '../core/errors.js';
import type { PathSegment } from './source.js';

/**
 * The options every validator is compiled with, here and by the build (scripts/build-validators.ts).
 * strict: false lets schemas carry our own annotations (x-shell, x-pattern-message).
 */
export const AJV_OPTIONS: Options = { allErrors: true, strict: false, allowUnionTypes: true };

let ajv: Ajv | undefined;
const compiled = new WeakMap<TSchema, ValidateFunction>();
let precompiled: ReadonlyMap<string, ValidateFunction> = new Map();
let compiledAtRunTime = 0;

/**
 * Validators the build compiled ahead of time (dist/validators.js), keyed by schema fingerprint:
 * compiling them at start-up was a third of `kcarun validate`'s time. A schema the build did not
 * see (a changed source without a rebuild) has another fingerprint and is compiled here instead,
 * so a stale file costs time, never correctness.
 */
export function usePrecompiledValidators(byFingerprint: Record<string, ValidateFunction>): void {
  precompiled = new Map(Object.entries(byFingerprint));
}

/** How many validators this process compiled itself (the build's test checks the stock playbooks need none). */
export function validatorsCompiledAtRunTime(): number {
  return compiledAtRunTime;
}

/** A schema's identity: the hash of its JSON form (TypeBox's symbol keys are not part of it). */
export function schemaFingerprint(schema: TSchema): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex').slice(0, 32);
}

function validatorFor(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = precompiled.get(schemaFingerprint(schema));
    if (!fn) {
      // optimize: false skips ajv's code-optimising passes: a validator compiled at run time checks a
      // handful of documents, so the passes would cost more than they save.
      // ajv itself (~80 ms of CPU to load) is required only here: with the build's validators, a
      // run of the stock playbooks never loads it (issue 14's fan-out benchmark).
      ajv ??= new (createRequire(import.meta.url)('ajv') as { Ajv: new (o: Options) => Ajv }).Ajv({ ...AJV_OPTIONS, code: { optimize: false } });
      fn = ajv.compile(schema);
      compiledAtRunTime++;
    }
    compiled.set(schema, fn);
  }
  return fn;
}

export interface SchemaProblem {
  path: PathSegment[];
  message: string;
}

/** Every way `value` breaks `schema`, one problem per offending spot, with readable messages. */
export function schemaProblems(schema: TSchema, value: unknown, ignore?: (path: PathSegment[]) => boolean): SchemaProblem[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  let raw = validate.errors ?? [];
  if (ignore) raw = dropIgnored(raw, ignore);
  const errors = pruneUnionBranches(raw);
  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  for (const e of errors) {
    const problem = describe(e, schema);
    const key = `${problem.path.join('/')}|${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/** Schema problems as errors positioned in a source file (`locate` maps a data path to FILE:LINE:COL). */
export function schemaErrors(
  schema: TSchema,
  value: unknown,
  locate: (path: PathSegment[]) => SourcePosition,
  basePath: PathSegment[] = [],
  label = '',
): KcarunError[] {
  return schemaProblems(schema, value).map(
    (p) => new KcarunError('E_SCHEMA', `${label}${p.message}`, { position: locate([...basePath, ...p.path]) }),
  );
}

function describe(e: ErrorObject, schema: TSchema): SchemaProblem {
  const path = pointerToPath(e.instancePath);
  const where = path.length ? `${formatPath(path)}: ` : '';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      return { path: [...path, key], message: `${where}unknown key "${key}"` };
    }
    case 'required':
      return { path, message: `${where}missing required key "${(e.params as { missingProperty: string }).missingProperty}"` };
    case 'const':
      return { path, message: `${where}must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'enum':
      return { path, message: `${where}must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'anyOf':
      return { path, message: `${where}${e.message ?? 'does not match any allowed shape'}` };
    case 'type':
      return { path, message: `${where}must be ${(e.params as { type: string | string[] }).type.toString().replace(',', ' or ')}` };
    case 'propertyNames':
      return { path, message: `${where}has an invalid key name` };
    case 'pattern': {
      // A pattern says little to a user ("must match pattern \"^/\""): the schema may say what it means.
      const meaning = (schemaAt(schema, e.schemaPath) as { 'x-pattern-message'?: unknown } | undefined)?.['x-pattern-message'];
      return { path, message: `${where}${typeof meaning === 'string' ? meaning : (e.message ?? e.keyword)}` };
    }
    default:
      return { path, message: `${where}${e.message ?? e.keyword}` };
  }
}

/**
 * Drops the errors at ignored spots (values still to be templated), and then every union that one
 * of its branches would satisfy but for those: the value may well fit once rendered.
 */
function dropIgnored(errors: ErrorObject[], ignore: (path: PathSegment[]) => boolean): ErrorObject[] {
  const kept = errors.filter((e) => !ignore(pointerToPath(e.instancePath)));
  const satisfied: ErrorObject[] = [];
  for (const union of kept.filter((e) => e.keyword === 'anyOf')) {
    const prefix = `${union.schemaPath.replace(/\/anyOf$/, '')}/anyOf/`;
    const inUnion = (e: ErrorObject) => e.schemaPath.startsWith(prefix) && within(e, union);
    const branch = (e: ErrorObject) => e.schemaPath.slice(prefix.length).split('/')[0];
    const failedBefore = new Set(errors.filter(inUnion).map(branch));
    const failedNow = new Set(kept.filter(inUnion).map(branch));
    if ([...failedBefore].some((b) => !failedNow.has(b))) satisfied.push(union);
  }
  return kept.filter(
    (e) => !satisfied.some((u) => e === u || (e.schemaPath.startsWith(`${u.schemaPath.replace(/\/anyOf$/, '')}/anyOf/`) && within(e, u))),
  );
}

/**
 * ajv reports every branch of an anyOf. Keep only the branch that came closest (fewest errors,
 * deepest first), so a typo inside a stage is reported as the typo, not as "must match a schema
 * in anyOf" plus the errors of the other shapes.
 */
function pruneUnionBranches(errors: ErrorObject[]): ErrorObject[] {
  let result = errors;
  for (const union of errors.filter((e) => e.keyword === 'anyOf')) {
    const prefix = `${union.schemaPath.replace(/\/anyOf$/, '')}/anyOf/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of result) {
      if (!e.schemaPath.startsWith(prefix) || !within(e, union)) continue;
      const branch = e.schemaPath.slice(prefix.length).split('/')[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    if (branches.size === 0) continue;
    // A union of literals (order: inventory | reverse | leader-last) reads best as one list.
    const all = [...branches.values()].flat();
    if (all.every((e) => e.keyword === 'const' && e.instancePath === union.instancePath)) {
      const allowed = all.map((e) => (e.params as { allowedValue: unknown }).allowedValue);
      const merged: ErrorObject = { ...union, keyword: 'enum', params: { allowedValues: allowed } };
      result = result.filter((e) => !all.includes(e)).map((e) => (e === union ? merged : e));
      continue;
    }
    const score = (list: ErrorObject[]) => {
      // A branch whose only complaint is the value's type at the union's own spot is the worst fit.
      const shallowType = list.every((e) => e.instancePath === union.instancePath && e.keyword === 'type');
      return (shallowType ? 1000 : 0) + list.length;
    };
    const ranked = [...branches.values()].sort((a, b) => score(a) - score(b));
    const best = ranked[0]!;
    const keepUnionMessage = score(best) >= 1000;
    result = result.filter((e) => {
      if (e === union) return keepUnionMessage;
      if (!e.schemaPath.startsWith(prefix) || !within(e, union)) return true;
      return !keepUnionMessage && best.includes(e);
    });
  }
  return result;
}

/** An error about the union's own value or something inside it (not a sibling array item's). */
function within(e: ErrorObject, union: ErrorObject): boolean {
  return e.instancePath === union.instancePath || e.instancePath.startsWith(`${union.instancePath}/`);
}

/**
 * The schema object holding the keyword an error names (`#/properties/path/pattern` -> the `path`
 * property's schema). Our schemas are TypeBox's, inlined, so the pointer needs no $ref resolution.
 */
function schemaAt(schema: TSchema, schemaPath: string): unknown {
  let node: unknown = schema;
  for (const segment of pointerToPath(schemaPath.replace(/^#/, '')).slice(0, -1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

export function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `stages[2].tasks[0].with` */
export function formatPath(path: readonly PathSegment[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}
