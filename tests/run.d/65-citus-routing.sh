#!/usr/bin/env bash
# Beyond one PostgreSQL (deploy/README.md, Citus): every hot-path statement of the catalog is
# routable to one shard by device, or listed as multi-shard by design with its plan
# (tests/citus/routing.mjs; it self-tests its checker on known good and bad statements first).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "citus-routing: node is not installed (Node 20 is needed)"; exit 1; }
exec node tests/citus/routing.mjs
