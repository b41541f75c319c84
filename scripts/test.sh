#!/usr/bin/env bash
# test.sh: what `make test` runs: the whole suite in three builds, a normal
# one (every test, the install test included), ASan+UBSan and TSan (every
# test but the install test, which needs an uninstrumented library), then one
# closing line that adds them up.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

passed=0
failed=0
status=0
run_suite() { # name, build dir, extra cmake arguments
	local name=$1 dir=$2
	shift 2
	echo "== $name build ($dir)"
	if ! cmake -S . -B "$dir" -G Ninja -Wno-dev "$@" >/dev/null ||
	   ! cmake --build "$dir" -j "$jobs" >/dev/null; then
		echo "== $name build failed; rerun: cmake --build $dir" >&2
		status=1
		failed=$((failed + 1))
		return
	fi
	local log="$dir/ctest.log"
	ctest --test-dir "$dir" -j "$jobs" --output-on-failure 2>&1 | tee "$log" | grep -vE '^ *[0-9]+/[0-9]+ Test'
	local summary
	summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
	local total fail
	total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
	fail=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$summary")
	if [[ -z $summary ]]; then
		echo "== $name: ctest printed no summary" >&2
		status=1
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + total - fail))
	failed=$((failed + fail))
	[[ $fail -eq 0 ]] || status=1
}

run_suite normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite asan build-asan -DCMAKE_BUILD_TYPE=Debug -DMTASK_SANITIZE=address -DMTASK_BUILD_EXAMPLES=ON
run_suite tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMTASK_SANITIZE=thread

echo "all builds: $passed passed, $failed failed"
exit $status
