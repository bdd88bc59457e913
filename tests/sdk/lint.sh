#!/usr/bin/env bash
# Lint openapi.yaml (at the repository root) with Redocly CLI, pinned in package.json.
# Works from any directory; installs the pinned tools from package-lock.json when missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -x node_modules/.bin/redocly ]; then
  npm ci --no-audit --no-fund
fi
# Telemetry off: lint must not talk to the network.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec npx --no-install redocly lint --config "$here/redocly.yaml" ../../openapi.yaml "$@"
