#!/usr/bin/env bash
# `npm run test:parallel` after the build (opt-in; `npm test` runs every file one at a time): the `real` vitest project (the genuine kubeadm cluster, vitest.config.ts)
# runs beside the `main` project, each one file at a time. The real tests mostly wait on the real
# kubelet, so this saves their ~25 min of wall time. The real project's output goes to a file that is
# printed once both are done (two live reporters on one terminal interleave). Extra arguments go to
# both vitest runs (e.g. -t 'a test name'). Exit: non-zero when either project failed.
# Not the default yet: in its one full run here (2026-12-01, load up to 11 while the real lab came up)
# test/lab/lab-kubeadm.test.ts "down stops every lab process" failed once (a node process outlived
# lab down's 2 s of SIGKILL rounds; now 10 s, not re-run in parallel yet). Serial, CI needs ~75 min;
# side by side 53 min here (clean clone, npm ci and lint included).
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp -t kcarun-real-tests.XXXXXX)
npx vitest run --project real "$@" >"$log" 2>&1 &
real=$!
npx vitest run --project main "$@"
main_rc=$?
wait "$real"
real_rc=$?
echo
echo "===== vitest project 'real' (the genuine kubeadm cluster; ran beside the rest) ====="
cat "$log"
rm -f "$log"
echo "main: exit ${main_rc}; real: exit ${real_rc}"
[ "$main_rc" -eq 0 ] && [ "$real_rc" -eq 0 ]
