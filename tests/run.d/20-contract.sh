#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Contract check: every response the black-box tests saw must validate against openapi.yaml
# (tests/sdk/validate-responses.mjs: operation by path template + method, declared status,
# Content-Type, body schema, required headers, problem+json consistency).
#
# Under tests/run.sh the C suites ran first and appended one JSON line per response to
# TEST_RESPONSE_LOG; that log is validated. Standalone (TEST_RESPONSE_LOG unset or empty), the
# SDK flow (tests/sdk/run-flow.sh) is run with logging on and its responses are validated.
# Set CONTRACT_REQUIRE_LOG=1 to fail instead when TEST_RESPONSE_LOG is set but empty.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../sdk/harness.sh
. "$root/tests/sdk/harness.sh"
if sdk_is_asan; then
    echo "contract: skipped for the ASan build ($ASSETD_BIN): the contract is checked against the release build"
    exit 0
fi
sdk_ensure_node_modules
validator="$root/tests/sdk/validate-responses.mjs"

if [ -n "${TEST_RESPONSE_LOG:-}" ] && [ -s "$TEST_RESPONSE_LOG" ]; then
    echo "contract: validating the $(wc -l <"$TEST_RESPONSE_LOG") response(s) the test suites logged in $TEST_RESPONSE_LOG"
    exec node "$validator" "$TEST_RESPONSE_LOG"
fi

if [ -n "${TEST_RESPONSE_LOG:-}" ]; then
    if [ "${CONTRACT_REQUIRE_LOG:-0}" = 1 ]; then
        echo "contract: TEST_RESPONSE_LOG=$TEST_RESPONSE_LOG is empty or missing: the test suites logged no response" >&2
        exit 1
    fi
    echo "contract: NOTE: TEST_RESPONSE_LOG=$TEST_RESPONSE_LOG is empty or missing (the C suites logged no response);"
    echo "contract: validating the SDK flow's responses instead"
else
    echo "contract: TEST_RESPONSE_LOG is not set: running the SDK flow with response logging, then validating its responses"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
flow_rc=0
TEST_RESPONSE_LOG="$log" bash "$root/tests/sdk/run-flow.sh" || flow_rc=$?
echo
[ -s "$log" ] || { echo "contract: the SDK flow logged no response (it exited $flow_rc)"; exit 1; }
contract_rc=0
node "$validator" "$log" || contract_rc=$?
[ "$flow_rc" -eq 0 ] || { echo "contract: FAILED (the SDK flow that produced the log exited $flow_rc)"; exit 1; }
exit "$contract_rc"
