#!/usr/bin/env bash
# Ensure the Debian packages a make target needs are installed.
# Usage: scripts/deps.sh build|test|run|bench
# As root it installs what is missing; otherwise it prints the exact apt-get line and fails.
set -euo pipefail

build_pkgs="gcc make pkg-config libmicrohttpd-dev libjansson-dev libpq-dev libsodium-dev"
case "${1:-build}" in
build) pkgs="$build_pkgs" ;;
run) pkgs="$build_pkgs postgresql" ;;
test) pkgs="$build_pkgs postgresql libcmocka-dev libcurl4-openssl-dev curl clang libclang-rt-14-dev pgbouncer" ;;
bench) pkgs="$build_pkgs postgresql libcurl4-openssl-dev curl wrk" ;;
*) echo "deps.sh: unknown set '$1'" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps.sh: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "deps.sh: missing Debian packages. Run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
