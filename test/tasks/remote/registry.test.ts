import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { TaskDefinition } from '../../../src/tasks/define.js';
import { taskTypes } from '../../../src/tasks/index.js';

const remoteTasks: TaskDefinition[] = ['ssh-exec', 'file-patch', 'file-upload', 'file-fetch', 'service-restart'].map((t) => taskTypes.get(t)!);

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** CommonJS packages loaded after importing `module` in a fresh node process. */
function heavyPackagesLoadedBy(module: string): string[] {
  const script = `
    await import(${JSON.stringify(module)});
    const { createRequire } = await import('node:module');
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const names = new Set(cache.map((k) => /node_modules\\/(ssh2|node-forge|ssh-config)\\//.exec(k)?.[1]).filter(Boolean));
    console.log(JSON.stringify([...names].sort()));`;
  return JSON.parse(execFileSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })) as string[];
}

describe('remote task registry', () => {
  it('has the five task types, each with a valid JSON schema', () => {
    expect(remoteTasks.map((t) => t?.type)).toEqual(['ssh-exec', 'file-patch', 'file-upload', 'file-fetch', 'service-restart']);
    const ajv = new Ajv({ strict: false });
    for (const t of remoteTasks) expect(() => ajv.compile(t.schema)).not.toThrow();
    const patch = ajv.compile(remoteTasks[1]!.schema);
    expect(patch({ path: '/x', edits: [{ op: 'set-flag', in: 'manifest', flag: 'a', value: 'b' }] })).toBe(true);
    expect(patch({ path: '/x', edits: [{ op: 'set-flag', in: 'pod', flag: 'a', value: 'b' }] })).toBe(false);
    const upload = ajv.compile(remoteTasks[2]!.schema);
    // A YAML `mode: 0600` arrives as the number 600: refused, only quoted octal strings pass.
    expect(upload({ dest: '/k', artifact: 'k', mode: 600 })).toBe(false);
    expect(upload({ dest: '/k', artifact: 'k', mode: '0600' })).toBe(true);
  });

  it('does not load ssh2 or node-forge when the whole task registry is imported (kcarun validate stays fast)', () => {
    expect(heavyPackagesLoadedBy('./src/tasks/index.ts')).toEqual([]);
    // The check itself works: the transport does load them.
    expect(heavyPackagesLoadedBy('./src/transport/ssh.ts')).toContain('ssh2');
  });

  it('documents every task type and param in docs/tasks.md', () => {
    const doc = readFileSync(new URL('../../../docs/tasks.md', import.meta.url), 'utf8');
    for (const t of remoteTasks) {
      expect(doc).toContain(`## \`${t.type}\``);
      const props = Object.keys((t.schema as unknown as { properties: Record<string, unknown> }).properties);
      for (const p of props) expect(doc, `${t.type}.${p}`).toContain(`\`${p}\``);
    }
  });
});
