import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { KcarunError, KcarunErrorList } from '../errors.js';
import { schemaErrors } from './schema-check.js';
import { PlaybookSchema, StagesFileSchema, type PlaybookSpec, type StageImportSpec, type StageSpec } from './schema.js';
import { locate, readSourceFile, type PathSegment, type SourceFile } from './source.js';

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
  /** sha256 over the playbook and every imported file: resuming with a changed playbook is refused. */
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
  hash.update(source.doc.toString());
  files.unshift(path);
  return { file: path, source, spec, stages, checksum: hash.digest('hex'), files };
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
    hash.update(imported.doc.toString());
    files.push(target);
    // Import-statement vars override the stage file's own defaults.
    const vars = { ...inheritedVars, ...stagesFile.vars, ...entry.vars };
    const when = entry.when ? [...inheritedWhen, entry.when] : inheritedWhen;
    stages.push(...(await expandStages(imported, stagesFile.stages, vars, when, [...chain, target], hash, files)));
  }
  if (problems.length) throw new KcarunErrorList('E_SCHEMA', `${source.file}: ${problems.length} problem(s) in imports`, problems);
  return stages;
}
