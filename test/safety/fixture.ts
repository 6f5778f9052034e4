import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A playbook file in `dir` with the given stages (YAML text, indented as list items). */
export async function writePlaybook(dir: string, name: string, stages: string, vars = ''): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `apiVersion: kcarun/v1\nkind: Playbook\nmetadata: { name: safety, version: 1.0.0 }\n${vars ? `vars: ${vars}\n` : ''}stages:\n${stages}`);
  return file;
}

/** An inventory of hosts that are this machine (connection: local). */
export async function writeLocalInventory(dir: string, hosts = ['h1'], vars = ''): Promise<string> {
  const file = join(dir, 'inventory.yaml');
  await writeFile(file, `apiVersion: kcarun/v1\nkind: Inventory\n${vars ? `vars: ${vars}\n` : ''}hosts:\n${hosts.map((h) => `  ${h}: { connection: local }`).join('\n')}\n`);
  return file;
}

/** Every 40-character window of a PEM's base64 body. */
export function keyWindows(pem: string): Set<string> {
  const b = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const set = new Set<string>();
  for (let i = 0; i + 40 <= b.length; i++) set.add(b.slice(i, i + 40));
  return set;
}

/** A 40-character run of the key's body still readable in `text` (line breaks, markers, JSON escapes removed). */
export function leakedRun(text: string, windows: Set<string>): string | undefined {
  const flat = text.replace(/\\n/g, '\n').replace(/\n[-+ ]?\s*/g, '');
  for (let i = 0; i + 40 <= flat.length; i++) if (windows.has(flat.slice(i, i + 40))) return flat.slice(i, i + 40);
  return undefined;
}
