#!/usr/bin/env bash
# `npm test`: runs every stage of the suite, even after one fails, so that every area's state is
# known; reports each stage's result and time; exits non-zero at the end if any stage failed.
#
#   scripts/test.sh [STAGE...]      stages: typecheck web-typecheck unit lab (default: all)
#
# The last line printed is the summary CI reads, summed over the node:test stages from the test
# runner's own TAP counts (a typecheck that fails counts as one failed test):
#   tests: N passed, N failed, N skipped
# The lab stage boots the Xen lab once for all its suites (test/support/lab-global.ts). On a
# shared machine, set PVHCTL_LAB_LOCK=/tmp/pvhctl-lab.lock to hold that lock for the lab stage only.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

all=(typecheck web-typecheck unit lab)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=("${all[@]}")
for s in "${stages[@]}"; do
  case " ${all[*]} " in *" $s "*) ;; *) echo "scripts/test.sh: unknown stage '$s' (stages: ${all[*]})" >&2; exit 2 ;; esac
done

out=$(mktemp -d "${TMPDIR:-/tmp}/pvhctl-test.XXXXXX")
trap 'rm -rf "$out"' EXIT
passed=0 failed=0 skipped=0
report=()

# The last value of a top-level `# NAME N` line of a TAP file (node's closing counts), or 0.
count() {
  local v
  v=$(grep -E "^# $1 [0-9]+$" "$2" 2>/dev/null | tail -n 1 | awk '{ print $3 }')
  echo "${v:-0}"
}

# Runs one stage: NAME KIND COMMAND... (KIND: tsc or node). Never stops the script.
stage() {
  local name=$1 kind=$2
  shift 2
  local t0=$SECONDS rc p=0 f=0 s=0
  echo "==> $name: $*"
  if [ "$kind" = node ]; then
    "$@"
    rc=$?
    p=$(count pass "$out/$name.tap")
    f=$(( $(count fail "$out/$name.tap") + $(count cancelled "$out/$name.tap") ))
    s=$(( $(count skipped "$out/$name.tap") + $(count todo "$out/$name.tap") ))
    # a runner that failed without counting a failure (a crash, a failed global setup) is one
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  else
    "$@"
    rc=$?
    [ $rc -ne 0 ] && f=1
  fi
  local secs=$(( SECONDS - t0 )) result=ok
  [ $rc -ne 0 ] && result="FAILED (exit $rc)"
  passed=$(( passed + p )) failed=$(( failed + f )) skipped=$(( skipped + s ))
  if [ "$kind" = node ]; then
    report+=("$(printf '%-14s %-18s %4d s  %d passed, %d failed, %d skipped' "$name" "$result" "$secs" "$p" "$f" "$s")")
  else
    report+=("$(printf '%-14s %-18s %4d s' "$name" "$result" "$secs")")
  fi
  echo "<== $name: $result in ${secs} s"
}

# nt: node --test with spec for people on stdout and TAP into $out/NAME.tap for the counts (the
# reporter options must come before the test files).
node_test() {
  nt=(node --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$out/$1.tap")
}
lock=()
[ -n "${PVHCTL_LAB_LOCK:-}" ] && lock=(flock "$PVHCTL_LAB_LOCK")

t_all=$SECONDS
for s in "${stages[@]}"; do
  case $s in
    typecheck) stage typecheck tsc tsc --noEmit ;;
    web-typecheck) stage web-typecheck tsc tsc -p src/web/static ;;
    unit) node_test unit; stage unit node "${nt[@]}" --test-concurrency=2 'src/**/*.test.ts' ;;
    lab) node_test lab; stage lab node "${lock[@]}" "${nt[@]}" --test-concurrency=1 --test-global-setup=test/support/lab-global.ts 'lab/**/*.test.ts' 'test/**/*.test.ts' ;;
  esac
done

echo
echo "stage          result             time  tests"
printf '%s\n' "${report[@]}"
echo "total $(( SECONDS - t_all )) s"
line="tests: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
