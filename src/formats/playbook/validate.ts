import { KcarunError } from '../../core/errors.js';
import type { Inventory } from '../inventory/load.js';
import { LOCAL_HOST, resolveHostPattern } from '../inventory/patterns.js';
import type { LeaderProbeDefinition, TaskDefinition } from '../../tasks/define.js';
import type { LoadedPlaybook, LoadedStage } from './load.js';
import { formatPath, schemaProblems } from '../schema-check.js';
import type { RollbackTaskSpec, TaskSpec } from './schema.js';
import { locate, type PathSegment } from '../source.js';
import { checkSyntax, evaluate, expressionVariables, hasTemplate, isTrue, renderString, renderValue, resolveWholeExpressionVars, shellFieldProblems, templateVariables } from '../template.js';
import { BUILTIN_NAMES, builtinScope, hostVars } from './vars.js';
import { regexParamProblems } from '../regex-params.js';

const NONE: ReadonlySet<string> = new Set();

export interface PlannedStage {
  stage: LoadedStage;
  /** Host names the stage runs on, in inventory order (`['local']` for the operator machine). */
  hosts: string[];
  /**
   * Why the stage will not run, when that is known before any host is contacted: its hosts select
   * nobody (an empty group), or its `when` reads only variables and is false. Such a stage is
   * still checked, and the run reports it skipped with the same reason.
   */
  skipped?: string;
}

export interface ValidationInput {
  playbook: LoadedPlaybook;
  inventory: Inventory;
  extraVars: { files: Record<string, unknown>; inline: Record<string, unknown> };
  taskTypes: ReadonlyMap<string, TaskDefinition>;
  leaderProbes: ReadonlyMap<string, LeaderProbeDefinition>;
}

/**
 * Everything that can be known wrong before any host is contacted: unknown task types, unknown
 * hosts and groups, duplicate stage names, params that do not fit their task type, undefined
 * variables, broken templates. Pure: returns every problem at once, each pointing at its key.
 */
