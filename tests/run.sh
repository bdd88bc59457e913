#!/usr/bin/env bash
# The test runner (`make test` calls it after building the test binaries; run alone, it refuses
# a mode whose binaries are older than the sources: `make <mode>-tests` first).
#
# Starts a throw-away PostgreSQL in a temporary folder, and for each mode of TEST_MODES (default
# "release asan") creates a fresh database assetd_<mode> and runs every built test binary of
# build/<mode>/tests/{unit,integration,http}/ (and their subfolders, e.g. http/reliability/) in
# that order, each under a timeout, with:
#   TEST_DATABASE_URL      libpq URI of that mode's database
#   ASSETD_BIN             build/<mode>/assetd (absolute)
#   ASSETD_MIGRATIONS_DIR  <repo>/migrations
#   TEST_MASTER_KEY        one random master key per mode (every assetd on one database needs it)
#   TEST_TMPDIR            a folder for the tests' own temporary files
#   TEST_MODE              the mode
#   TEST_RESPONSE_LOG      (first mode only) where tests/lib logs every HTTP response, one JSON
#                          line each, for the contract check of run.d/20-contract.sh
#   ASAN_OPTIONS, UBSAN_OPTIONS
# Then runs each extra suite tests/run.d/*.sh (sorted) once, with the same variables for the
# first mode of TEST_MODES and a fresh database assetd_suites; each script counts as one test.
# A suite that cannot run on this host (e.g. no containers) exits 77 after writing the reason
# into $TEST_SKIP_FILE: it is reported as skipped, with the reason, in the summary.
# Prints "N passed, N failed[, N skipped: ...]" last; exits non-zero if anything failed.
#
# Knobs: TEST_MODES, TEST_TIMEOUT (seconds per binary, default 300), TEST_SUITE_TIMEOUT (seconds
# per run.d script, default 900), TEST_FILTER (run only binaries/scripts whose name contains it),
# PG_FSYNC (default off: a throw-away cluster needs no durability).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
root=$PWD
modes=${TEST_MODES:-release asan}
timeout_s=${TEST_TIMEOUT:-300}
suite_timeout_s=${TEST_SUITE_TIMEOUT:-900}
filter=${TEST_FILTER:-}
export LC_ALL=C

passed=0
failed=0
failures=()
skipped=()

tmp=$(mktemp -d /tmp/assetd-tests.XXXXXX) || { echo "run.sh: mktemp failed" >&2; exit 2; }
# As root, pg.sh runs PostgreSQL as the "postgres" user, which must reach its folder.
chmod 711 "$tmp"
pg_started=0

