#!/usr/bin/env bash
# The HTTP suites through pgbouncer (Debian's 1.18) in transaction pooling mode: every assetd the
# test binaries start runs with ASSETD_DB_POOLER=transaction and DATABASE_URL pointing at
# pgbouncer, and so do the tests' own database checks. The binaries run in three lanes at once,
# each lane on a database of its own, so three assetd instances (more while a test runs several)
# are served at the same time by at most 20 server connections in all (default_pool_size = 20
# per pool, max_user_connections = 20 over all pools). statement_timeout, which assetd cannot
# send as a startup option through pgbouncer 1.18, is set by pgbouncer's connect_query, as
# deploy/README.md recommends.
#
# Left out: test_reliab_dbfault and test_startup_retry (they stop the shared PostgreSQL under
# the other lanes and time statement timeouts set per server), test_reliab_rest (reads the
# cluster's files and runs pg_dump, which needs a session), test_sync_crash (a long restore run
# twice: minutes, and it proves nothing more here than test_sync and test_scaleout),
# test_reliab_dbhang and test_reliab_edge (they freeze or restart the shared PostgreSQL and use
# its folder), test_reliab_ops (its own login roles and connection limits, which a pooler
# in front would measure instead of assetd).
# Prints the peak of client and server connections pgbouncer had, and each lane's binaries.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
case "${ASSETD_BIN:-}" in
*/asan/*) echo "pgbouncer: skipped under the asan build (the release build runs it)"; exit 0 ;;
esac
bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$bouncer" ] || { echo "pgbouncer: FAILED: pgbouncer is not installed (scripts/deps.sh test installs it)"; exit 1; }
: "${TEST_DATABASE_URL:?run it through tests/run.sh}"
mode_dir=$(dirname "$ASSETD_BIN")
query=${TEST_DATABASE_URL#*\?}          # host=<pg socket dir>&user=assetd
pg_sock=$(sed 's/.*host=\([^&]*\).*/\1/' <<<"$query")
admin_url="postgresql:///postgres?$query"
exclude=" test_reliab_dbfault test_startup_retry test_reliab_rest test_sync_crash test_reliab_dbhang test_reliab_edge test_reliab_ops "
lanes=3
port=6432

dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/pgbouncer.XXXXXX")
chmod 755 "$dir"
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
sampler=""
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -s "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/userlist.txt" <<TXT
"assetd" ""
TXT
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pg_sock port=5432 connect_query='SET statement_timeout = 5000'

[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = assetd
pool_mode = transaction
default_pool_size = 20
max_user_connections = 20
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"/*
as_owner "$bouncer" -d "$dir/pgbouncer.ini" || { echo "pgbouncer: FAILED: pgbouncer did not start"; cat "$dir/pgbouncer.log"; exit 1; }
console="postgresql:///pgbouncer?host=$dir&port=$port&user=assetd"
for _ in $(seq 1 100); do psql -qtA "$console" -c "SHOW VERSION" >/dev/null 2>&1 && break; sleep 0.1; done
echo "pgbouncer: $(psql -qtA "$console" -c "SHOW VERSION" 2>&1 | head -n 1), pool_mode=transaction, 20 server connections for all"

# Peak of clients (active + waiting) and servers (every state) over all pools, every 0.3 s.
(
    peak_cl=0 peak_sv=0
    while :; do
        read -r cl sv < <(psql -qtA -F' ' "$console" -c "SHOW POOLS" 2>/dev/null |
            awk '$1 != "pgbouncer" { c += $3 + $4; s += $5 + $6 + $7 + $8 + $9 } END { print c + 0, s + 0 }')
        [ "${cl:-0}" -gt "$peak_cl" ] && peak_cl=$cl
        [ "${sv:-0}" -gt "$peak_sv" ] && peak_sv=$sv
        echo "$peak_cl $peak_sv" >"$dir/peak"
        sleep 0.3
    done
) &
sampler=$!

bins=()
for b in "$mode_dir"/tests/http/* "$mode_dir"/tests/http/*/*; do
    rel=${b#"$mode_dir"/tests/http/} # e.g. test_sync, reliability/test_reliab_edge
    [ -f "$b" ] && [ -x "$b" ] && [ -f "tests/http/$rel.c" ] || continue
    [[ "$exclude" == *" $(basename "$rel") "* ]] && continue
    bins+=("$rel")
done

run_lane() { # lane index
    local lane=$1 i rc start
    local db="assetd_bouncer_$lane"
    PGOPTIONS='-c client_min_messages=warning' psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || return 1
    export TEST_DATABASE_URL="postgresql:///$db?host=$dir&port=$port&user=assetd"
    export ASSETD_DB_POOLER=transaction
    export TEST_TMPDIR="$dir/lane$lane"
    unset TEST_RESPONSE_LOG
    mkdir -p "$TEST_TMPDIR"
    for ((i = lane; i < ${#bins[@]}; i += lanes)); do
        start=$SECONDS
        timeout -k 10 "${TEST_TIMEOUT:-300}" "$mode_dir/tests/http/${bins[$i]}" >"$dir/${bins[$i]//\//_}.log" 2>&1
        rc=$?
        echo "${bins[$i]} $rc $((SECONDS - start))" >>"$dir/lane$lane.results"
    done
}

for ((l = 0; l < lanes; l++)); do run_lane "$l" & done
wait_ok=0
for job in $(jobs -p); do [ "$job" = "$sampler" ] && continue; wait "$job" || wait_ok=1; done

failed=0
for ((l = 0; l < lanes; l++)); do
    while read -r name rc secs; do
        if [ "$rc" = 0 ]; then
            echo "pgbouncer: lane $l: PASS $name (${secs}s)"
        else
            echo "pgbouncer: lane $l: FAIL $name (exit $rc, ${secs}s); its output:"
            tail -n 40 "$dir/${name//\//_}.log" | sed 's/^/    /'
            failed=$((failed + 1))
        fi
    done <"$dir/lane$l.results"
done
ran=$(cat "$dir"/lane*.results 2>/dev/null | wc -l)
read -r peak_cl peak_sv <"$dir/peak"
psql -qtA "$console" -c "SHOW STATS" 2>/dev/null | awk -F'|' '$1 ~ /^assetd_bouncer/ { x += $2 } END { print "pgbouncer: " x + 0 " transactions pooled" }'
echo "pgbouncer: peak $peak_cl client connections served by $peak_sv server connections"
if [ "$peak_sv" -gt 20 ]; then echo "pgbouncer: FAILED: more than 20 server connections"; failed=$((failed + 1)); fi
if [ "$ran" -ne "${#bins[@]}" ] || [ "$wait_ok" -ne 0 ]; then
    echo "pgbouncer: FAILED: $ran of ${#bins[@]} binaries ran"; failed=$((failed + 1))
fi
echo "pgbouncer: $((ran - failed)) of ${#bins[@]} HTTP test binaries passed through pgbouncer (transaction mode, $lanes lanes)"
[ "$failed" -eq 0 ]
