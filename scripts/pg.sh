#!/usr/bin/env bash
# A private PostgreSQL 15 cluster in a folder, reachable only on a unix socket inside it.
# Usage: scripts/pg.sh start DIR   -> prints the DATABASE_URL of database "assetd"
#        scripts/pg.sh stop DIR
#        scripts/pg.sh url DIR
# Environment: PG_FSYNC (on|off, default on), PG_OPTS (more "-c name=value" server settings).
# initdb and postgres refuse to run as root, so as root the cluster belongs to the "postgres"
# system user (created by the Debian package). The superuser is named "assetd" in both cases.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|url DIR}
dir=$(realpath -m "${2:?usage: pg.sh start|stop|url DIR}")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
data="$dir/pgdata"
sock="$dir/sock"

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() { echo "postgresql:///assetd?host=$sock&user=assetd"; }

case "$cmd" in
start)
    mkdir -p "$dir" "$sock"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir" "$sock"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$data" -U assetd -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$data" -w -t 60 -l "$dir/postgres.log" \
            -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c max_connections=300 -c shared_buffers=256MB -c fsync=${PG_FSYNC:-on} ${PG_OPTS:-}" \
            start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    fi
    "$bin/psql" -q -h "$sock" -U assetd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='assetd'" | grep -q 1 ||
        "$bin/createdb" -h "$sock" -U assetd assetd
    url
    ;;
stop)
    if [ -f "$data/PG_VERSION" ]; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
url) url ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
