#!/usr/bin/env bash
# `make run`: a private PostgreSQL in ./.data (unless DATABASE_URL is set), a dev master key and
# admin token generated once into ./.data, then assetd on :8080 (ASSETD_PORT to change).
# Ctrl-C (or SIGTERM to this script) stops assetd and then the PostgreSQL this script started;
# the next `make run` starts it again on the same data.
# Knobs for tests: ASSETD_RUN_DIR (default .data), ASSETD_RUN_BIN (default ./assetd).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ASSETD_RUN_DIR:-.data}
bin=${ASSETD_RUN_BIN:-./assetd}
mkdir -p "$data"
data=$(realpath "$data")
pg_started=0
stop_pg() {
    if [ "$pg_started" = 1 ]; then
        scripts/pg.sh stop "$data" && echo "PostgreSQL in $data/pgdata stopped"
    fi
}
trap stop_pg EXIT
if [ -z "${DATABASE_URL:-}" ]; then
    DATABASE_URL=$(scripts/pg.sh start "$data")
    pg_started=1
    export DATABASE_URL
    echo "PostgreSQL: private cluster in $data/pgdata (stopped again when assetd stops)"
fi
umask 077
[ -s "$data/master_key" ] || head -c 32 /dev/urandom | base64 > "$data/master_key"
[ -s "$data/admin_token" ] || head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' > "$data/admin_token"
export ASSETD_MASTER_KEY_FILE=$data/master_key
export ASSETD_ADMIN_TOKEN_FILE=$data/admin_token
export ASSETD_MIGRATIONS_DIR=$PWD/migrations
port=${ASSETD_PORT:-8080}
admin=$(cat "$data/admin_token")
cat <<TXT

assetd is starting on http://localhost:$port (Ctrl-C stops it). Try it with curl:

  A=$admin
  # register a device, then install an app on it
  DEV=\$(curl -s -X POST localhost:$port/devices -H "Authorization: Bearer \$A" -d '{"name":"phone","accountId":"alice"}')
  DEV_ID=\$(echo "\$DEV" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  APP=\$(curl -s -X POST localhost:$port/devices/\$DEV_ID/apps -H "Authorization: Bearer \$A" -d '{"appId":"com.example.notes"}')
  T=\$(echo "\$APP" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  # add: secret "demo_pwd" (base64 ZGVtb19wd2Q=), alias demo_alias, label demo_label, TRUSTED_DEVICE
  curl -s -X POST localhost:$port/assets -H "Authorization: Bearer \$T" \\
       -d '{"secret":"ZGVtb19wd2Q=","alias":"demo_alias","dataLabelNormal1":"demo_label","syncType":["TRUSTED_DEVICE"]}'
  # query by alias without and with the secret
  curl -s "localhost:$port/assets?alias=demo_alias" -H "Authorization: Bearer \$T"
  curl -s "localhost:$port/assets/demo_alias?returnType=ALL" -H "Authorization: Bearer \$T"
  # update a label, then remove
  curl -s -X PATCH localhost:$port/assets/demo_alias -H "Authorization: Bearer \$T" -d '{"dataLabelNormal1":"new_label"}'
  curl -s -X DELETE localhost:$port/assets/demo_alias -H "Authorization: Bearer \$T" -o /dev/null -w '%{http_code}\n'

TXT
# Not exec'd: this shell stays to stop PostgreSQL afterwards. assetd runs in the background
# (where a non-interactive shell would ignore SIGINT for it), so Ctrl-C and SIGTERM reach this
# shell and are passed on as SIGTERM, assetd's graceful stop.
"$bin" serve &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
set +e
while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break # a trap interrupted the wait: wait again
done
exit "$rc"
