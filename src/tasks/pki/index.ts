import type { TaskDefinition } from '../define.js';

/** Certificate task types (ca-generate, ca-bundle, cert-reissue, cert-check). */
export const pkiTasks: TaskDefinition[] = [];
