#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# OpenAPI lint: openapi.yaml must pass Redocly CLI's lint with tests/sdk/redocly.yaml (the
# recommended ruleset plus assetd's own rules), via tests/sdk/lint.sh. Installs the pinned tools
# (npm ci from tests/sdk/package-lock.json) when node_modules lacks them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../sdk/harness.sh
. "$root/tests/sdk/harness.sh"
echo "openapi-lint: redocly lint openapi.yaml (rules: tests/sdk/redocly.yaml)"
sdk_ensure_node_modules
bash "$root/tests/sdk/lint.sh"
echo "openapi-lint: openapi.yaml passes"
