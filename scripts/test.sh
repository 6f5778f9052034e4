#!/usr/bin/env bash
# `npm test` after the build. Three vitest projects (vitest.config.ts), each one file at a time:
#   main   every test that needs no pinned binary (unit, sshd/etcd integration, the etcd-only loopback lab),
#          in the foreground with its live reporter;
#   facts  the reload facts that run the pinned kube-apiserver/etcd binaries on loopback;
#   real   the tests on the real clusters (kubeadm's, and the hand-installed layout's), one after the other
#          (~50-60 min at CI's load, mostly waiting on the real components).
# First the pinned binaries (scripts/build-lab-binaries.sh: a few seconds when cached, ~17-24 min
# cold on 2 cores), then all three projects side by side. The build goes first, alone: the suite is
# CPU-bound on 2 cores (session 9's emulated lab kept ~1 core busy), and measured beside the main project
# (session 9) the build took more than twice as long, which pushed the real project, the longest
# path, past CI's 90 min. Background output goes to files printed once all are done (live reporters
# on one terminal interleave). Extra arguments go to every vitest run (e.g. -t 'a name').
# KCARUN_SKIP_LAB_BUILD=1 skips the build (facts and real then need a cache that is already there).
# Exit: non-zero when any project failed.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${KCARUN_SKIP_LAB_BUILD:-}" != 1 ]; then
  # A failed build is not fatal here: facts and real then fail with the missing binaries named.
  PATH="$PATH:/usr/local/go/bin" bash scripts/build-lab-binaries.sh || echo "build-lab-binaries failed (exit $?): the facts and real projects will say what is missing" >&2
fi
logs=$(mktemp -d -t kcarun-tests.XXXXXX)
( npx vitest run --project facts --passWithNoTests "$@" >"$logs/facts" 2>&1; echo $? >"$logs/facts.rc" ) &
facts=$!
( npx vitest run --project real --passWithNoTests "$@" >"$logs/real" 2>&1; echo $? >"$logs/real.rc" ) &
real=$!
# main keeps its live reporter and a copy for the digest below.
npx vitest run --project main --passWithNoTests "$@" 2>&1 | tee "$logs/main"
main_rc=${PIPESTATUS[0]}
wait "$facts" "$real"
for part in facts real; do
  echo
  echo "===== vitest project '${part}' (ran beside main) ====="
  cat "$logs/$part"
done
facts_rc=$(cat "$logs/facts.rc" 2>/dev/null || echo 1)
real_rc=$(cat "$logs/real.rc" 2>/dev/null || echo 1)
# The digest comes last because CI shows only the tail of a long log: which tests failed in each
# project, with vitest's own failure lines (the "FAIL" headers and the first lines of each error).
echo
echo "===== digest ====="
for part in main facts real; do
  echo "--- ${part} ---"
  sed 's/\x1b\[[0-9;]*m//g' "$logs/$part" | grep -E '^ *(FAIL|×|Test Files|Tests) |AssertionError|Error: ' | head -40
done
rm -rf "$logs"
echo "main: exit ${main_rc}; facts: exit ${facts_rc}; real: exit ${real_rc}"
[ "$main_rc" -eq 0 ] && [ "$facts_rc" -eq 0 ] && [ "$real_rc" -eq 0 ]
