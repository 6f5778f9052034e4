import type { TaskDefinition } from '../define.js';
import { fileFetchTask } from './file-fetch.js';
import { filePatchTask } from './file-patch.js';
import { fileUploadTask } from './file-upload.js';
import { serviceRestartTask } from './service-restart.js';
import { sshExecTask } from './ssh-exec.js';

/** Task types that work on remote hosts over SSH (ssh-exec, file-patch, file-upload, ...). */
export const remoteTasks: TaskDefinition[] = [sshExecTask, filePatchTask, fileUploadTask, fileFetchTask, serviceRestartTask] as TaskDefinition[];
