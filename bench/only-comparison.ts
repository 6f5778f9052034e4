/**
 * What `npm run bench -- --only NAME` compares, for the kcarun-against-the-script names (bench/run.ts;
 * `scale` is bench/scale.ts, not a comparison). Kept apart from bench/run.ts, which runs on import, so
 * a unit test can check the names (test/bench/only-comparison.test.ts).
 *
 * `rotation` is rotate-ca on the genuine kubeadm cluster since the emulated comparison was removed
 * (issue 18); `real-rotation`, its earlier name, stays accepted so old command lines work. Both write
 * real-rotation-vs-script.json: rotation-vs-script.json holds the emulated lab's last figures, which a
 * real run must not overwrite as if they were the same measurement.
 */
import type { COMPARISONS } from './rotation-vs-script.js';

export const ONLY_COMPARISON = {
  rotation: { comparison: 'rotate-ca-real', results: 'real-rotation' },
  'real-rotation': { comparison: 'rotate-ca-real', results: 'real-rotation' },
  'etcd-rotation': { comparison: 'etcd-ca', results: 'etcd-rotation' },
} as const satisfies Record<string, { comparison: keyof typeof COMPARISONS; results: string }>;

export type OnlyComparisonName = keyof typeof ONLY_COMPARISON;

/** The comparison an `--only` value names; throws naming the accepted values for any other. */
export function onlyComparison(name: string): (typeof ONLY_COMPARISON)[OnlyComparisonName] {
  if (!Object.hasOwn(ONLY_COMPARISON, name)) throw new Error(`--only ${name}: "rotation" (or its old name "real-rotation"), "etcd-rotation" or "scale"`);
  return ONLY_COMPARISON[name as OnlyComparisonName];
}