export function validatePlaybook(input: ValidationInput): { plan: PlannedStage[] } | { errors: KcarunError[] } {
  const { playbook, inventory, taskTypes, leaderProbes } = input;
  const errors: KcarunError[] = [];
  const plan: PlannedStage[] = [];
  const stageNames = new Map<string, LoadedStage>();
  // Names registered by earlier tasks: later templates may read them.
  const registered = new Set<string>();

  for (const stage of playbook.stages) {
    const at = (path: PathSegment[]) => locate(stage.source, [...stage.path, ...path]);
    const err = (path: PathSegment[], message: string, code: 'E_SCHEMA' | 'E_UNDEFINED_VAR' | 'E_TEMPLATE' = 'E_SCHEMA') =>
      errors.push(new KcarunError(code, `stage "${stage.spec.name}": ${message}`, { position: at(path) }));

    if (stageNames.has(stage.spec.name)) {
      const first = stageNames.get(stage.spec.name)!;
      const p = locate(first.source, [...first.path, 'name']);
      err(['name'], `duplicate stage name (first defined at ${p.file}:${p.line}:${p.col})`);
    } else stageNames.set(stage.spec.name, stage);

    let hosts: string[] = [];
    let skipped: string | undefined;
    try {
      // An empty group is a layout without that role (etcd alone, no workers): the stage does not
      // apply. An unknown name still throws: a typo must not turn a stage into a no-op.
      hosts = resolveHostPattern(inventory, stage.spec.hosts);
      if (hosts.length === 0) skipped = `hosts "${String(stage.spec.hosts)}" selects no host`;
    } catch (e) {
      err(['hosts'], (e as Error).message);
    }
    if (hosts.includes(LOCAL_HOST) && (stage.spec.serial !== undefined || stage.spec.order === 'leader-last')) {
      err(['hosts'], '`serial` and `order: leader-last` need inventory hosts, not `local`');
    }

    // What each host can read in this stage: its vars once per stage (every task's checks share them),
    // and the whole scope a template renders with, made when a task first needs it.
    const varsOf = new Map((hosts.length ? hosts : [LOCAL_HOST]).map((h) => [h, stageVars(input, stage, h)] as const));
    const scopes = [...varsOf].map(([host, vars]) => ({ host, names: new Set([...Object.keys(vars), ...BUILTIN_NAMES]) }));
    const renderScopes = new Map<string, Record<string, unknown>>();
    const renderScope = (host: string): Record<string, unknown> => {
      let scope = renderScopes.get(host);
      if (!scope) {
        const vars = varsOf.get(host) ?? stageVars(input, stage, host);
        const base = host === LOCAL_HOST ? null : inventory.hosts.get(host);
        scope = { ...vars, ...builtinScope(inventory, base ? { ...base, vars } : null) };
        renderScopes.set(host, resolveWholeExpressionVars(scope, Object.keys(vars).filter((k) => scope![k] === vars[k])));
      }
      return scope;
    };
    const checkNames = (path: PathSegment[], names: readonly string[], local: ReadonlySet<string> = NONE) => {
      for (const name of names) {
        if (registered.has(name) || local.has(name)) continue;
        const missing = scopes.filter((s) => !s.names.has(name)).map((s) => s.host);
        if (missing.length === 0) continue;
        const where = missing.length === scopes.length ? '' : ` for host(s) ${missing.join(', ')}`;
        err(path, `undefined variable "${name}"${where}`, 'E_UNDEFINED_VAR');
      }
    };
    const checkTemplates = (path: PathSegment[], value: unknown, local: ReadonlySet<string> = NONE) => {
      if (typeof value === 'string') {
        if (!hasTemplate(value)) return;
        try {
          checkSyntax(value, 'template');
          checkNames(path, templateVariables(value), local);
        } catch (e) {
          err(path, (e as Error).message, 'E_TEMPLATE');
        }
      } else if (Array.isArray(value)) value.forEach((v, i) => checkTemplates([...path, i], v, local));
      else if (value && typeof value === 'object') Object.entries(value).forEach(([k, v]) => checkTemplates([...path, k], v, local));
    };
    const checkExpression = (path: PathSegment[], expression: string, local: ReadonlySet<string> = NONE) => {
      try {
        checkSyntax(expression, 'expression');
        checkNames(path, expressionVariables(expression), local);
      } catch (e) {
        err(path, (e as Error).message, 'E_TEMPLATE');
      }
    };

    if (stage.spec.when) checkExpression(['when'], stage.spec.when);
    skipped ??= staticallyFalseCondition(stage, registered, input);
    for (const w of stage.importWhen) {
      try {
        checkNames(['name'], expressionVariables(w));
      } catch (e) {
        err(['name'], (e as Error).message, 'E_TEMPLATE');
      }
    }

    if (stage.spec.order === 'leader-last' && !stage.spec.leader) {
      err(['order'], '`order: leader-last` needs a `leader:` probe that finds the leader');
    }
    if (stage.spec.leader) {
      const probe = leaderProbes.get(stage.spec.leader.type);
      if (!probe) {
        err(['leader', 'type'], `unknown leader probe type "${stage.spec.leader.type}" (known: ${[...leaderProbes.keys()].join(', ')})`);
      } else {
        checkParams(probe.schema, stage.spec.leader.with ?? {}, ['leader', 'with'], err);
        for (const problem of shellFieldProblems(stage.spec.leader.with ?? {}, probe.schema)) err(['leader', 'with', ...problem.path], problem.message, 'E_TEMPLATE');
        for (const problem of regexParamProblems(stage.spec.leader.with ?? {})) err(['leader', 'with', ...problem.path], problem.message);
        checkTemplates(['leader', 'with'], stage.spec.leader.with ?? {});
      }
    }

    const checkTask = (task: TaskSpec | RollbackTaskSpec, path: PathSegment[]) => {
      const def = taskTypes.get(task.type);
      if (!def) {
        err([...path, 'type'], `task "${task.name}": unknown task type "${task.type}" (known: ${[...taskTypes.keys()].sort().join(', ')})`);
      } else if (typeof task.with !== 'string') {
        // A `with` that is one template is checked after rendering, at run time.
        checkParams(def.schema, task.with ?? {}, [...path, 'with'], (p, m) => err(p, `task "${task.name}": ${m}`));
        for (const problem of shellFieldProblems(task.with ?? {}, def.schema)) err([...path, 'with', ...problem.path], `task "${task.name}": ${problem.message}`, 'E_TEMPLATE');
        for (const problem of regexParamProblems(task.with ?? {})) err([...path, 'with', ...problem.path], `task "${task.name}": ${problem.message}`);
      }
      if (task.loop !== undefined) checkTemplates([...path, 'loop'], task.loop);
      // The loop variable exists only inside this task.
      const local = new Set(task.loop !== undefined ? [task.loopVar ?? 'item'] : []);
      if (task.when) checkExpression([...path, 'when'], task.when, local);
      checkTemplates([...path, 'with'], task.with ?? {}, local);
      if (def && !skipped && task.loop === undefined && task.with) {
        for (const p of renderedParamProblems({ hosts, renderScope, task, schema: def.schema, registered })) err([...path, 'with', ...p.path], `task "${task.name}": ${p.message}`);
      }
    };
    for (const [i, task] of stage.spec.tasks.entries()) {
      checkTask(task, ['tasks', i]);
      for (const [j, rb] of (('rollback' in task ? task.rollback : undefined) ?? []).entries()) checkTask(rb, ['tasks', i, 'rollback', j]);
      if (task.register) registered.add(task.register);
    }
    for (const [j, rb] of (stage.spec.rollback ?? []).entries()) checkTask(rb, ['rollback', j]);
    plan.push(skipped ? { stage, hosts, skipped } : { stage, hosts });
  }
  return errors.length ? { errors } : { plan };
}

/** The vars a host sees in a stage before the run, in the engine's precedence (engine/scope.ts scopeFor). */
function stageVars(input: ValidationInput, stage: LoadedStage, host: string): Record<string, unknown> {
  return hostVars(input.inventory, host, {
    playbook: input.playbook.vars,
    imports: stage.importVars,
    stage: stage.spec.vars,
    extraFiles: input.extraVars.files,
    extraInline: input.extraVars.inline,
  });
}

