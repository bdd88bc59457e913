#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) into build/fuzz/, replay the committed
# regression inputs, then fuzz each target for SECONDS.
#
# Usage: tests/fuzz/run.sh SECONDS [TARGET...]      (targets: body query path; default all)
#   SECONDS=0 builds and replays only.
#   FUZZ_SEQUENTIAL=1 fuzzes one target at a time (default: all at once, SECONDS of wall time).
#   FUZZ_CC picks the compiler (default clang).
#
# Replay: every file in tests/fuzz/crashers/<target>/ and tests/fuzz/corpus/<target>/ is run
# through the target; any crash fails the run.
# Fuzzing: the scratch corpus build/fuzz/corpus-<target> (kept between runs) is seeded from
# tests/fuzz/corpus/<target>/; a crash, leak, timeout or out-of-memory input is saved to
# tests/fuzz/crashers/<target>/ -- commit it: it is replayed as a regression test from then on.
#
# Exit status: 0 clean, 1 a replay or fuzz run failed, 2 the set-up or build failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

secs="${1:-}"
if ! [[ "$secs" =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh SECONDS [body|query|path...]" >&2
    exit 2
fi
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(body query path)
for t in "${targets[@]}"; do
    case "$t" in
    body | query | path) ;;
    *) echo "fuzz: unknown target '$t' (body, query, path)" >&2; exit 2 ;;
    esac
done

max_len() { case "$1" in body) echo 70000 ;; *) echo 8192 ;; esac; }

cc="${FUZZ_CC:-clang}"
if ! command -v "$cc" >/dev/null; then
    echo "fuzz: $cc not found (Debian: apt-get install clang)" >&2
    exit 2
fi
rt="$("$cc" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"
if [ ! -f "$rt" ]; then
    echo "fuzz: libFuzzer's runtime is missing ($rt)." >&2
    echo "      Debian 12: apt-get install libclang-rt-14-dev" >&2
    exit 2
fi

out=build/fuzz
mkdir -p "$out"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
start=$SECONDS
if ! make --no-print-directory -f tests/fuzz/Makefile -j"$(nproc)" FUZZ_CC="$cc" \
    >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "fuzz: build failed (full log: $out/build.log)" >&2
    exit 2
fi
echo "fuzz: built ${targets[*]} in $((SECONDS - start)) s"

status=0

list() { find "$1" -maxdepth 1 -type f -printf '%f\n' | sort; }

# The first sanitizer or invariant report of a log, up to its SUMMARY line.
excerpt() {
    sed -n '/ERROR: \|FUZZ INVARIANT\|runtime error\|ALARM: \|out-of-memory/,/^SUMMARY/p' "$1" |
        head -n 60
}

# ---- regression replay ----
for t in "${targets[@]}"; do
    mkdir -p "tests/fuzz/crashers/$t"
    files=()
    for f in "tests/fuzz/crashers/$t"/* "tests/fuzz/corpus/$t"/*; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -eq 0 ] && continue
    log="$out/replay-$t.log"
    # All files in one process; when that fails, one process per file, so that each failing
    # input is named and one crasher does not hide the next.
    failed=0
    if ! "$out/fuzz_$t" -artifact_prefix="$out/replay-$t-" -timeout=30 "${files[@]}" \
        >"$log" 2>&1; then
        : >"$log"
        for f in "${files[@]}"; do
            if ! "$out/fuzz_$t" -artifact_prefix="$out/replay-$t-" -timeout=30 "$f" \
                >>"$log" 2>&1; then
                echo "fuzz: REPLAY FAILED: $t $f" >&2
                failed=$((failed + 1))
            fi
        done
        [ $failed -eq 0 ] && failed=1 # failed together but not alone: still a failure
    fi
    if [ $failed -ne 0 ]; then
        excerpt "$log" >&2
        echo "fuzz: $t: $failed of ${#files[@]} regression inputs fail (log: $log)" >&2
        status=1
    else
        echo "fuzz: $t: ${#files[@]} regression inputs pass"
    fi
done

# ---- fuzzing ----
fuzz_one() {
    local t="$1" corpus="$out/corpus-$1"
    mkdir -p "$corpus"
    cp -f "tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null
    "$out/fuzz_$t" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=25 \
        -report_slow_units=60 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="tests/fuzz/dict/$t.dict" -artifact_prefix="tests/fuzz/crashers/$t/" \
        "$corpus" >"$out/fuzz-$t.log" 2>&1
}

report() {
    local t="$1" rc="$2" before="$3"
    local log="$out/fuzz-$t.log" new
    new="$(comm -13 <(echo "$before") <(list "tests/fuzz/crashers/$t"))"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $t: FAILED (exit $rc)" >&2
        excerpt "$log" >&2
        for f in $new; do
            echo "fuzz: $t: saved tests/fuzz/crashers/$t/$f (keep it: it is now a regression test)" >&2
        done
        echo "fuzz: $t: full log: $log" >&2
        return 1
    fi
    echo "fuzz: $t: clean, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" |
        grep -Eo '[0-9]+$') runs in ${secs} s, corpus $(list "$out/corpus-$t" | wc -l) inputs"
}

if [ "$secs" -gt 0 ]; then
    declare -A pid before
    for t in "${targets[@]}"; do
        before[$t]="$(list "tests/fuzz/crashers/$t")"
    done
    if [ "${FUZZ_SEQUENTIAL:-0}" = 1 ]; then
        for t in "${targets[@]}"; do
            fuzz_one "$t"
            report "$t" $? "${before[$t]}" || status=1
        done
    else
        for t in "${targets[@]}"; do
            fuzz_one "$t" &
            pid[$t]=$!
        done
        for t in "${targets[@]}"; do
            wait "${pid[$t]}"
            report "$t" $? "${before[$t]}" || status=1
        done
    fi
fi

echo "fuzz: $([ $status -eq 0 ] && echo OK || echo FAILED) in $((SECONDS - start)) s"
exit $status
