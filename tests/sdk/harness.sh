# shellcheck shell=bash
# Shared by tests/sdk/run-flow.sh and tests/run.d/{10,20,30}-*.sh (sourced, not run).
#
# sdk_ensure_node_modules  installs the pinned tools (npm ci) when node_modules lacks one of
#                          package.json's exact versions.
# sdk_start_server         a real assetd on 127.0.0.1:<free port> against PostgreSQL:
#   - TEST_DATABASE_URL set: a database of its own (assetd_sdk_<pid>) on that server, dropped
#     at exit; unset: a private cluster (scripts/pg.sh) in a temp dir, stopped at exit;
#   - ASSETD_BIN (default ./assetd at the repository root, built with `make assetd` if missing);
#   - ASSETD_MIGRATIONS_DIR (default migrations/ at the repository root);
#   exports ASSETD_URL and ASSETD_ADMIN_TOKEN for the flow; everything is undone on exit.
#   SDK_SERVER_URL set: no server is started; the flow runs against that one (ASSETD_ADMIN_TOKEN
#   must be set too).
# sdk_is_asan              true when ASSETD_BIN is the ASan build (the contract suites skip it).

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SDK_DIR/../.." && pwd)"

sdk_log() { echo "[$(basename "$0")] $*"; }

sdk_is_asan() { [[ "${ASSETD_BIN:-}" == */asan/* ]]; }

sdk_ensure_node_modules() {
    command -v node >/dev/null || { echo "node is not installed (Node 20 is needed)" >&2; return 1; }
    # shellcheck disable=SC2016 # JavaScript, not shell
    if ! (cd "$SDK_DIR" && node -e '
        const fs = require("fs");
        const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
        for (const [name, want] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
          let have;
          try { have = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8")).version; } catch { process.exit(1); }
          if (have !== want) process.exit(1);
        }'); then
        sdk_log "installing the pinned tools (npm ci)"
        (cd "$SDK_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

_sdk_tmp=""
_sdk_pg_dir=""
_sdk_db=""
_sdk_admin_url=""
_sdk_pid=""

_sdk_psql() {
    local psql
    # shellcheck disable=SC2012
    psql=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
    "$psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

sdk_cleanup() {
    local rc=$?
    if [ -n "$_sdk_pid" ]; then
        kill "$_sdk_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$_sdk_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$_sdk_pid" 2>/dev/null || true
        wait "$_sdk_pid" 2>/dev/null || true
        if [ "$rc" -ne 0 ] && [ -s "$_sdk_tmp/assetd.log" ]; then
            echo "---- last lines of assetd's log ----"
            tail -n 40 "$_sdk_tmp/assetd.log"
            echo "------------------------------------"
        fi
        _sdk_pid=""
    fi
    if [ -n "$_sdk_db" ]; then
        _sdk_psql "$_sdk_admin_url" -c "DROP DATABASE IF EXISTS \"$_sdk_db\" WITH (FORCE)" >/dev/null 2>&1 || true
        _sdk_db=""
    fi
    if [ -n "$_sdk_pg_dir" ]; then
        "$REPO_ROOT/scripts/pg.sh" stop "$_sdk_pg_dir" || true
        _sdk_pg_dir=""
    fi
    if [ -n "$_sdk_tmp" ]; then rm -rf "$_sdk_tmp"; _sdk_tmp=""; fi
    return "$rc"
}

# A libpq URI naming another database on the same server.
_sdk_url_with_db() {
    node -e '
        const u = new URL(process.argv[1]);
        u.pathname = "/" + process.argv[2];
        process.stdout.write(u.toString());' "$1" "$2"
}

_sdk_free_port() {
    node -e '
        const s = require("net").createServer();
        s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });'
}

# The HTTP status of a GET (curl when present, else node).
_sdk_status() {
    if command -v curl >/dev/null; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        node -e 'fetch(process.argv[1]).then((r) => process.stdout.write(String(r.status)), () => {})' "$1"
    fi
}

sdk_start_server() {
    trap sdk_cleanup EXIT
    trap 'exit 130' INT TERM
    # A server that runs elsewhere (make image-check: the container): SDK_SERVER_URL, with
    # ASSETD_ADMIN_TOKEN set by the caller.
    if [ -n "${SDK_SERVER_URL:-}" ]; then
        : "${ASSETD_ADMIN_TOKEN:?SDK_SERVER_URL needs ASSETD_ADMIN_TOKEN}"
        export ASSETD_URL="$SDK_SERVER_URL" ASSETD_ADMIN_TOKEN
        [ "$(_sdk_status "$ASSETD_URL/readyz")" = 200 ] || { echo "$ASSETD_URL/readyz is not 200" >&2; return 1; }
        sdk_log "using the running assetd at $ASSETD_URL"
        return 0
    fi
    _sdk_tmp=$(mktemp -d)
    chmod 755 "$_sdk_tmp" # the private cluster runs as the postgres user when we are root

    : "${ASSETD_BIN:=$REPO_ROOT/assetd}"
    if [ ! -x "$ASSETD_BIN" ]; then
        if [ "$ASSETD_BIN" = "$REPO_ROOT/assetd" ]; then
            sdk_log "building assetd (make assetd)"
            make -C "$REPO_ROOT" --no-print-directory assetd
        else
            echo "ASSETD_BIN=$ASSETD_BIN is not an executable" >&2
            return 1
        fi
    fi
    : "${ASSETD_MIGRATIONS_DIR:=$REPO_ROOT/migrations}"

    local db_url
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        case "$TEST_DATABASE_URL" in
        postgres://* | postgresql://*) ;;
        *) echo "TEST_DATABASE_URL must be a libpq URI (postgresql://...)" >&2; return 1 ;;
        esac
        _sdk_db="assetd_sdk_$$_$RANDOM"
        _sdk_admin_url="$TEST_DATABASE_URL"
        if _sdk_psql "$_sdk_admin_url" -c "CREATE DATABASE \"$_sdk_db\"" >/dev/null; then
            db_url=$(_sdk_url_with_db "$TEST_DATABASE_URL" "$_sdk_db")
            sdk_log "PostgreSQL: database $_sdk_db on the server of TEST_DATABASE_URL"
        else
            _sdk_db=""
            db_url="$TEST_DATABASE_URL"
            sdk_log "PostgreSQL: cannot create a database of its own; using TEST_DATABASE_URL itself"
        fi
    else
        _sdk_pg_dir="$_sdk_tmp/pg"
        db_url=$("$REPO_ROOT/scripts/pg.sh" start "$_sdk_pg_dir")
        sdk_log "PostgreSQL: private cluster in $_sdk_pg_dir"
    fi

    ASSETD_ADMIN_TOKEN=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    export ASSETD_ADMIN_TOKEN
    local master attempt port
    # The runner's per-mode key when given (needed if we fall back to its database), else a fresh one.
    master=${TEST_MASTER_KEY:-$(head -c 32 /dev/urandom | base64)}
    for attempt in 1 2 3; do
        port=$(_sdk_free_port)
        # A clean environment: no stray ASSETD_* setting of the caller's (rate limits, caches…).
        env -i PATH="$PATH" LC_ALL=C \
            DATABASE_URL="$db_url" ASSETD_PORT="$port" ASSETD_LISTEN_ADDR=127.0.0.1 \
            ASSETD_MASTER_KEY="$master" ASSETD_ADMIN_TOKEN="$ASSETD_ADMIN_TOKEN" \
            ASSETD_MIGRATIONS_DIR="$ASSETD_MIGRATIONS_DIR" ASSETD_SYNC_WORKERS="${ASSETD_SYNC_WORKERS:-1}" \
            "$ASSETD_BIN" serve >>"$_sdk_tmp/assetd.log" 2>&1 &
        _sdk_pid=$!
        for _ in $(seq 1 300); do
            if ! kill -0 "$_sdk_pid" 2>/dev/null; then break; fi
            if [ "$(_sdk_status "http://127.0.0.1:$port/readyz")" = 200 ]; then
                export ASSETD_URL="http://127.0.0.1:$port"
                sdk_log "assetd ($ASSETD_BIN) is ready on $ASSETD_URL"
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$_sdk_pid" 2>/dev/null; then
            echo "assetd did not become ready within 30 s" >&2
            return 1
        fi
        wait "$_sdk_pid" 2>/dev/null || true
        _sdk_pid=""
        sdk_log "assetd exited during start-up (attempt $attempt; port $port may have been taken)"
    done
    echo "assetd failed to start; its log:" >&2
    tail -n 40 "$_sdk_tmp/assetd.log" >&2
    return 1
}
