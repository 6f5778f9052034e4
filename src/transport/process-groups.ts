import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { recordedGroups } from '../core/process-groups.js';

/**
 * Kills (SIGKILL) the process groups a dead run recorded in `file` that are still alive, and
 * returns their ids (src/core/process-groups.ts keeps the record). A group id is only killed while
 * its leader is still a process-group leader (pgid == pid in /proc), so a reused pid of an
 * unrelated process is left alone.
 */
export function killRecordedGroups(file: string): number[] {
  const killed: number[] = [];
  for (const pgid of recordedGroups(file)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pgid}/stat`, 'utf8');
    } catch {
      continue; // gone already
    }
    // Fields after the command name (in parentheses): state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue;
    if (spawnSync('kill', ['-s', 'KILL', '--', `-${pgid}`], { stdio: 'ignore' }).status === 0) killed.push(pgid);
  }
  return killed;
}
