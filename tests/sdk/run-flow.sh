#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The SDK flow: generate the client's types from openapi.yaml (openapi-typescript), compile
# flow.test.mts with tsc --strict against them, start a real assetd + PostgreSQL (harness.sh) and
# run the compiled flow with node's test runner. With TEST_RESPONSE_LOG set, every response the
# SDK sees is appended to that file (one JSON line each, see validate-responses.mjs).
#
# Env (all optional): TEST_DATABASE_URL, ASSETD_BIN, ASSETD_MIGRATIONS_DIR, TEST_RESPONSE_LOG.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=harness.sh
. "$here/harness.sh"

sdk_ensure_node_modules
cd "$here"
rm -rf gen
mkdir -p gen
sdk_log "generating TypeScript types from openapi.yaml (openapi-typescript) into tests/sdk/gen/schema.ts"
node_modules/.bin/openapi-typescript ../../openapi.yaml --default-non-nullable false -o gen/schema.ts >gen/openapi-typescript.log 2>&1 ||
    { cat gen/openapi-typescript.log >&2; exit 1; }
sdk_log "type-checking and compiling flow.test.mts (tsc --strict) into tests/sdk/gen/out/"
node_modules/.bin/tsc -p tsconfig.json

sdk_start_server
if [ -n "${TEST_RESPONSE_LOG:-}" ]; then
    sdk_log "logging every SDK response to $TEST_RESPONSE_LOG"
fi
sdk_log "running the flow (node:test; each step's requests and responses, then the test report)"
# The report goes to a file and is printed after the flow, so that it does not interleave with
# the flow's own output.
rc=0
node --test-reporter=spec --test-reporter-destination=gen/flow-report.txt gen/out/flow.test.mjs || rc=$?
echo
cat gen/flow-report.txt 2>/dev/null || true
exit "$rc"
