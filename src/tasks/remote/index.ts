import type { TaskDefinition } from '../define.js';

/** Task types that work on remote hosts over SSH (ssh-exec, file-patch, file-upload, ...). */
export const remoteTasks: TaskDefinition[] = [];
