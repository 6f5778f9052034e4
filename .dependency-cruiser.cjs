/**
 * The architecture, enforced by `npm run lint` (docs/development.md has the picture).
 * Layers, top to bottom; an arrow may only point down (or stay inside its own folder):
 *   cli.ts -> commands/ -> engine/ -> formats/ -> tasks/ -> transport/, pki/, edit/ -> core/
 *   commands/ -> discover/ (read-only discovery) -> formats/, tasks/, transport/, pki/, edit/, core/
 * core/ imports nothing of ours; pki/, edit/ and transport/ only core/; no cycles anywhere.
 */
const layer = (name, allowed) => ({
  name: `${name}-layer`,
  comment: `src/${name}/ may import only ${allowed.length ? allowed.join(', ') : 'nothing of ours'} (and itself)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'import cycles make the layers meaningless', from: {}, to: { circular: true } },
    layer('core', []),
    layer('pki', ['core']),
    layer('edit', ['core']),
    layer('transport', ['core']),
    layer('tasks', ['core', 'transport', 'pki', 'edit']),
    layer('formats', ['core', 'tasks']),
    layer('engine', ['core', 'transport', 'tasks', 'formats']),
    layer('discover', ['core', 'transport', 'pki', 'edit', 'tasks', 'formats']),
    layer('commands', ['core', 'transport', 'pki', 'edit', 'tasks', 'formats', 'engine', 'discover']),
    {
      name: 'cli-is-the-top',
      comment: 'nothing imports src/cli.ts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'tasks-use-transport',
      comment: 'tasks never talk to ssh2 or child_process directly: only src/transport/ does',
      severity: 'error',
      from: { path: '^src/(tasks|engine|formats|pki|edit|core|discover)/' },
      to: { path: '(^|/)node_modules/ssh2/|^child_process$|^node:child_process$', dependencyTypes: ['npm', 'core'] },
    },
    {
      name: 'pki-is-pure',
      comment: 'src/pki/ is bytes in, bytes out: no file system, no processes, no network',
      severity: 'error',
      from: { path: '^src/pki/' },
      to: { path: '^(node:)?(fs|fs/promises|child_process|tls|http|https|dgram)$', dependencyTypes: ['core'] },
    },
    {
      name: 'no-orphans',
      comment: 'a module nothing imports is dead code (entry points excepted)',
      severity: 'error',
      // src/pki/reload-facts.ts: data proven by test/facts/ against the real binaries (issue 19); no stage
      // reads it yet (docs/restarts.md says which restarts it would let the stock stages skip).
      from: { orphan: true, path: '^src/', pathNot: ['^src/cli\\.ts$', '\\.d\\.ts$', '^src/pki/reload-facts\\.ts$'] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
