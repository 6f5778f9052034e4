import { KcarunError } from '../../core/errors.js';
import { defineTask, isUnknownUntilRun } from '../define.js';
import { AssertSchema } from './schema.js';

/** Fails the step when a condition is false, e.g. `that: ["etcd_version is defined"]`. */
export const assertTask = defineTask({
  type: 'assert',
  description: 'Checks conditions (the `when:` expression language) against vars and registered results.',
  schema: AssertSchema,
  async run(ctx) {
    const conditions = typeof ctx.params.that === 'string' ? [ctx.params.that] : ctx.params.that;
    for (const condition of conditions) {
      if (!(await ctx.evaluate(condition))) {
        throw new KcarunError('E_ASSERT', `${ctx.params.message ?? 'assertion failed'}: ${condition}`, { host: ctx.host.name });
      }
    }
    return { changed: false, summary: `${conditions.length} condition(s) hold` };
  },
  // Conditions read vars only, so a dry run checks them, and fails as the run would. A condition
  // on a value only the run knows (a placeholder) holds in the dry run; the summary names it.
  async dryRun(ctx) {
    await this.run(ctx);
    const conditions = typeof ctx.params.that === 'string' ? [ctx.params.that] : ctx.params.that;
    const unknown = new Set<string>();
    for (const condition of conditions) {
      for (const name of condition.match(/\b[A-Za-z_][\w]*(?:\.[\w]+)+/g) ?? []) {
        if (isUnknownUntilRun(await ctx.evaluate(name).catch(() => undefined))) unknown.add(name);
      }
    }
    return { changed: false, summary: unknown.size ? `conditions hold as far as a dry run can tell (${[...unknown].join(', ')}: known only once the run has it)` : 'conditions hold' };
  },
});
