/**
 * `npm run build`: type-checks the sources, then bundles src/cli.ts into dist/ and compiles the
 * schema validators ahead of time (scripts/build-validators.ts).
 *
 * Why a bundle: `kcarun validate` spent a quarter of its time opening and linking modules (TypeBox
 * alone is ~200 files). One entry file with the start-up path inside, plus one chunk per lazily
 * imported module (task implementations, the SSH transport), keeps start-up to a few file reads.
 * ssh2 (optional native parts), node-forge, listr2 and zx stay ordinary imports from node_modules:
 * they load only when a run needs them.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src/cli.ts')],
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  external: ['ssh2', 'node-forge', 'listr2', 'zx', 're2-wasm'],
  // The bundled CommonJS packages (yaml, ajv, liquidjs) call require() for Node's built-ins.
  banner: { js: "import { createRequire as kcarunCreateRequire } from 'node:module'; const require = kcarunCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'scripts/build-validators.ts')], { stdio: 'inherit' });
