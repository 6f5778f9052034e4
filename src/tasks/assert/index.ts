import { KcarunError } from '../../core/errors.js';
import { defineTask } from '../define.js';
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
  async dryRun(ctx) {
    // Conditions read vars only, so checking them changes nothing.
    await this.run(ctx);
    return { changed: false, summary: 'conditions hold' };
  },
});
