#!/usr/bin/env bash
# `npm test` after the build: the `real` vitest project (the genuine kubeadm cluster, vitest.config.ts)
# runs beside the `main` project, each one file at a time. The real tests mostly wait on the real
# kubelet, so this saves their ~27 min of wall time: CI would take ~75 min serially (`npm run
# test:serial`), over the suite's 60-minute budget. The real project's output goes to a file that is
# printed once both are done (two live reporters on one terminal interleave). Extra arguments go to
# both vitest runs (e.g. -t 'a test name'). Exit: non-zero when either project failed.
# The default since 2026-12-01 (session 7); its full runs here are in the README.
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
