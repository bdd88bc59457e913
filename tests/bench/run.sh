#!/usr/bin/env bash
# `make bench` (after scripts/deps.sh bench and make assetd): one benchmark run on this machine.
# Starts a private PostgreSQL (scripts/pg.sh; fsync on, synchronous_commit on, wal_init_zero off)
# and assetd,
# measures four floors and assetd against them (and batch-add against POST /assets committed one
# by one), prints one
# table with issue #11's targets, writes bench-out/bench.json.
# docs/performance.md says what each figure means and how it is measured.
#
# Knobs (environment):
#   BENCH_WORKERS  ASSETD_REQUEST_WORKERS (the requests that run at once, so assetd's database
#                  concurrency) = pgbench clients of floors B, C and D (default 8)
#   BENCH_HTTP_THREADS  ASSETD_HTTP_THREADS = floor_mhd's thread pool (default: cores)
#   BENCH_SECONDS  length of each throughput / latency run (default 10)
#   BENCH_PORT     assetd's port on 127.0.0.1 (default 18480; floor_mhd uses the next one)
#   BENCH_OUT      output folder (default bench-out)
# Other ASSETD_* variables of the environment reach assetd unchanged, e.g. ASSETD_AUTH_CACHE_MS=0
# to measure without the principal cache (on by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH=$ROOT/tests/bench
OUT=${BENCH_OUT:-$ROOT/bench-out}
WORKERS=${BENCH_WORKERS:-8}
HTTP_THREADS=${BENCH_HTTP_THREADS:-$(nproc)}
DUR=${BENCH_SECONDS:-10}
CONNS=64           # wrk connections of the throughput runs (and of the paced runs)
RSS_CONNS=1000     # keep-alive connections of the memory run
RSS_SECONDS=6
RECORDS=100000     # assets seeded on the old device, backed up, restored
SEED_CONNS=64
SYNC_WORKERS=2
PORT=${BENCH_PORT:-18480}
FLOOR_PORT=$((PORT + 1))
BASE=http://127.0.0.1:$PORT
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
T_START=$(date +%s)

ASSETD_PID="" FLOOR_PID="" SAMPLER_PID=""
TMP=$(mktemp -d /tmp/assetd-bench.XXXXXX)
chmod 755 "$TMP" # as root, pg.sh runs PostgreSQL as "postgres", which must reach $TMP/pg
cleanup() {
    local rc=$?
    set +e
    for pid in "$SAMPLER_PID" "$FLOOR_PID" "$ASSETD_PID"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    "$ROOT/scripts/pg.sh" stop "$TMP/pg" >/dev/null 2>&1
    # assetd logs every request by default: keep its errors and its last lines only.
    if [ -f "$TMP/assetd.log" ]; then
        { grep -v '"level":"info"' "$TMP/assetd.log" | head -n 200
          echo "--- last lines ---"
          tail -n 100 "$TMP/assetd.log"; } >"$OUT/assetd.log"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}
# key=value field of a summary line
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# string / number member of a compact JSON object (assetd answers in jansson's compact form)
jstr() { printf '%s' "$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }
jnum() { printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "null"; else printf "%.3f", a / b }'; }
fge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "null" && a != "" && a + 0 >= b + 0) }'; }
flt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "null" && a != "" && a + 0 < b + 0) }'; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
load1() { cut -d' ' -f1 /proc/loadavg; }
LOADS=""
note_load() { LOADS="$LOADS${LOADS:+, }\"$1\": $(load1)"; }

for tool in wrk curl cc pkg-config; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh bench)"
done
[ -x "$PGBIN/pgbench" ] || die "pgbench not found under $PGBIN"
[ -x ./assetd ] || die "./assetd is missing (make assetd)"
port_free "$PORT" || die "port $PORT is in use (set BENCH_PORT)"
port_free "$FLOOR_PORT" || die "port $FLOOR_PORT is in use (set BENCH_PORT)"
# 1,000 client sockets in wrk plus 1,000 in assetd, in one session.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 4096 ] || die "open files limit $(ulimit -n) is below 4096"
mkdir -p "$OUT"
rm -f "$OUT"/wrk-*.txt "$OUT"/pgbench-*.txt "$OUT"/pace-*.txt "$OUT"/pace-*.log \
    "$OUT"/{table.txt,bench.json,assetd.log,seed.log,floor_mhd.log}
CORES=$(nproc)
# Busy CPU time of the whole machine (clock ticks), to tell at the end how much of it went to
# processes other than this benchmark's (other users of a shared machine).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
BUSY0=$(busy_ticks)
LOAD_START=$(load1)
note_load start
if awk -v l="$LOAD_START" -v c="$CORES" 'BEGIN { exit !(l > c / 2) }'; then
    log "WARNING: load average $LOAD_START on $CORES cores before the run: figures will be low and noisy"
fi

# ---- helpers: floor_mhd and loadgen ----
log "building floor_mhd and loadgen"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -std=c11 -Wall -Wextra -o "$TMP/floor_mhd" "$BENCH/floor_mhd.c" \
    $(pkg-config --cflags --libs libmicrohttpd) -lpthread
cc -O2 -std=c11 -Wall -Wextra -o "$TMP/loadgen" "$BENCH/loadgen.c" -lm

# ---- the machine's price of fresh memory ----
# Writing 128 MiB into page-cache pages never touched before (a new file in the folder that will
# hold PostgreSQL's data) against writing the same pages again. On bare metal the two are within
# a few times of each other; on a VM whose freed memory goes back to the host (free page
# reporting), each new page is faulted in by the host and the first write can be 30-50 x slower.
# Every figure that writes new data (POST, batch-add, the restore: new heap and WAL pages) pays
# that price, so the table shows it beside them (docs/performance.md, "The machine").
fresh_pages() { # NAME -> FRESH_MBS, REWRITE_MBS
    local f=$TMP/fresh-pages.bin t0 t1 t2
    t0=$(date +%s.%N)
    dd if=/dev/zero of="$f" bs=1M count=128 2>/dev/null
    t1=$(date +%s.%N)
    dd if=/dev/zero of="$f" bs=1M count=128 conv=notrunc 2>/dev/null
    t2=$(date +%s.%N)
    rm -f "$f"
    FRESH_MBS=$(calc %.0f "128 * 1.048576 / ($t1 - $t0)")
    REWRITE_MBS=$(calc %.0f "128 * 1.048576 / ($t2 - $t1)")
    log "  $1: new page-cache pages written at $FRESH_MBS MB/s, the same pages again at $REWRITE_MBS MB/s"
}
log "the machine: writing into new and into used page-cache pages"
fresh_pages start
FRESH_START=$FRESH_MBS REWRITE_START=$REWRITE_MBS

