/**
 * Writes schemas/*.json from the TypeBox sources (src/formats/playbook/schema.ts and every task type's
 * params), so editors can validate playbooks and inventories. `npm run schemas`; a test fails when
 * the committed files are stale.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchemaFiles } from '../src/formats/schema-files.js';

const dir = join(import.meta.dirname, '..', 'schemas');
for (const [name, schema] of Object.entries(buildSchemaFiles())) {
  writeFileSync(join(dir, name), `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote schemas/${name}`);
}
