#!/usr/bin/env bash
# `npm test` after the build. Three vitest projects (vitest.config.ts), each one file at a time:
#   main   every test that needs no pinned binary (unit, sshd/etcd integration, the emulated labs):
#          starts at once, in the foreground, with its live reporter;
#   facts  the reload facts that run the pinned kube-apiserver/etcd binaries on loopback;
#   real   the tests on the genuine kubeadm cluster.
# facts and real need the pinned binaries (scripts/build-lab-binaries.sh, ~17-24 min cold on 2
# cores, a few seconds when cached), so they start in the background once that build is done, and
# run beside main and beside each other. The build keeps its normal priority: it is on the critical
# path (build, then real, ~25 + ~35 min on a slow machine), and the labs' many processes keep their
# share of the CPU anyway. Why in parallel: serially, build + main + real took ~2 h on a slow cold
# machine, over CI's 90 min. Background output goes to files printed once all are done (live
# reporters on one terminal interleave). Extra arguments go to every vitest run (e.g. -t 'a name').
# KCARUN_SKIP_LAB_BUILD=1 skips the build (facts and real then need a cache that is already there).
# Exit: non-zero when any project failed.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d -t kcarun-tests.XXXXXX)
(
  if [ "${KCARUN_SKIP_LAB_BUILD:-}" != 1 ]; then
    t0=$(date +%s)
    PATH="$PATH:/usr/local/go/bin" bash scripts/build-lab-binaries.sh >"$logs/build" 2>&1
    echo "build-lab-binaries: exit $? after $(( $(date +%s) - t0 )) s" >>"$logs/build"
  fi
  # A failed build is not fatal here: facts and real then fail with the missing binaries named.
  npx vitest run --project facts --passWithNoTests "$@" >"$logs/facts" 2>&1 &
  facts=$!
  npx vitest run --project real --passWithNoTests "$@" >"$logs/real" 2>&1
  echo $? >"$logs/real.rc"
  wait "$facts"
  echo $? >"$logs/facts.rc"
) &
background=$!
npx vitest run --project main --passWithNoTests "$@"
main_rc=$?
wait "$background"
for part in build facts real; do
  [ -f "$logs/$part" ] || continue
  echo
  echo "===== ${part} (ran in the background) ====="
  cat "$logs/$part"
done
facts_rc=$(cat "$logs/facts.rc" 2>/dev/null || echo 1)
real_rc=$(cat "$logs/real.rc" 2>/dev/null || echo 1)
rm -rf "$logs"
echo "main: exit ${main_rc}; facts: exit ${facts_rc}; real: exit ${real_rc}"
[ "$main_rc" -eq 0 ] && [ "$facts_rc" -eq 0 ] && [ "$real_rc" -eq 0 ]