# ---- PostgreSQL (unix socket only) ----
log "starting PostgreSQL"
# A fresh cluster creates every WAL segment it writes, zero-filling 16 MiB under the WAL write
# lock (every ~0.5 s under batch load), where a cluster in service recycles them: without the
# zero fill the runs see the steady state. Durability is unchanged (fsync, synchronous_commit).
DATABASE_URL=$(PG_FSYNC=on PG_OPTS="-c wal_init_zero=off" "$ROOT/scripts/pg.sh" start "$TMP/pg")
SOCK=$TMP/pg/sock
psql_q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -U assetd "$@"; }
PG_VERSION=$(psql_q -d assetd -tAc 'SHOW server_version' | cut -d' ' -f1)
[ "$(psql_q -d assetd -tAc 'SHOW synchronous_commit')" = on ] || die "synchronous_commit is off"
[ "$(psql_q -d assetd -tAc 'SHOW fsync')" = on ] || die "fsync is off"
PG_POSTMASTER=$(head -n 1 "$TMP/pg/pgdata/postmaster.pid")

SECRET=$(head -c 1024 /dev/urandom | base64 -w0)
SEALED_HEX=$(head -c 1064 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
export BENCH_SECRET=$SECRET BENCH_LUA_DIR=$BENCH/lua BENCH_ALIASES=$RECORDS BENCH_PREFIX=s

# CPU time (clock ticks, utime + stime) of assetd, and of the whole PostgreSQL cluster: its live
# processes plus, through the postmaster's cutime + cstime, the backends that exited (pgbench's).
# /proc/PID/stat, with "PID (comm) " cut off (comm may hold spaces): $2 is the parent,
# $12 + $13 utime + stime, $14 + $15 the reaped children's.
ticks() { cat "$1" 2>/dev/null | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'; }
pg_ticks() {
    # A process may exit between the glob and the read: cat then fails, which is no error here.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$PG_POSTMASTER" '{
        pid = $1; sub(/^.*\) /, "")
        if ($2 == pm) s += $12 + $13
        if (pid == pm) s += $12 + $13 + $14 + $15
    } END { print s + 0 }'
}
HZ=$(getconf CLK_TCK)
cpu_begin() { C_A0=$(ticks "/proc/$ASSETD_PID/stat"); C_P0=$(pg_ticks); }
# cpu_end REQUESTS -> CPU_A, CPU_P: microseconds of CPU per request in assetd / PostgreSQL
cpu_end() {
    local a1 p1
    a1=$(ticks "/proc/$ASSETD_PID/stat") p1=$(pg_ticks)
    CPU_A=$(calc %.0f "($a1 - $C_A0) * 1e6 / $HZ / ($1 > 0 ? $1 : 1)")
    CPU_P=$(calc %.0f "($p1 - $C_P0) * 1e6 / $HZ / ($1 > 0 ? $1 : 1)")
}

cpu_end_pg() {
    sleep 0.5 # the postmaster reaps the exited backends
    CPU_P=$(calc %.0f "($(pg_ticks) - $C_P0) * 1e6 / $HZ / ($1 > 0 ? $1 : 1)")
    log "  CPU per transaction: PostgreSQL $CPU_P us"
}

# run_wrk NAME CONNS SECONDS SCRIPT URL -> the WRK summary line in $W, req/s in $RPS
run_wrk() {
    timeout $(($3 + 60)) wrk -t2 -c"$2" -d"$3s" --timeout 10s -s "$BENCH/lua/$4" "$5" \
        >"$OUT/wrk-$1.txt" 2>&1 || die "wrk $1 failed (see $OUT/wrk-$1.txt)"
    W=$(grep '^WRK ' "$OUT/wrk-$1.txt" | tail -n 1)
    [ -n "$W" ] || die "wrk $1 printed no summary"
    local req errs
    req=$(field "$W" requests)
    errs=$(($(field "$W" err_connect) + $(field "$W" err_read) + $(field "$W" err_write) +
        $(field "$W" err_status) + $(field "$W" err_timeout)))
    RPS=$(calc %.1f "$(field "$W" rps)")
    log "  $1: $RPS req/s, p99 $(field "$W" lat_p99_ms) ms, $req requests, $errs errors"
    [ "$errs" -le $((req / 100)) ] || die "wrk $1: $errs errors in $req requests"
}
# run_assetd_wrk: run_wrk with assetd's CPU per request
run_assetd_wrk() {
    cpu_begin
    run_wrk "$@"
    cpu_end "$(field "$W" requests)"
    log "  CPU per request: assetd $CPU_A us, PostgreSQL $CPU_P us"
}
# run_pgbench NAME ARGS... -> $P_TPS, $P_LAT
run_pgbench() {
    local name=$1 failed
    shift
    timeout $((DUR + 60)) "$PGBIN/pgbench" -n -M prepared -c "$WORKERS" -j 2 -T "$DUR" \
        -h "$SOCK" -U assetd "$@" assetd_floor >"$OUT/pgbench-$name.txt" 2>&1 ||
        die "pgbench $name failed (see $OUT/pgbench-$name.txt)"
    P_TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/pgbench-$name.txt" | head -n 1)
    P_LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$OUT/pgbench-$name.txt")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/pgbench-$name.txt")
    [ -n "$P_TPS" ] || die "pgbench $name printed no tps"
    [ "${failed:-0}" -eq 0 ] || die "pgbench $name: $failed failed transactions"
    P_TPS=$(calc %.1f "$P_TPS")
    log "  $name: $P_TPS tx/s, mean latency $P_LAT ms"
    P_TX=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUT/pgbench-$name.txt")
}
# run_pace NAME TOKEN RATE MODE ARG [BASE] -> $L
run_pace() {
    L=$(timeout $((DUR + 60)) "$TMP/loadgen" pace "${6:-$BASE}" "$2" "$3" "$DUR" "$CONNS" "$4" "$5" \
        2>"$OUT/pace-$1.log") || die "paced $1 failed: $L $(head -n 5 "$OUT/pace-$1.log")"
    echo "$L" >"$OUT/pace-$1.txt"
    log "  achieved $(field "$L" achieved_rate) req/s; latency p50 $(field "$L" p50_ms) ms," \
        "p99 $(field "$L" p99_ms) ms, p99.9 $(field "$L" p999_ms) ms"
}

