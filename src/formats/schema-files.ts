import type { TSchema } from '@sinclair/typebox';
import { leaderProbeTypes, taskTypes } from '../tasks/index.js';
import { documentSchemas } from './playbook/schema.js';

/**
 * The JSON Schema files in schemas/: the document schemas, plus one with every task type's
 * params (tasks.schema.json, keyed by type) that editors and docs use. Derived from the same
 * TypeBox definitions the validator uses, so they cannot drift.
 */
export function buildSchemaFiles(): Record<string, unknown> {
  const plain = (s: TSchema) => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
  const files: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(documentSchemas)) {
    files[name] = { $schema: 'http://json-schema.org/draft-07/schema#', ...plain(schema) };
  }
  const byType = (defs: Iterable<{ type: string; description: string; schema: TSchema }>) =>
    Object.fromEntries([...defs].sort((a, b) => a.type.localeCompare(b.type)).map((d) => [d.type, { description: d.description, ...plain(d.schema) }]));
  files['tasks.schema.json'] = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://kcarun.dev/schemas/tasks.schema.json',
    description: 'The `with:` params of every task type, keyed by `type:`.',
    tasks: byType(taskTypes.values()),
    leaderProbes: byType(leaderProbeTypes.values()),
  };
  return files;
}
