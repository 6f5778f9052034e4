import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * The process groups of local commands in flight, kept in a file of the state dir while they run.
 * A kcarun killed with SIGKILL cannot stop its children (each local command is its own process
 * group, so a timeout kills a whole pipeline); the next run that takes over its lock reads the
 * file and kills the groups still alive before resuming, so a resumed step never runs beside the
 * old one (issue 13, item 5).
 */
let recordFile: string | undefined;
const live = new Set<number>();

/** From now on, record process groups in `file` (the state dir's process-groups.json). */
export function recordProcessGroupsIn(file: string | undefined): void {
  recordFile = file;
  flush();
}

/** A local command started as the leader of process group `pgid`; call the result when it ended. */
export function trackProcessGroup(pgid: number): () => void {
  live.add(pgid);
  flush();
  return () => {
    live.delete(pgid);
    flush();
  };
}

function flush(): void {
  if (!recordFile) return;
  try {
    const tmp = `${recordFile}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ groups: [...live] })}\n`, { mode: 0o600 });
    renameSync(tmp, recordFile);
  } catch {
    // Recording is a safeguard for the next run; a full disk must not fail this command.
  }
}

/** The process groups a run recorded in `file` (none when it is missing or unreadable). */
export function recordedGroups(file: string): number[] {
  try {
    const groups = (JSON.parse(readFileSync(file, 'utf8')) as { groups?: unknown }).groups;
    return Array.isArray(groups) ? groups.filter((g): g is number => Number.isInteger(g) && g > 1) : [];
  } catch {
    return [];
  }
}