# ---- floor A: minimal libmicrohttpd server (before assetd runs) ----
log "floor A: floor_mhd GET, $CONNS connections, $HTTP_THREADS threads, ${DUR}s"
"$TMP/floor_mhd" "$FLOOR_PORT" "$HTTP_THREADS" 2>"$OUT/floor_mhd.log" &
FLOOR_PID=$!
for _ in $(seq 1 50); do port_free "$FLOOR_PORT" || break; sleep 0.1; done
note_load floorA
run_wrk floorA "$CONNS" "$DUR" floor_get.lua "http://127.0.0.1:$FLOOR_PORT/"
FLOOR_A=$RPS FLOOR_A_P99=$(field "$W" lat_p99_ms)
# The memory floor: libmicrohttpd alone, same threads, same $RSS_CONNS keep-alive connections.
log "floor A memory: floor_mhd with $RSS_CONNS keep-alive connections, ${RSS_SECONDS}s"
run_wrk floorA_rss "$RSS_CONNS" "$RSS_SECONDS" floor_get.lua "http://127.0.0.1:$FLOOR_PORT/"
FLOOR_A_RSS=$(calc %.1f "$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$FLOOR_PID/status") / 1024")
log "  floor_mhd VmHWM $FLOOR_A_RSS MiB"
kill -TERM "$FLOOR_PID"
wait "$FLOOR_PID" 2>/dev/null || true
FLOOR_PID=""

