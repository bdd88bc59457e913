#!/usr/bin/env bash
# The layering rules of README "How it is built", checked on the sources. Data flows
# api -> service -> PostgreSQL, settings come from one table, and each folder of service/ keeps
# to what it owns:
#   - service/ never includes api/ headers or libmicrohttpd (it knows nothing of HTTP);
#   - api/ and cmd/ never speak to PostgreSQL themselves (no libpq header, type or call), and
#     api/ never reaches past the operations into service/store/ or service/crypto/;
#   - only service/config.c reads the environment;
#   - service/sync/ keeps the logic of backup and restore and speaks no SQL: no libpq type or
#     call, no statement or transaction of its own (store_sync.h runs them; db_tx, db_tx_on);
#   - service/crypto/ does no I/O: it includes only its own headers, err.h, arena.h and
#     asset_req.h, and of the system only libsodium and the C headers without I/O;
#   - service/store/ (the SQL) never includes the operations, authentication or sync: only its
#     own headers, crypto/, err.h, log.h, arena.h, asset_req.h and rules.h.
# Prints each violation with its file and line; exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/../.."
bad=0
rules=0
check() { # description, grep arguments...
    local what=$1
    shift
    local hits
    rules=$((rules + 1))
    hits=$(grep -nE "$@" 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "layering: $what:"
        printf '%s\n' "$hits" | sed 's/^/  /'
        bad=1
    fi
}
service=$(ls service/*.[ch] service/*/*.[ch])
check "service/ includes api/ or libmicrohttpd" \
    '#include[[:space:]]*[<"]((\.\./)+api/|microhttpd\.h)' $service
check "api/ or cmd/ speaks to PostgreSQL" \
    '#include[[:space:]]*<libpq-fe\.h>|\bPG(result|conn)\b|\bPQ[a-z]+[A-Za-z]*\(' api/*.c api/*.h cmd/*.c cmd/*.h
check "api/ reaches into service/store/ or service/crypto/" \
    '#include[[:space:]]*"\.\./service/(store|crypto)/' api/*.c api/*.h
check "the environment read outside service/config.c" \
    '\bgetenv\(' $(ls service/*.c service/*/*.c api/*.c cmd/*.c | grep -v '^service/config\.c$')
check_includes() { # description, allowed includes (regex), files...
    local what=$1 allowed=$2
    shift 2
    local hits
    rules=$((rules + 1))
    hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include' "$@" |
        grep -vE "#[[:space:]]*include[[:space:]]*($allowed)[[:space:]]*(/\*.*)?$")
    if [ -n "$hits" ]; then
        echo "layering: $what:"
        printf '%s\n' "$hits" | sed 's/^/  /'
        bad=1
    fi
}
check_includes "service/crypto/ includes something that is not crypto" \
    '"[a-z_]+\.h"|"\.\./(err|arena|asset_req)\.h"|<(sodium|string|stdlib|stdint|stdbool|stddef|limits)\.h>' \
    service/crypto/*.[ch]
check "service/crypto/ does I/O" \
    '\b(f?open|f?read|f?write|fprintf|printf|socket|PQ[a-zA-Z]+)\(' service/crypto/*.[ch]
check "service/store/ includes operations, authentication or sync" \
    '#include[[:space:]]*"\.\./(svc|audit|asset_ops|batch|devices|challenge|device_removal|rotate|idem|authcache|config)\.h"|#include[[:space:]]*"\.\./sync/' \
    service/store/*.[ch]
check "service/sync/ speaks to PostgreSQL itself" \
    '#include[[:space:]]*<libpq-fe\.h>|\bPG(result|conn)\b|\bPQ[a-z]+[A-Za-z]*\(|\bdb_(exec|exec_stmt|run_sql|run_stmt|copy_in|begin|commit|rollback|acquire)\(' \
    service/sync/*.[ch]
if [ "$bad" -eq 0 ]; then
    echo "layering: $rules rules hold over $(echo $service api/*.[ch] cmd/*.[ch] | wc -w) files"
fi
exit "$bad"
