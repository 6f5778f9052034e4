import { createHash } from 'node:crypto';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { KcarunError, KcarunErrorList } from '../../core/errors.js';
import { schemaErrors } from '../schema-check.js';
import { PlaybookSchema, StagesFileSchema, type PlaybookSpec, type StageImportSpec, type StageSpec } from './schema.js';
import { locate, readSourceFile, type PathSegment, type SourceFile } from '../source.js';
import { renderString } from '../template.js';

/** A stage after imports are expanded, with where it came from (for error positions). */
export interface LoadedStage {
  spec: StageSpec;
  source: SourceFile;
  /** Path of the stage inside its source file, e.g. ['stages', 3]. */
  path: PathSegment[];
  /** Vars of the import statements and stage files that led here, outermost first. */
  importVars: Record<string, unknown>;
  /** `when:` of the import statements that led here; all must hold. */
  importWhen: string[];
}

export interface LoadedPlaybook {
  file: string;
  source: SourceFile;
  spec: PlaybookSpec;
  stages: LoadedStage[];
  /** Playbook-level vars: `vars` with the `varsFiles` merged over them (see resolveVarsFiles). */
  vars: Record<string, unknown>;
  /** sha256 over the playbook, every imported file and every vars file: resuming with a changed playbook is refused. */
  checksum: string;
  files: string[];
}

/** Reads a playbook and the stage files it imports; schema errors are all reported at once. */
export async function loadPlaybook(file: string): Promise<LoadedPlaybook> {
  const path = resolve(file);
  const source = await readSourceFile(path);
  const errors = schemaErrors(PlaybookSchema, source.value, (p) => locate(source, p));
  if (errors.length) throw new KcarunErrorList('E_SCHEMA', `${file}: ${errors.length} problem(s)`, errors);
  const spec = source.value as PlaybookSpec;
  const hash = createHash('sha256');
  const files: string[] = [];
  const stages = await expandStages(source, spec.stages, {}, [], [path], hash, files);
  hash.update(source.text);
  files.unshift(path);
  return { file: path, source, spec, vars: spec.vars ?? {}, stages, checksum: hash.digest('hex'), files };
}

/**
 * Loads the playbook's `varsFiles` (names templated with `scope`, e.g. layouts/{{ layout }}.yaml)
 * over its `vars`, and folds their content into the checksum. A missing or malformed file is an
 * error at its entry's position.
 */
export async function resolveVarsFiles(playbook: LoadedPlaybook, scope: Record<string, unknown>): Promise<LoadedPlaybook> {
  const names = playbook.spec.varsFiles ?? [];
  if (names.length === 0) return playbook;
  const hash = createHash('sha256').update(playbook.checksum);
  const vars: Record<string, unknown> = { ...playbook.spec.vars };
  const problems: KcarunError[] = [];
  const files = [...playbook.files];
  for (const [i, name] of names.entries()) {
    const position = locate(playbook.source, ['varsFiles', i]);
    let file: string;
    let rendered: string;
    try {
      rendered = String(renderString(name, scope));
      file = resolve(dirname(playbook.file), rendered);
    } catch (err) {
      problems.push(new KcarunError('E_UNDEFINED_VAR', `varsFiles: ${(err as Error).message}`, { position }, { cause: err }));
      continue;
    }
    // A templated name picks a file in the folder its literal text names (layouts/{{ layout }}.yaml:
    // layouts/); a value such as `../../etc/x` must not make it load any YAML file on the machine.
    const templateAt = name.search(/\{[{%]/);
    if (templateAt >= 0) {
      const literal = name.slice(0, templateAt);
      const folder = resolve(dirname(playbook.file), literal.slice(0, literal.lastIndexOf('/') + 1) || '.');
      const inside = relative(folder, file);
      if (!inside || inside.split(sep).includes('..') || isAbsolute(inside)) {
        problems.push(new KcarunError('E_SCHEMA', `varsFiles: "${name}" renders to ${rendered}, outside ${folder}; a variable picks a file in that folder, it cannot leave it`, { position }));
        continue;
      }
    }
    let source: SourceFile;
    try {
      source = await readSourceFile(file);
    } catch (err) {
      problems.push(new KcarunError('E_SCHEMA', `varsFiles: cannot read ${file}: ${(err as Error).message}`, { position }, { cause: err }));
      continue;
    }
    if (!source.value || typeof source.value !== 'object' || Array.isArray(source.value)) {
      problems.push(new KcarunError('E_SCHEMA', `varsFiles: ${file} must hold a mapping of variables`, { position: locate(source, []) }));
      continue;
    }
    hash.update(source.text);
    files.push(file);
    Object.assign(vars, source.value);
  }
  if (problems.length) throw new KcarunErrorList('E_SCHEMA', `${playbook.file}: ${problems.length} problem(s) in varsFiles`, problems);
  return { ...playbook, vars, checksum: hash.digest('hex'), files };
}

async function expandStages(
  source: SourceFile,
  entries: (StageSpec | StageImportSpec)[],
  inheritedVars: Record<string, unknown>,
  inheritedWhen: string[],
  chain: string[],
  hash: ReturnType<typeof createHash>,
  files: string[],
): Promise<LoadedStage[]> {
  const stages: LoadedStage[] = [];
  const problems: KcarunError[] = [];
  for (const [index, entry] of entries.entries()) {
    if (!('import' in entry)) {
      stages.push({ spec: entry, source, path: ['stages', index], importVars: inheritedVars, importWhen: inheritedWhen });
      continue;
    }
    const target = resolve(dirname(source.file), entry.import);
    const position = locate(source, ['stages', index, 'import']);
    if (chain.includes(target)) {
      problems.push(new KcarunError('E_SCHEMA', `import cycle: ${[...chain, target].join(' -> ')}`, { position }));
      continue;
    }
    let imported: SourceFile;
    try {
      imported = await readSourceFile(target);
    } catch (err) {
      if (err instanceof KcarunError && err.code === 'E_USAGE') {
        problems.push(new KcarunError('E_SCHEMA', `cannot import ${entry.import}: file not found`, { position }, { cause: err }));
        continue;
      }
      throw err;
    }
    const errors = schemaErrors(StagesFileSchema, imported.value, (p) => locate(imported, p));
    if (errors.length) {
      problems.push(...errors);
      continue;
    }
    const stagesFile = imported.value as { vars?: Record<string, unknown>; stages: (StageSpec | StageImportSpec)[] };
    hash.update(imported.text);
    files.push(target);
    // Import-statement vars override the stage file's own defaults.
    const vars = { ...inheritedVars, ...stagesFile.vars, ...entry.vars };
    const when = entry.when ? [...inheritedWhen, entry.when] : inheritedWhen;
    stages.push(...(await expandStages(imported, stagesFile.stages, vars, when, [...chain, target], hash, files)));
  }
  if (problems.length) throw new KcarunErrorList('E_SCHEMA', `${source.file}: ${problems.length} problem(s) in imports`, problems);
  return stages;
}