# ---- floors B, C, D: their own database, assets table from assetd's own migrations ----
log "floors B, C: database assetd_floor (migrations/*.sql + 100,000 asset rows)"
psql_q -d assetd -c 'CREATE DATABASE assetd_floor' >/dev/null
for f in "$ROOT"/migrations/*.sql; do psql_q -d assetd_floor -1 -f "$f" >/dev/null; done
FLOOR_DEV=$(cat /proc/sys/kernel/random/uuid)
psql_q -d assetd_floor -v dev="$FLOOR_DEV" -f "$BENCH/pgbench/floor_setup.sql" >/dev/null

# ---- assetd ----
log "starting assetd: $HTTP_THREADS HTTP threads, $WORKERS request workers, $SYNC_WORKERS sync workers"
ADMIN=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
MASTER=$(head -c 32 /dev/urandom | base64 -w0)
start_assetd() { # [NAME=value...]: extra settings
    env -u ASSETD_MASTER_KEY_FILE -u ASSETD_ADMIN_TOKEN_FILE DATABASE_URL="$DATABASE_URL" \
        ASSETD_LISTEN_ADDR=127.0.0.1 ASSETD_PORT="$PORT" \
        ASSETD_MASTER_KEY="$MASTER" ASSETD_ADMIN_TOKEN="$ADMIN" \
        ASSETD_HTTP_THREADS="$HTTP_THREADS" ASSETD_REQUEST_WORKERS="$WORKERS" \
        ASSETD_SYNC_WORKERS="$SYNC_WORKERS" ASSETD_MIGRATIONS_DIR="$ROOT/migrations" "$@" \
        ./assetd serve 2>>"$TMP/assetd.log" &
    ASSETD_PID=$!
    local ready=""
    for _ in $(seq 1 150); do
        kill -0 "$ASSETD_PID" 2>/dev/null || { tail -n 20 "$TMP/assetd.log" >&2; die "assetd exited"; }
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ]; then
            ready=1
            break
        fi
        sleep 0.2
    done
    [ -n "$ready" ] || die "assetd did not become ready in 30 s"
}
start_assetd

# api METHOD PATH TOKEN [BODY] -> body in $A, status in $S
api() {
    local resp
    resp=$(curl -s --max-time 600 -X "$1" "$BASE$2" -H "Authorization: Bearer $3" \
        ${4:+-H 'Content-Type: application/json' --data-binary "$4"} -w '\n%{http_code}')
    S=${resp##*$'\n'}
    A=${resp%$'\n'*}
}
expect() { [ "$S" = "$1" ] || die "$2: HTTP $S $A"; }

api POST /devices "$ADMIN" '{"name":"bench-old","accountId":"bench-account"}'
expect 201 "register the old device"
OLD=$(jstr "$A" id)
api POST /devices "$ADMIN" '{"name":"bench-new","accountId":"bench-account"}'
expect 201 "register the new device"
NEW=$(jstr "$A" id)
api POST /devices "$ADMIN" '{"name":"bench-writes"}'
expect 201 "register the writes device"
WDEV=$(jstr "$A" id)
api POST "/devices/$OLD/apps" "$ADMIN" '{"appId":"com.bench.app"}'
expect 201 "install on the old device"
T_OLD=$(jstr "$A" token)
api POST "/devices/$WDEV/apps" "$ADMIN" '{"appId":"com.bench.app"}'
expect 201 "install on the writes device"
T_W=$(jstr "$A" token)

# ---- seed 100,000 assets on the old device, through the API ----
# No statistics until GET has been measured once: a table just loaded (a fresh deployment, a bulk
# import, a restore onto a new device) is read before autovacuum gets to it, and a key lookup must
# not depend on it having run. Autovacuum is held off the table until then.
psql_q -d assetd -c 'ALTER TABLE assets SET (autovacuum_enabled = false)' >/dev/null
log "seeding $RECORDS assets on the old device (POST /assets over $SEED_CONNS connections)"
note_load seed
L=$(BENCH_LOADGEN_MAX_S=240 timeout 300 "$TMP/loadgen" seed "$BASE" "$T_OLD" "$RECORDS" \
    "$SEED_CONNS" s 2>"$OUT/seed.log") || die "seeding failed: $L $(head -n 5 "$OUT/seed.log")"
SEED_RATE=$(field "$L" rate) SEED_S=$(field "$L" seconds)
log "  $(field "$L" created) created in $SEED_S s ($SEED_RATE/s)"

# ---- each assetd figure right after its floor, so both see the same machine ----
MAXSEQ=$(psql_q -d assetd_floor -tAc 'SELECT max(seq) FROM assets')
# analyzed? "never": reltuples -1 (PostgreSQL 14+: never vacuumed nor analyzed) and no analyze run
never_analyzed() {
    psql_q -d assetd -tAc "SELECT c.reltuples < 0 AND s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
        FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'assets'::regclass"
}
# floor_c NAME -> FLOOR_C, FLOOR_C_LAT, FLOOR_C_CPU_P
floor_c() {
    log "floor C: pgbench primary-key SELECT of an asset row, $WORKERS clients, ${DUR}s ($1)"
    note_load "floorC$1"
    C_P0=$(pg_ticks)
    run_pgbench "floorC$1" -f "$BENCH/pgbench/floor_select.sql" -D maxseq="$MAXSEQ"
    cpu_end_pg "$P_TX"
    FLOOR_C=$P_TPS FLOOR_C_LAT=$P_LAT FLOOR_C_CPU_P=$CPU_P
}
# get_alias NAME -> GET_RPS, GET_P99, GET_CPU_A, GET_CPU_P
get_alias() {
    log "GET /assets/{alias}?returnType=ALL: $CONNS connections, ${DUR}s ($1)"
    note_load "get$1"
    BENCH_TOKEN=$T_OLD run_assetd_wrk "get_alias_$1" "$CONNS" "$DUR" get_alias.lua "$BASE"
    GET_RPS=$RPS GET_P99=$(field "$W" lat_p99_ms) GET_CPU_A=$CPU_A GET_CPU_P=$CPU_P
}
# GET right after loading, before any ANALYZE, against floor C measured just before it.
[ "$(never_analyzed)" = t ] || log "  WARNING: assets has statistics already: the first GET run is not 'before ANALYZE'"
GET0_NO_STATS=$(never_analyzed)
floor_c BeforeAnalyze
FLOOR_C0=$FLOOR_C FLOOR_C0_LAT=$FLOOR_C_LAT FLOOR_C0_CPU_P=$FLOOR_C_CPU_P
get_alias beforeAnalyze
GET0_RPS=$GET_RPS GET0_P99=$GET_P99 GET0_CPU_A=$GET_CPU_A GET0_CPU_P=$GET_CPU_P
[ "$(never_analyzed)" = t ] || GET0_NO_STATS=f
# Then what autovacuum does on a live system soon enough: planner statistics, visibility map.
psql_q -d assetd -c 'VACUUM ANALYZE assets' -c 'ALTER TABLE assets RESET (autovacuum_enabled)' >/dev/null

log "floor B: pgbench INSERT of an asset row, $WORKERS clients, ${DUR}s"
note_load floorB
C_P0=$(pg_ticks)
run_pgbench floorB -f "$BENCH/pgbench/floor_insert.sql" -D dev="$FLOOR_DEV" -D sealed="\\x$SEALED_HEX"
cpu_end_pg "$P_TX"
FLOOR_B=$P_TPS FLOOR_B_LAT=$P_LAT FLOOR_B_CPU_P=$CPU_P
log "POST /assets: $CONNS connections, ${DUR}s (to the writes device; group commit on)"
note_load post
BENCH_TOKEN=$T_W BENCH_RUN=$$ run_assetd_wrk post "$CONNS" "$DUR" post_assets.lua "$BASE"
POST_RPS=$RPS POST_P99=$(field "$W" lat_p99_ms) POST_CPU_A=$CPU_A POST_CPU_P=$CPU_P
# The same assets, 100 per request: POST /assets/batch-add (spec §11), one transaction each.
log "POST /assets/batch-add (100 items of 1 KiB): $CONNS connections, ${DUR}s (to the writes device)"
note_load batch
BENCH_TOKEN=$T_W BENCH_RUN=$$ run_assetd_wrk batch "$CONNS" "$DUR" batch_add.lua "$BASE"
BATCH_RPS=$(calc %.1f "$RPS * 100") BATCH_P99=$(field "$W" lat_p99_ms)
BATCH_CPU_A=$(calc %.0f "$CPU_A / 100") BATCH_CPU_P=$(calc %.0f "$CPU_P / 100")
log "  batch-add: $BATCH_RPS assets/s; CPU per asset: assetd $BATCH_CPU_A us, PostgreSQL $BATCH_CPU_P us"

floor_c AfterAnalyze
get_alias afterAnalyze

log "floor D: pgbench label page (100 rows of one label value), $WORKERS clients, ${DUR}s"
note_load floorD
C_P0=$(pg_ticks)
run_pgbench floorD -f "$BENCH/pgbench/floor_label.sql" -D dev="$FLOOR_DEV" -D owner=com.bench.floor
cpu_end_pg "$P_TX"
FLOOR_D=$P_TPS FLOOR_D_LAT=$P_LAT FLOOR_D_CPU_P=$CPU_P
log "GET /assets?dataLabelNormal1=grp-N&limit=100: $CONNS connections, ${DUR}s"
note_load label
BENCH_TOKEN=$T_OLD run_assetd_wrk get_label "$CONNS" "$DUR" get_label.lua "$BASE"
LABEL_RPS=$RPS LABEL_P99=$(field "$W" lat_p99_ms) LABEL_CPU_A=$CPU_A LABEL_CPU_P=$CPU_P

# ---- latency at half the saturating rate: open loop at a fixed rate ----
GET_HALF=$(calc %.0f "$GET_RPS / 2")
# Control: the same paced load against floor_mhd, which does no work at all. Its p99 is what the
# machine (scheduler, other processes, the load generator itself) adds to any latency figure.
log "control: paced GET at $GET_HALF req/s against floor_mhd, ${DUR}s"
"$TMP/floor_mhd" "$FLOOR_PORT" "$HTTP_THREADS" 2>>"$OUT/floor_mhd.log" &
FLOOR_PID=$!
for _ in $(seq 1 50); do port_free "$FLOOR_PORT" || break; sleep 0.1; done
note_load paceControl
run_pace control "$T_OLD" "$GET_HALF" get s "http://127.0.0.1:$FLOOR_PORT"
PACE_CONTROL=$L
kill -TERM "$FLOOR_PID"
wait "$FLOOR_PID" 2>/dev/null || true
FLOOR_PID=""
log "paced GET /assets/{alias}?returnType=ALL at $GET_HALF req/s (half of $GET_RPS), ${DUR}s"
note_load paceGet
run_pace get "$T_OLD" "$GET_HALF" get s
PACE_GET=$L
POST_HALF=$(calc %.0f "$POST_RPS / 2")
log "paced POST /assets at $POST_HALF req/s (half of $POST_RPS), ${DUR}s"
note_load pacePost
run_pace post "$T_W" "$POST_HALF" post "pace$$-"
PACE_POST=$L

# ---- peak RSS under 1,000 keep-alive connections ----
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$ASSETD_PID/status"; }
mib() { calc %.1f "$1 / 1024"; }
RSS_BEFORE=$(kib VmRSS) HWM_BEFORE=$(kib VmHWM)
# Reset the high-water mark to the current RSS, so that VmHWM covers this run only. assetd is not
# dumpable: only root may; otherwise VmHWM is assetd's peak since it started.
HWM_SCOPE=run
if ! (echo 5 >"/proc/$ASSETD_PID/clear_refs") 2>/dev/null; then
    HWM_SCOPE=process
    log "  cannot reset VmHWM (not root): the figure is assetd's peak since it started"
fi
log "peak RSS: GET /assets/{alias} over $RSS_CONNS keep-alive connections, ${RSS_SECONDS}s (RSS now $(mib "$RSS_BEFORE") MiB)"
echo 0 >"$TMP/maxconn"
(
    max=0
    end=$(($(date +%s) + RSS_SECONDS + 30))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)
        if [ "$n" -gt "$max" ]; then max=$n && echo "$max" >"$TMP/maxconn"; fi
        sleep 0.25
    done
) &
SAMPLER_PID=$!
note_load rss
BENCH_TOKEN=$T_OLD run_wrk rss "$RSS_CONNS" "$RSS_SECONDS" get_alias.lua "$BASE"
RSS_RPS=$RPS RSS_P99=$(field "$W" lat_p99_ms)
kill "$SAMPLER_PID" 2>/dev/null
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
RSS_MIB=$(mib "$(kib VmHWM)")
MAXCONN=$(cat "$TMP/maxconn")
log "  VmHWM $RSS_MIB MiB; at most $MAXCONN connections seen established at once"
[ "$MAXCONN" -ge "$RSS_CONNS" ] || log "  WARNING: fewer than $RSS_CONNS connections were seen open at once"

# ---- restore of 100,000 records, 2 sync workers ----
log "POST /backups of the old device ($RECORDS records)"
note_load backup
t0=$(date +%s.%N)
api POST /backups "$ADMIN" "{\"deviceId\":\"$OLD\"}"
expect 201 "backup"
BACKUP_S=$(calc %.2f "$(date +%s.%N) - $t0")
BACKUP=$(jstr "$A" id)
[ "$(jnum "$A" recordCount)" = "$RECORDS" ] || die "the backup holds $(jnum "$A" recordCount) records, not $RECORDS"
log "  backup of $RECORDS records in $BACKUP_S s"
# The preview (spec §12) decides the same records against NEW's state without writing: per
# distinct attribute combination, so it must take a small fraction of the restore.
log "POST /restores/preview of the backup onto the new device (5 runs, the median counts)"
note_load preview
PREVIEW_RUNS=""
for _ in 1 2 3 4 5; do
    t0=$(date +%s.%N)
    api POST /restores/preview "$ADMIN" "{\"backupId\":\"$BACKUP\",\"targetDeviceId\":\"$NEW\"}"
    expect 200 "preview"
    PREVIEW_RUNS="$PREVIEW_RUNS $(calc %.1f "($(date +%s.%N) - $t0) * 1000")"
done
[ "$(jnum "$A" total)" = "$RECORDS" ] || die "the preview counts $(jnum "$A" total) records, not $RECORDS: $A"
[ "$(jnum "$A" wouldAccept)" = "$RECORDS" ] || die "the preview would accept $(jnum "$A" wouldAccept) of $RECORDS: $A"
# shellcheck disable=SC2086
PREVIEW_MS=$(printf '%s\n' $PREVIEW_RUNS | sort -n | sed -n 3p)
log "  preview in $PREVIEW_MS ms (runs:$PREVIEW_RUNS ms)"
fresh_pages "before the restore"
FRESH_RESTORE=$FRESH_MBS
log "POST /restores onto the new device (same account), polling GET /restores/{id}"
note_load restore
# Background work of PostgreSQL that competes with the restore (explains run-to-run spread).
pg_bg() {
    psql_q -d assetd -tAc "SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)
        || ' ' || (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables)"
}
read -r CKPT0 AV0 <<<"$(pg_bg)"
WAL0=$(psql_q -d assetd -tAc 'SELECT pg_current_wal_lsn()')
cpu_begin
t0=$(date +%s.%N)
api POST /restores "$ADMIN" "{\"backupId\":\"$BACKUP\",\"targetDeviceId\":\"$NEW\"}"
expect 202 "restore"
RESTORE=$(jstr "$A" id)
status=""
deadline=$(($(date +%s) + 300))
while [ "$(date +%s)" -lt "$deadline" ]; do
    api GET "/restores/$RESTORE" "$ADMIN"
    expect 200 "restore status"
    status=$(jstr "$A" status)
    if [ "$status" = "done" ] || [ "$status" = "failed" ]; then break; fi
    sleep 0.1
done
RESTORE_CLIENT_S=$(calc %.3f "$(date +%s.%N) - $t0")
cpu_end "$RECORDS"
RESTORE_CPU_A=$CPU_A RESTORE_CPU_P=$CPU_P
read -r CKPT1 AV1 <<<"$(pg_bg)"
RESTORE_CKPT=$((CKPT1 - CKPT0)) RESTORE_AV=$((AV1 - AV0))
# WAL written meanwhile, per record: the row and its index entries, and after a checkpoint the
# whole of every page changed for the first time since (full-page writes).
RESTORE_WAL=$(psql_q -d assetd -tAc "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$WAL0') / $RECORDS)")
[ "$status" = "done" ] || die "the restore ended as '$status': $A"
[ "$(jnum "$A" accepted)" = "$RECORDS" ] || die "the restore accepted $(jnum "$A" accepted) of $RECORDS: $A"
ms() { date -d "$1" +%s%3N; }
RESTORE_MS=$(($(ms "$(jstr "$A" finishedAt)") - $(ms "$(jstr "$A" createdAt)")))
RESTORE_RPS=$(calc %.1f "$RECORDS * 1000 / ($RESTORE_MS > 0 ? $RESTORE_MS : 1)")
NROWS=$(psql_q -d assetd -tAc "SELECT count(*) FROM assets WHERE device_id = '$NEW'")
[ "$NROWS" = "$RECORDS" ] || die "the new device holds $NROWS assets, not $RECORDS"
log "  $RECORDS records in $RESTORE_MS ms (createdAt -> finishedAt): $RESTORE_RPS records/s;" \
    "client saw $RESTORE_CLIENT_S s; CPU per record: assetd $RESTORE_CPU_A us, PostgreSQL $RESTORE_CPU_P us;" \
    "meanwhile $RESTORE_CKPT checkpoints, $RESTORE_AV autovacuum/autoanalyze runs, $RESTORE_WAL bytes of WAL per record"
HWM_ALL=$(kib VmHWM)
note_load end
# CPU used by others = machine busy time - (assetd + the PostgreSQL cluster + this script's
# children: wrk, pgbench, loadgen, curl, psql, cc). Both PostgreSQL and assetd started after BUSY0.
BUSY1=$(busy_ticks)
ELAPSED=$(($(date +%s) - T_START))
times >"$TMP/times" # in this shell: a subshell would not see this shell's children
CHILD_TICKS=$(tail -n 1 "$TMP/times" | awk -v hz="$HZ" '{
    t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print int(t * hz) }')
OURS=$(($(ticks "/proc/$ASSETD_PID/stat") + $(pg_ticks) + CHILD_TICKS))
FOREIGN_PCT=$(calc %.0f "(($BUSY1 - $BUSY0) - $OURS) * 100 / ($ELAPSED * $HZ * $CORES)")
FOREIGN_PCT=$(( FOREIGN_PCT < 0 ? 0 : FOREIGN_PCT ))
log "other processes used about $FOREIGN_PCT% of the machine's CPU during the run"

# ---- the cost of ASSETD_DB_POOLER=transaction (unnamed statements, as behind pgbouncer in
# transaction mode), measured directly against PostgreSQL so that only that cost shows ----
log "GET /assets/{alias}?returnType=ALL with ASSETD_DB_POOLER=transaction: $CONNS connections, ${DUR}s"
kill -TERM "$ASSETD_PID"
wait "$ASSETD_PID" 2>/dev/null || true
start_assetd ASSETD_DB_POOLER=transaction
note_load getUnnamed
BENCH_TOKEN=$T_OLD run_assetd_wrk get_alias_unnamed "$CONNS" "$DUR" get_alias.lua "$BASE"
GETU_RPS=$RPS GETU_P99=$(field "$W" lat_p99_ms) GETU_CPU_A=$CPU_A GETU_CPU_P=$CPU_P

# ---- POST /assets with each add committed alone (no group commit): what group commit gains,
# and what issue #12's batch target is measured against ----
log "POST /assets with ASSETD_GROUP_COMMIT_MAX=1 (each add alone): $CONNS connections, ${DUR}s"
kill -TERM "$ASSETD_PID"
wait "$ASSETD_PID" 2>/dev/null || true
start_assetd ASSETD_GROUP_COMMIT_MAX=1
note_load postAlone
BENCH_TOKEN=$T_W BENCH_RUN=alone$$ run_assetd_wrk post_alone "$CONNS" "$DUR" post_assets.lua "$BASE"
POST1_RPS=$RPS POST1_P99=$(field "$W" lat_p99_ms) POST1_CPU_A=$CPU_A POST1_CPU_P=$CPU_P

# ---- GET /assets/{alias} with each read alone (no group reads): what group reads gain ----
log "GET /assets/{alias}?returnType=ALL with ASSETD_GROUP_READ_MAX=1 (each read alone): $CONNS connections, ${DUR}s"
kill -TERM "$ASSETD_PID"
wait "$ASSETD_PID" 2>/dev/null || true
start_assetd ASSETD_GROUP_READ_MAX=1
note_load getAlone
BENCH_TOKEN=$T_OLD run_assetd_wrk get_alone "$CONNS" "$DUR" get_alias.lua "$BASE"
GET1_RPS=$RPS GET1_P99=$(field "$W" lat_p99_ms) GET1_CPU_A=$CPU_A GET1_CPU_P=$CPU_P

# ---- report ----
# issue #11's targets (batch-add's is issue #12's)
T_POST=1.0 T_GET=0.4 T_LABEL=0.5 T_BATCH=10 T_RESTORE=50000 T_RSS=40 T_P99=10 T_PREVIEW=0.05
RATIO_POST=$(fdiv "$POST_RPS" "$FLOOR_B")
RATIO_GET0=$(fdiv "$GET0_RPS" "$FLOOR_C0")
RATIO_GET1=$(fdiv "$GET_RPS" "$FLOOR_C")
# The GET target is judged on the smaller of the two ratios (before and after ANALYZE).
if fge "$RATIO_GET1" "$RATIO_GET0"; then
    RATIO_GET=$RATIO_GET0 GET_MIN_RUN=beforeAnalyze
else
    RATIO_GET=$RATIO_GET1 GET_MIN_RUN=afterAnalyze
fi
# Issue #12's target: what a batch saves over requests that each commit alone (as every POST did
# when it was set); group commit gives concurrent POSTs most of that saving by itself.
RATIO_BATCH=$(fdiv "$BATCH_RPS" "$POST1_RPS")
RATIO_LABEL=$(fdiv "$LABEL_RPS" "$FLOOR_D")
PACE_GET_P99=$(field "$PACE_GET" p99_ms)
PACE_POST_P99=$(field "$PACE_POST" p99_ms)
PACE_CONTROL_P99=$(field "$PACE_CONTROL" p99_ms)
holds() { if "$@"; then echo yes; else echo NO; fi; }
H_POST=$(holds fge "$RATIO_POST" "$T_POST")
H_GET=$(holds fge "$RATIO_GET" "$T_GET")
H_LABEL=$(holds fge "$RATIO_LABEL" "$T_LABEL")
H_BATCH=$(holds fge "$RATIO_BATCH" "$T_BATCH")
H_RESTORE=$(holds fge "$RESTORE_RPS" "$T_RESTORE")
PREVIEW_RATIO=$(fdiv "$PREVIEW_MS" "$RESTORE_MS")
H_PREVIEW=$(holds flt "$PREVIEW_RATIO" "${T_PREVIEW}000001")
H_RSS=$(holds flt "$RSS_MIB" "$T_RSS")
H_P99_GET=$(holds flt "$PACE_GET_P99" "$T_P99")
H_P99_POST=$(holds flt "$PACE_POST_P99" "$T_P99")
TARGETS=0 HELD=0
for h in "$H_POST" "$H_BATCH" "$H_GET" "$H_LABEL" "$H_RESTORE" "$H_PREVIEW" "$H_RSS" "$H_P99_GET" "$H_P99_POST"; do
    TARGETS=$((TARGETS + 1))
    [ "$h" = yes ] && HELD=$((HELD + 1))
done
jb() { [ "$1" = yes ] && echo true || echo false; }

# figure|value|unit|floor|floor value|ratio|target|holds
TABLE=$(
    cat <<TXT
floor A: MHD fixed JSON GET, c=$CONNS|$FLOOR_A|req/s|-|-|-|-|-
floor B: pgbench INSERT asset row, c=$WORKERS|$FLOOR_B|tx/s|-|-|-|-|-
floor C: pgbench PK SELECT asset row, c=$WORKERS|$FLOOR_C0|tx/s|-|-|-|-|-
floor C, again after ANALYZE of assetd's table|$FLOOR_C|tx/s|-|-|-|-|-
floor D: pgbench label page of 100, c=$WORKERS|$FLOOR_D|tx/s|-|-|-|-|-
POST /assets (1 KiB secret), c=$CONNS|$POST_RPS|req/s|B|$FLOOR_B|$RATIO_POST|>= $T_POST x B|$H_POST
POST /assets, each add alone, c=$CONNS|$POST1_RPS|req/s|B|$FLOOR_B|$(fdiv "$POST1_RPS" "$FLOOR_B")|-|-
batch-add 100 x 1 KiB, c=$CONNS|$BATCH_RPS|assets/s|POST1|$POST1_RPS|$RATIO_BATCH|>= $T_BATCH x POST1|$H_BATCH
GET alias+secret, no ANALYZE yet, c=$CONNS|$GET0_RPS|req/s|C|$FLOOR_C0|$RATIO_GET0|-|-
GET alias+secret, after ANALYZE, c=$CONNS|$GET_RPS|req/s|C|$FLOOR_C|$RATIO_GET1|-|-
GET /assets/{alias} ALL: smaller ratio|$([ "$GET_MIN_RUN" = beforeAnalyze ] && echo "$GET0_RPS" || echo "$GET_RPS")|req/s|C|$([ "$GET_MIN_RUN" = beforeAnalyze ] && echo "$FLOOR_C0" || echo "$FLOOR_C")|$RATIO_GET|>= $T_GET x C|$H_GET
GET alias+secret, ASSETD_DB_POOLER=transaction|$GETU_RPS|req/s|C|$FLOOR_C|$(fdiv "$GETU_RPS" "$FLOOR_C")|-|-
GET alias+secret, each read alone, c=$CONNS|$GET1_RPS|req/s|C|$FLOOR_C|$(fdiv "$GET1_RPS" "$FLOOR_C")|-|-
GET /assets label filter, 100/page, c=$CONNS|$LABEL_RPS|req/s|D|$FLOOR_D|$RATIO_LABEL|>= $T_LABEL x D|$H_LABEL
restore 100,000 records, $SYNC_WORKERS workers|$RESTORE_RPS|records/s|-|-|-|>= $T_RESTORE|$H_RESTORE
preview of that backup (vs restore's ms)|$PREVIEW_MS|ms|R|$RESTORE_MS|$PREVIEW_RATIO|<= $T_PREVIEW x R|$H_PREVIEW
peak RSS, $RSS_CONNS keep-alive connections|$RSS_MIB|MiB|A|$FLOOR_A_RSS|$(fdiv "$RSS_MIB" "$FLOOR_A_RSS")|< $T_RSS|$H_RSS
p99 GET alias+secret @ $GET_HALF req/s|$PACE_GET_P99|ms|-|-|-|< $T_P99|$H_P99_GET
p99 POST /assets @ $POST_HALF req/s|$PACE_POST_P99|ms|-|-|-|< $T_P99|$H_P99_POST
control: p99 floor_mhd @ $GET_HALF req/s|$PACE_CONTROL_P99|ms|-|-|-|-|-
control: new page-cache pages written, start|$FRESH_START|MB/s|-|-|-|-|-
control: the same, before the restore|$FRESH_RESTORE|MB/s|-|-|-|-|-
control: used page-cache pages rewritten|$REWRITE_START|MB/s|-|-|-|-|-
TXT
)
{
    echo
    echo "assetd benchmark: $CORES cores, PostgreSQL $PG_VERSION (fsync on, synchronous_commit on, wal_init_zero off)," \
        "$HTTP_THREADS HTTP threads, $WORKERS request workers = pgbench clients, ${DUR}s per run; load average" \
        "$LOAD_START at start, other processes used ~$FOREIGN_PCT% of the CPU during the run"
    echo "targets held: $HELD of $TARGETS"
    printf '%s\n' "$TABLE" | awk -F'|' '
        function row(a, b, c, d, e, f, g, h) {
            printf "%-46s %10s %-9s %5s %10s %6s %-12s %s\n", a, b, c, d, e, f, g, h }
        BEGIN { row("figure", "value", "unit", "floor", "floor val", "ratio", "target", "holds")
                s = sprintf("%110s", ""); gsub(/ /, "-", s); print s }
        { row($1, $2, $3, $4, $5, $6, $7, $8) }'
    echo
    echo "CPU time per request (us; assetd process / whole PostgreSQL cluster):"
    echo "  POST /assets      assetd $POST_CPU_A + PostgreSQL $POST_CPU_P   (floor B: PostgreSQL $FLOOR_B_CPU_P per INSERT)"
    echo "  POST, each alone  assetd $POST1_CPU_A + PostgreSQL $POST1_CPU_P   (ASSETD_GROUP_COMMIT_MAX=1)"
    echo "  batch-add, /asset assetd $BATCH_CPU_A + PostgreSQL $BATCH_CPU_P   (100 assets per request)"
    echo "  GET, no ANALYZE   assetd $GET0_CPU_A + PostgreSQL $GET0_CPU_P   (floor C: PostgreSQL $FLOOR_C0_CPU_P per SELECT)"
    echo "  GET alias+secret  assetd $GET_CPU_A + PostgreSQL $GET_CPU_P   (floor C: PostgreSQL $FLOOR_C_CPU_P per SELECT)"
    echo "  GET, unnamed      assetd $GETU_CPU_A + PostgreSQL $GETU_CPU_P   (ASSETD_DB_POOLER=transaction: parsed and planned per call)"
    echo "  GET, each alone   assetd $GET1_CPU_A + PostgreSQL $GET1_CPU_P   (ASSETD_GROUP_READ_MAX=1)"
    echo "  GET label page    assetd $LABEL_CPU_A + PostgreSQL $LABEL_CPU_P   (floor D: PostgreSQL $FLOOR_D_CPU_P per page)"
    echo "  restore, /record  assetd $RESTORE_CPU_A + PostgreSQL $RESTORE_CPU_P   (backup of $RECORDS records took ${BACKUP_S}s; $RESTORE_WAL bytes of WAL per record, $RESTORE_CKPT checkpoints)"
    echo
} | tee "$OUT/table.txt"

pace_json() {
    printf '{"rate": %s, "connections": %s, "achievedRate": %s, "requests": %s, "errors": %s, "p50Ms": %s, "p90Ms": %s, "p99Ms": %s, "p999Ms": %s, "maxMs": %s, "target": %s, "holds": %s}' \
        "$2" "$CONNS" "$(field "$1" achieved_rate)" "$(field "$1" recorded)" "$(field "$1" errors)" \
        "$(field "$1" p50_ms)" "$(field "$1" p90_ms)" "$(field "$1" p99_ms)" "$(field "$1" p999_ms)" \
        "$(field "$1" max_ms)" "$T_P99" "$3"
}
{
    printf '{\n  "targetsHeld": %s,\n  "targets": %s,\n' "$HELD" "$TARGETS"
    printf '  "generated": "%s",\n  "git": "%s",\n  "uncommittedSourceFiles": %s,\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git status --porcelain -- api service cmd migrations 2>/dev/null | wc -l)"
    printf '  "machine": {"cores": %s, "postgres": "%s", "fsync": true, "synchronousCommit": true, "otherProcessesCpuPercent": %s, "loadAverage1m": {%s}, "newPageCacheWriteMBps": {"start": %s, "beforeRestore": %s}, "usedPageCacheRewriteMBps": %s},\n' \
        "$CORES" "$PG_VERSION" "$FOREIGN_PCT" "$LOADS" "$FRESH_START" "$FRESH_RESTORE" "$REWRITE_START"
    printf '  "config": {"httpThreads": %s, "requestWorkers": %s, "syncWorkers": %s, "pgbenchClients": %s, "wrkConnections": %s, "secondsPerRun": %s, "records": %s, "authCacheMs": %s},\n' \
        "$HTTP_THREADS" "$WORKERS" "$SYNC_WORKERS" "$WORKERS" "$CONNS" "$DUR" "$RECORDS" "${ASSETD_AUTH_CACHE_MS:-60000}"
    printf '  "floors": {\n'
    printf '    "A": {"what": "libmicrohttpd fixed JSON GET", "rps": %s, "p99Ms": %s, "vmHwmMiBAt%sConnections": %s},\n' "$FLOOR_A" "$FLOOR_A_P99" "$RSS_CONNS" "$FLOOR_A_RSS"
    printf '    "B": {"what": "pgbench INSERT of an asset row", "tps": %s, "meanLatencyMs": %s, "cpuUsPostgres": %s},\n' "$FLOOR_B" "$FLOOR_B_LAT" "$FLOOR_B_CPU_P"
    printf '    "C": {"what": "pgbench prepared primary-key SELECT of an asset row", "tps": %s, "meanLatencyMs": %s, "cpuUsPostgres": %s, "afterAnalyze": {"tps": %s, "meanLatencyMs": %s, "cpuUsPostgres": %s}},\n' \
        "$FLOOR_C0" "$FLOOR_C0_LAT" "$FLOOR_C0_CPU_P" "$FLOOR_C" "$FLOOR_C_LAT" "$FLOOR_C_CPU_P"
    printf '    "D": {"what": "pgbench prepared label page: the SELECT of GET /assets?dataLabelNormal1=...&limit=100 (101 rows)", "tps": %s, "meanLatencyMs": %s, "cpuUsPostgres": %s}\n  },\n' "$FLOOR_D" "$FLOOR_D_LAT" "$FLOOR_D_CPU_P"
    printf '  "assetd": {\n'
    printf '    "seed": {"records": %s, "seconds": %s, "rate": %s},\n' "$RECORDS" "$SEED_S" "$SEED_RATE"
    printf '    "postAssets": {"rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floor": "B", "ratio": %s, "target": %s, "holds": %s},\n' \
        "$POST_RPS" "$POST_P99" "$POST_CPU_A" "$POST_CPU_P" "$RATIO_POST" "$T_POST" "$(jb "$H_POST")"
    printf '    "postAssetsEachAlone": {"setting": "ASSETD_GROUP_COMMIT_MAX=1", "rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floor": "B", "ratio": %s},\n' \
        "$POST1_RPS" "$POST1_P99" "$POST1_CPU_A" "$POST1_CPU_P" "$(fdiv "$POST1_RPS" "$FLOOR_B")"
    printf '    "batchAdd": {"itemsPerRequest": 100, "assetsPerSecond": %s, "p99Ms": %s, "cpuUsAssetdPerAsset": %s, "cpuUsPostgresPerAsset": %s, "versus": "postAssetsEachAlone", "ratio": %s, "target": %s, "holds": %s},\n' \
        "$BATCH_RPS" "$BATCH_P99" "$BATCH_CPU_A" "$BATCH_CPU_P" "$RATIO_BATCH" "$T_BATCH" "$(jb "$H_BATCH")"
    printf '    "getAssetWithSecret": {"rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floor": "C", "ratio": %s, "beforeAnalyze": {"neverAnalyzed": %s, "rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floorTps": %s, "ratio": %s}, "judgedOn": "%s", "judgedRatio": %s, "target": %s, "holds": %s},\n' \
        "$GET_RPS" "$GET_P99" "$GET_CPU_A" "$GET_CPU_P" "$RATIO_GET1" \
        "$([ "$GET0_NO_STATS" = t ] && echo true || echo false)" "$GET0_RPS" "$GET0_P99" "$GET0_CPU_A" "$GET0_CPU_P" "$FLOOR_C0" "$RATIO_GET0" \
        "$GET_MIN_RUN" "$RATIO_GET" "$T_GET" "$(jb "$H_GET")"
    printf '    "getAssetWithSecretUnnamed": {"setting": "ASSETD_DB_POOLER=transaction", "rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "ratioToPrepared": %s},\n' \
        "$GETU_RPS" "$GETU_P99" "$GETU_CPU_A" "$GETU_CPU_P" "$(fdiv "$GETU_RPS" "$GET_RPS")"
    printf '    "getAssetWithSecretEachAlone": {"setting": "ASSETD_GROUP_READ_MAX=1", "rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floor": "C", "ratio": %s},\n' \
        "$GET1_RPS" "$GET1_P99" "$GET1_CPU_A" "$GET1_CPU_P" "$(fdiv "$GET1_RPS" "$FLOOR_C")"
    printf '    "getAssetsByLabel": {"rps": %s, "p99Ms": %s, "cpuUsAssetd": %s, "cpuUsPostgres": %s, "floor": "D", "ratio": %s, "target": %s, "holds": %s},\n' \
        "$LABEL_RPS" "$LABEL_P99" "$LABEL_CPU_A" "$LABEL_CPU_P" "$RATIO_LABEL" "$T_LABEL" "$(jb "$H_LABEL")"
    printf '    "restore": {"records": %s, "workers": %s, "ms": %s, "recordsPerSecond": %s, "clientSeconds": %s, "backupSeconds": %s, "cpuUsAssetdPerRecord": %s, "cpuUsPostgresPerRecord": %s, "checkpoints": %s, "autovacuumRuns": %s, "walBytesPerRecord": %s, "target": %s, "holds": %s},\n' \
        "$RECORDS" "$SYNC_WORKERS" "$RESTORE_MS" "$RESTORE_RPS" "$RESTORE_CLIENT_S" "$BACKUP_S" \
        "$RESTORE_CPU_A" "$RESTORE_CPU_P" "$RESTORE_CKPT" "$RESTORE_AV" "$RESTORE_WAL" "$T_RESTORE" "$(jb "$H_RESTORE")"
    printf '    "preview": {"records": %s, "ms": %s, "runsMs": "%s", "restoreMs": %s, "ratio": %s, "target": %s, "holds": %s},\n' \
        "$RECORDS" "$PREVIEW_MS" "${PREVIEW_RUNS# }" "$RESTORE_MS" "$PREVIEW_RATIO" "$T_PREVIEW" "$(jb "$H_PREVIEW")"
    printf '    "peakRss": {"connections": %s, "maxEstablished": %s, "vmHwmMiB": %s, "hwmScope": "%s", "rssBeforeMiB": %s, "hwmBeforeMiB": %s, "wholeRunVmHwmMiB": %s, "rps": %s, "p99Ms": %s, "target": %s, "holds": %s},\n' \
        "$RSS_CONNS" "$MAXCONN" "$RSS_MIB" "$HWM_SCOPE" "$(mib "$RSS_BEFORE")" "$(mib "$HWM_BEFORE")" \
        "$(mib "$HWM_ALL")" "$RSS_RPS" "$RSS_P99" "$T_RSS" "$(jb "$H_RSS")"
    printf '    "p99HalfRateGet": %s,\n' "$(pace_json "$PACE_GET" "$GET_HALF" "$(jb "$H_P99_GET")")"
    printf '    "p99HalfRatePost": %s,\n' "$(pace_json "$PACE_POST" "$POST_HALF" "$(jb "$H_P99_POST")")"
    printf '    "p99ControlFloorMhd": %s\n' "$(pace_json "$PACE_CONTROL" "$GET_HALF" null)"
    printf '  }\n}\n'
} >"$OUT/bench.json"
log "wrote $OUT/table.txt and $OUT/bench.json in $(($(date +%s) - T_START)) s"