/**
 * A task's templated params rendered for each host of its stage with what is known before the run
 * (the inventory, playbook, stage and -e vars) and checked against the task type's schema: a
 * `drainPort: "{{ apiserver_port }}"` that renders to 99999 is refused here (exit 2), not after
 * earlier stages changed the cluster. Only fields whose templates read nothing a run supplies (a
 * registered result, `run`) are checked, and only for hosts where the task's `when` is known true
 * now; the rest is checked at run time as before. Returns problems with their path inside `with`,
 * each naming the hosts (all of them: no names) and the template it came from.
 */
function renderedParamProblems(a: {
  hosts: string[];
  /** The scope a host's templates render with in this stage (vars and builtins), made once per stage. */
  renderScope: (host: string) => Record<string, unknown>;
  task: TaskSpec;
  schema: TaskDefinition['schema'];
  registered: ReadonlySet<string>;
}): { path: PathSegment[]; message: string }[] {
  const params = a.task.with as Record<string, unknown> | string;
  const runtime = (names: readonly string[]) => names.some((n) => a.registered.has(n) || n === 'run');
  // The template-valued fields that can be rendered now (a `with` that is one template: all of it).
  const staticTemplate = (path: PathSegment[]): string | undefined => {
    const v = valueAt(params, path);
    if (typeof v !== 'string' || !hasTemplate(v)) return undefined;
    try {
      return runtime(templateVariables(v)) ? undefined : v;
    } catch {
      return undefined;
    }
  };
  const found = new Map<string, { path: PathSegment[]; message: string; template: string; hosts: string[] }>();
  for (const name of a.hosts) {
    const scope = a.renderScope(name);
    try {
      if (a.task.when && (runtime(expressionVariables(a.task.when)) || !isTrue(evaluate(a.task.when, scope)))) continue;
    } catch {
      continue; // left to the run, which reports it with the host
    }
    let rendered: unknown;
    try {
      rendered = typeof params === 'string' ? renderString(params, scope) : renderValue(params, scope, a.schema);
      if (!rendered || typeof rendered !== 'object' || Array.isArray(rendered)) continue; // the run says so, with the host
    } catch {
      continue; // a template error is reported by the checks above or at run time
    }
    for (const problem of schemaProblems(a.schema, rendered)) {
      const template = staticTemplate(problem.path);
      if (template === undefined) continue;
      const key = `${formatPath(problem.path)}\0${problem.message}`;
      const entry = found.get(key) ?? { path: problem.path, message: problem.message, template, hosts: [] };
      entry.hosts.push(name);
      found.set(key, entry);
    }
  }
  return [...found.values()].map((f) => {
    const message = f.message.startsWith(`${formatPath(f.path)}:`) ? `with.${f.message}` : f.message;
    const where = f.hosts.length === a.hosts.length ? '' : ` for host(s) ${f.hosts.join(', ')}`;
    return { path: f.path, message: `${message} (rendered from ${JSON.stringify(f.template)}${where})` };
  });
}

/**
 * The stage's `when` (and its imports' `when`s) evaluated before the run, when they read nothing a
 * task registers and nothing host-specific: `'condition is false: ...'`, else undefined (the run
 * decides). An expression that cannot be evaluated here is left to the run.
 */
function staticallyFalseCondition(stage: LoadedStage, registered: ReadonlySet<string>, input: ValidationInput): string | undefined {
  const conditions = [...stage.importWhen, ...(stage.spec.when ? [stage.spec.when] : [])];
  if (conditions.length === 0) return undefined;
  const scope: Record<string, unknown> = {
    ...stageVars(input, stage, LOCAL_HOST),
    ...builtinScope(input.inventory, null),
  };
  for (const condition of conditions) {
    try {
      const names = expressionVariables(condition);
      if (names.some((n) => registered.has(n) || n === 'host' || n === 'run' || !(n in scope))) continue;
      if (!isTrue(evaluate(condition, scope))) return `condition is false: ${condition}`;
    } catch {
      // Left to the run, which reports it with the host and the values.
    }
  }
  return undefined;
}

/**
 * A task's `with` against its type's schema. A value that is still a template is checked after
 * rendering, at run time: here its type cannot be known.
 */
function checkParams(
  schema: TaskDefinition['schema'],
  params: Record<string, unknown>,
  base: PathSegment[],
  err: (path: PathSegment[], message: string) => void,
): void {
  for (const problem of schemaProblems(schema, params, (path) => isTemplateAt(params, path))) {
    err([...base, ...problem.path], problem.message.startsWith(`${formatPath(problem.path)}:`) ? `with.${problem.message}` : problem.message);
  }
}

function isTemplateAt(value: unknown, path: PathSegment[]): boolean {
  const v = valueAt(value, path);
  return typeof v === 'string' && hasTemplate(v);
}

/** The value at `path` inside params, or the string the walk reached first (a template stands for all below it). */
function valueAt(value: unknown, path: PathSegment[]): unknown {
  let v: unknown = value;
  for (const seg of path) {
    if (typeof v === 'string') break;
    v = (v as Record<string | number, unknown> | undefined)?.[seg];
  }
  return v;
}
