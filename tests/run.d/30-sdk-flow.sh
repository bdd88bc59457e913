#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# SDK flow: a TypeScript client generated from openapi.yaml (openapi-typescript types, compiled
# with tsc --strict; openapi-fetch) drives a real assetd + PostgreSQL through the seed's sync
# scenario (tests/sdk/flow.test.mts, run by tests/sdk/run-flow.sh): two devices of one account,
# the app on each, the seed's asset on the old one, backup, restore onto the new one, sync result
# and the restored secret, plus negative cases. Every response the SDK sees is then validated
# against openapi.yaml, and appended to TEST_RESPONSE_LOG when that is set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../sdk/harness.sh
. "$root/tests/sdk/harness.sh"
if sdk_is_asan; then
    echo "sdk-flow: skipped for the ASan build ($ASSETD_BIN): the SDK flow tests the contract, on the release build"
    exit 0
fi
sdk_ensure_node_modules
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "sdk-flow: generated TypeScript client (openapi-typescript + openapi-fetch) against a real assetd"
flow_rc=0
TEST_RESPONSE_LOG="$log" bash "$root/tests/sdk/run-flow.sh" || flow_rc=$?
if [ -n "${TEST_RESPONSE_LOG:-}" ]; then
    cat "$log" >>"$TEST_RESPONSE_LOG"
fi
contract_rc=0
if [ -s "$log" ]; then
    echo
    echo "sdk-flow: validating the SDK's responses against openapi.yaml"
    node "$root/tests/sdk/validate-responses.mjs" "$log" || contract_rc=$?
fi
if [ "$flow_rc" -ne 0 ]; then
    echo "sdk-flow: FAILED (the flow exited $flow_rc)"
    exit 1
fi
[ "$contract_rc" -eq 0 ] || { echo "sdk-flow: FAILED (the SDK's responses do not all match openapi.yaml)"; exit 1; }
