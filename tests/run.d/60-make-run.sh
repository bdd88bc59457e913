#!/usr/bin/env bash
# `make run` (scripts/run.sh) stops what it started: run it in its own process group on a
# private data folder, wait until it serves, send the group SIGINT (what Ctrl-C does), and check
# that assetd and the PostgreSQL it started are gone (no postmaster.pid left). A second run
# starts PostgreSQL again on the same data (a device created in the first run is still there);
# SIGTERM to the script alone stops both too.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${ASSETD_BIN:-}" in
*/asan/*) echo "make-run: skipped under the asan build (it checks the script, not memory)"; exit 0 ;;
esac
bin=${ASSETD_BIN:-$PWD/assetd}
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/make-run.XXXXXX")
chmod 711 "$dir"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
    scripts/pg.sh stop "$dir/data" >/dev/null 2>&1 || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT

# A port below the ephemeral range (an outgoing connection's local port would block listen).
pick_port() {
    port=""
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        if ! ss -tanH "sport = :$p" 2>/dev/null | grep -q .; then port=$p; return 0; fi
    done
    echo "make-run: no free port found"; return 1
}
pick_port

start() { # log -> sets pid; waits for /healthz (another port if this one was taken meanwhile)
    for _ in 1 2 3; do
        env -u DATABASE_URL ASSETD_RUN_DIR="$dir/data" ASSETD_RUN_BIN="$bin" ASSETD_PORT="$port" \
            ASSETD_LISTEN_ADDR=127.0.0.1 setsid scripts/run.sh >"$1" 2>&1 &
        pid=$!
        for _ in $(seq 1 600); do
            curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        wait "$pid" || true
        grep -q "cannot listen" "$1" || break
        pick_port
    done
    pid=""
    echo "make-run: scripts/run.sh did not serve on :$port"; tail -n 30 "$1"; return 1
}

stopped() { # signal target log
    kill "-$1" -- "$2"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then echo "make-run: scripts/run.sh still running 30 s after SIG$1"; return 1; fi
    wait "$pid" || { echo "make-run: scripts/run.sh exited $? after SIG$1"; tail -n 20 "$3"; return 1; }
    pid=""
    if [ -e "$dir/data/pgdata/postmaster.pid" ]; then
        echo "make-run: PostgreSQL still running after SIG$1 (postmaster.pid left)"; tail -n 20 "$3"; return 1
    fi
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        echo "make-run: something still serves :$port after SIG$1"; return 1
    fi
    grep -q "stopped" "$3" || { echo "make-run: the script did not report stopping PostgreSQL"; return 1; }
}

start "$dir/run1.log"
[ -e "$dir/data/pgdata/postmaster.pid" ] || { echo "make-run: no PostgreSQL started in the data folder"; exit 1; }
admin=$(cat "$dir/data/admin_token")
dev=$(curl -fs -X POST "http://127.0.0.1:$port/devices" -H "Authorization: Bearer $admin" -d '{"name":"make-run"}')
id=$(echo "$dev" | sed 's/.*"id":"\([^"]*\)".*/\1/')
stopped INT "-$pid" "$dir/run1.log" # the whole group, as Ctrl-C in a terminal
echo "make-run: Ctrl-C stopped assetd and PostgreSQL"

start "$dir/run2.log"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/devices/$id" -H "Authorization: Bearer $admin")
[ "$code" = 200 ] || { echo "make-run: the device of the first run answered $code in the second"; exit 1; }
stopped TERM "$pid" "$dir/run2.log" # the script alone
echo "make-run: the second run started PostgreSQL again (data kept); SIGTERM stopped both"
