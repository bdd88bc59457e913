#!/usr/bin/env bash
# Fuzz smoke: build the libFuzzer targets of tests/fuzz (request bodies, query strings, path
# segments), replay their committed corpus and crashers, and fuzz each for 20 s.
#
# Runs in the release pass only (ASSETD_BIN under build/release/, or unset when run by hand):
# the fuzz targets are their own ASan + UBSan build, so repeating them in the asan pass would
# only double the time. FUZZ_SMOKE_SECONDS overrides the 20 s.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2

if [ -n "${ASSETD_BIN:-}" ] && [[ "$ASSETD_BIN" != */release/* ]]; then
    echo "40-fuzz-smoke: skipped for ASSETD_BIN=$ASSETD_BIN: the fuzz targets are built with" \
        "ASan + UBSan themselves and run once, in the release pass"
    exit 0
fi
exec tests/fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-20}"
