import type { TaskDefinition } from '../define.js';
import { caBundleTask } from './ca-bundle.js';
import { caGenerateTask } from './ca-generate.js';
import { caStatusTask } from './ca-status.js';
import { certCheckTask } from './cert-check.js';
import { certInstallTask } from './cert-install.js';
import { certReissueTask } from './cert-reissue.js';

/** Certificate task types (ca-generate, ca-bundle, cert-reissue, cert-install, cert-check). */
export const pkiTasks: TaskDefinition[] = [caGenerateTask, caStatusTask, caBundleTask, certReissueTask, certInstallTask, certCheckTask] as TaskDefinition[];
