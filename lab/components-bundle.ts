/**
 * Bundles lab/components once per `up` into one ESM file (esbuild, which tsx already brings), so each
 * emulated binary starts in tens of milliseconds, and writes the wrappers that put them on the nodes'
 * PATH under their real names.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOk } from './exec.js';
import { writeExecutable } from './node-runtime.js';
import type { LabPaths } from './lab-paths.js';

const LAB_SRC = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(LAB_SRC);

export const EMULATED_BINARIES = ['systemctl', 'crictl', 'kubelet', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'prometheus'] as const;

function esbuildBinary(): string {
  const local = join(REPO, 'node_modules', '.bin', 'esbuild');
  if (existsSync(local)) return local;
  throw new Error(`esbuild not found at ${local} (it comes with tsx; run npm install)`);
}

export async function buildComponents(paths: LabPaths): Promise<void> {
  mkdirSync(paths.binDir, { recursive: true });
  await runOk(esbuildBinary(), [
    join(LAB_SRC, 'components', 'main.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--log-level=warning',
    `--outfile=${paths.componentsBundle}`,
    "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  ]);
  for (const name of EMULATED_BINARIES) {
    writeExecutable(join(paths.binDir, name), `#!/bin/sh
# kcarun lab: emulated ${name} (see docs/lab.md)
export KCARUN_LAB_DIR='${paths.root}'
exec ${process.execPath} '${paths.componentsBundle}' ${name} "$@"
`);
  }
}

/** Runs a component directly on the host (the traffic generator). */
export function componentCommand(paths: LabPaths, name: string, args: string[]): string[] {
  return [process.execPath, paths.componentsBundle, name, ...args];
}
