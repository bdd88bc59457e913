#!/usr/bin/env bash
# Deploy artefacts: YAML structure of compose and Kubernetes manifests, the systemd unit, and the
# Dockerfile's build stage replayed on the host (no Docker engine here). See deploy/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${ASSETD_BIN:-}" in
*/asan/*) echo "50-deploy: skipped under the asan build (it checks artefacts, not memory)"; exit 0 ;;
esac
exec deploy/validate.sh
