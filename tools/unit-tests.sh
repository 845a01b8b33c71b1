#!/usr/bin/env bash
# unit-tests.sh - run every CUnit test binary under a build's tests/ directory.
#
# usage: tools/unit-tests.sh BUILD_DIR/tests
#
# Shows each binary's own output, runs them all even after a failure so one report lists
# every broken module, and exits non-zero if any failed, hung (5 minutes) or if there was
# none at all (a build that produced no tests must not pass). The last line is always
# "unit test binaries: N ok, N failing".
set -uo pipefail

dir=${1:-}
if [ -z "$dir" ]; then
	echo "usage: $0 BUILD_DIR/tests" >&2
	exit 2
fi

ok=0
failing=0
failed_names=()
if [ -d "$dir" ]; then
	mapfile -t tests < <(find "$dir" -type f -name '*_test' -perm -u+x | sort)
else
	tests=()
fi

for test in "${tests[@]}"; do
	echo "==== $test"
	if timeout 300 "$test"; then
		ok=$((ok + 1))
	else
		echo "==== FAILED: $test (exit $?)"
		failing=$((failing + 1))
		failed_names+=("$test")
	fi
done

if [ ${#tests[@]} -eq 0 ]; then
	echo "no test binaries found under $dir"
else
	for name in "${failed_names[@]}"; do
		echo "failed: $name"
	done
fi
echo "unit test binaries: $ok ok, $failing failing"
[ ${#tests[@]} -gt 0 ] && [ "$failing" -eq 0 ]