cleanup() {
    local rc=$?
    if [ "$pg_started" = 1 ]; then
        scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

summary() {
    if [ "${#failures[@]}" -gt 0 ]; then
        echo
        echo "Failed:"
        printf '  %s\n' "${failures[@]}"
    fi
    if [ "${#skipped[@]}" -gt 0 ]; then
        echo
        echo "Skipped:"
        printf '  %s\n' "${skipped[@]}"
    fi
    echo "$passed passed, $failed failed${skipped:+, ${#skipped[@]} skipped: ${skipped[*]}}"
}

record() { # name rc seconds [skip reason]
    if [ "$2" -eq 77 ] && [ -n "${4:-}" ]; then
        skipped+=("$1 ($4)")
        echo "=== SKIP $1 ($4, ${3}s)"
    elif [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "=== PASS $1 (${3}s)"
    else
        failed=$((failed + 1))
        local why="exit $2"
        [ "$2" -eq 124 ] && why="timed out"
        [ "$2" -gt 128 ] && [ "$2" -ne 255 ] && why="killed by signal $(($2 - 128))"
        failures+=("$1 ($why)")
        echo "=== FAIL $1 ($why, ${3}s)"
    fi
}

# Runs "$@" under the timeout; returns its status (124 on timeout).
run_timed() { # seconds cmd...
    local t=$1
    shift
    timeout -k 10 "$t" "$@"
}

echo "run.sh: starting PostgreSQL in $tmp/pg"
export PG_FSYNC=${PG_FSYNC:-off}
if ! url=$(scripts/pg.sh start "$tmp/pg"); then
    echo "run.sh: cannot start PostgreSQL" >&2
    failed=1
    failures+=("PostgreSQL did not start")
    summary
    exit 1
fi
pg_started=1
query=${url#*\?}   # host=...&user=...
admin_url="postgresql:///postgres?$query"

fresh_db() { # name -> prints its URL
    PGOPTIONS='-c client_min_messages=warning' psql -q -v ON_ERROR_STOP=1 "$admin_url" -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\"" >&2 ||
        return 1
    echo "postgresql:///$1?$query"
}

# Sets the environment of one mode (database db).
mode_env() { # mode db
    local mode=$1
    TEST_DATABASE_URL=$(fresh_db "$2") || return 1
    export TEST_DATABASE_URL
    export ASSETD_BIN=$root/build/$mode/assetd
    export ASSETD_MIGRATIONS_DIR=$root/migrations
    TEST_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
    export TEST_MASTER_KEY
    export TEST_TMPDIR=$tmp/$mode-$2
    mkdir -p "$TEST_TMPDIR"
    export TEST_MODE=$mode
    # Every response the release-mode HTTP suites see is logged, then validated against
    # openapi.yaml by run.d/20-contract.sh (same content under asan: logged once).
    if [ "$mode" = "${modes%% *}" ]; then
        export TEST_RESPONSE_LOG=$tmp/responses.jsonl
    else
        unset TEST_RESPONSE_LOG
    fi
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}

for mode in $modes; do
    echo
    echo "######## mode: $mode"
    if [ ! -x "build/$mode/assetd" ]; then
        echo "run.sh: build/$mode/assetd is missing (make $mode-tests)" >&2
        failed=$((failed + 1))
        failures+=("$mode: build/$mode/assetd missing")
        continue
    fi
    # This script runs the binaries it finds and builds nothing: after a change to the sources,
    # binaries left from before would pass or fail for code that is no longer there.
    make -q --no-print-directory "$mode-tests" >/dev/null 2>&1
    case $? in
    0) ;;
    1)
        echo "run.sh: build/$mode is older than the sources (make $mode-tests first)" >&2
        failed=$((failed + 1))
        failures+=("$mode: binaries older than the sources")
        continue
        ;;
    *) echo "run.sh: cannot tell whether build/$mode is up to date (make -q failed)" >&2 ;;
    esac
    if ! mode_env "$mode" "assetd_$mode"; then
        failed=$((failed + 1))
        failures+=("$mode: cannot create database assetd_$mode")
        continue
    fi
    for kind in unit integration http; do
        while IFS= read -r -u 3 bin; do
            name=${bin#build/"$mode"/tests/"$kind"/} # e.g. test_sync, reliability/test_reliab_edge
            # Only binaries whose source still exists (a deleted test leaves a stale binary).
            [ -f "tests/$kind/$name.c" ] || continue
            [ -n "$filter" ] && [[ "$mode/$kind/$name" != *"$filter"* ]] && continue
            echo
            echo "=== RUN  $mode/$kind/$name"
            start=$SECONDS
            run_timed "$timeout_s" "$bin"
            rc=$?
            record "$mode/$kind/$name" "$rc" $((SECONDS - start))
        done 3< <(find build/"$mode"/tests/"$kind" -type f -perm -u+x ! -name '*.o' ! -name '*.d' 2>/dev/null | sort)
    done
done

shopt -s nullglob
suites=(tests/run.d/*.sh)
shopt -u nullglob
if [ "${#suites[@]}" -gt 0 ]; then
    first_mode=${modes%% *}
    echo
    echo "######## extra suites (tests/run.d, environment of mode $first_mode)"
    if ! mode_env "$first_mode" assetd_suites; then
        failed=$((failed + 1))
        failures+=("suites: cannot create database assetd_suites")
    else
        export TEST_MODES="$modes"
        for suite in "${suites[@]}"; do
            name=$(basename "$suite")
            [ -n "$filter" ] && [[ "run.d/$name" != *"$filter"* ]] && continue
            echo
            echo "=== RUN  run.d/$name"
            start=$SECONDS
            export TEST_SKIP_FILE=$tmp/skip-$name
            rm -f "$TEST_SKIP_FILE"
            if [ -x "$suite" ]; then
                run_timed "$suite_timeout_s" "$suite"
            else
                run_timed "$suite_timeout_s" bash "$suite"
            fi
            rc=$?
            reason=$(head -c 300 "$TEST_SKIP_FILE" 2>/dev/null | head -n 1)
            record "run.d/$name" "$rc" $((SECONDS - start)) "$reason"
        done
    fi
fi

echo
summary
[ "$failed" -eq 0 ]
