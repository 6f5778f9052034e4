/**
 * Bundles lab/stand-ins once per `up` into one ESM file (esbuild, which tsx already brings), so each
 * program starts in tens of milliseconds, and writes the wrappers that put them on the nodes' PATH
 * under their real names.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOk } from './exec.js';
import { writeExecutable } from './node-runtime.js';
import type { LabPaths } from './lab-paths.js';

const LAB_SRC = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(LAB_SRC);

/** The service manager of the etcd-only nodes and the Prometheus stand-in (a client of etcd). */
export const STAND_IN_BINARIES = ['systemctl', 'prometheus'] as const;

function esbuildBinary(): string {
  const local = join(REPO, 'node_modules', '.bin', 'esbuild');
  if (existsSync(local)) return local;
  throw new Error(`esbuild not found at ${local} (it comes with tsx; run npm install)`);
}

export async function buildStandIns(paths: LabPaths): Promise<void> {
  mkdirSync(paths.binDir, { recursive: true });
  await runOk(esbuildBinary(), [
    join(LAB_SRC, 'stand-ins', 'main.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--log-level=warning',
    `--outfile=${paths.standInsBundle}`,
    "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  ]);
  for (const name of STAND_IN_BINARIES) {
    writeExecutable(join(paths.binDir, name), `#!/bin/sh
# kcarun lab: ${name} stand-in (see docs/lab.md)
export KCARUN_LAB_DIR='${paths.root}'
exec ${process.execPath} '${paths.standInsBundle}' ${name} "$@"
`);
  }
}

/** Runs a program of the bundle directly on the host (the traffic generator). */
export function standInCommand(paths: LabPaths, name: string, args: string[]): string[] {
  return [process.execPath, paths.standInsBundle, name, ...args];
}
