import { KcarunError } from '../core/errors.js';
import type { PlannedStage } from '../formats/playbook/validate.js';
import { hasTemplate, renderString } from '../formats/template.js';
import type { RunOptions } from './types.js';

/**
 * --tags / --skip-tags: a task carries its own tags and its stage's. `always` runs unless skipped
 * by name; with no --tags everything runs.
 */
export function tagsSelect(options: Pick<RunOptions, 'tags' | 'skipTags'>, stageTags: string[] | undefined, taskTags: string[] | undefined): boolean {
  const tags = new Set([...(stageTags ?? []), ...(taskTags ?? [])]);
  if (options.skipTags.some((t) => tags.has(t))) return false;
  if (options.tags.length === 0 || tags.has('always')) return true;
  return options.tags.some((t) => tags.has(t));
}

/** `serial` may be a template (`"{{ kubelet_batch }}"`): a count, a percentage, or a list of them. */
export function renderSerial(serial: PlannedStage['stage']['spec']['serial'], scope: Record<string, unknown>): number | string | (number | string)[] | undefined {
  if (typeof serial !== 'string' || !hasTemplate(serial)) return serial;
  const value = renderString(serial, scope);
  const valid = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0) || (typeof v === 'string' && /^[0-9]+(\.[0-9]+)?%$/.test(v));
  if (valid(value) || (Array.isArray(value) && value.length > 0 && value.every(valid))) return value as number | string | (number | string)[];
  throw new KcarunError('E_SCHEMA', `serial "${serial}" rendered to ${JSON.stringify(value)}: expected a count, a percentage like "25%", or a list of them`);
}
