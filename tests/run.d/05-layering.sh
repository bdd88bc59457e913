#!/usr/bin/env bash
# The layering rules of README "How it is built", checked on the sources: data flows
# api -> service -> PostgreSQL, and settings come from one table.
#   - service/ never includes api/ headers or libmicrohttpd (it knows nothing of HTTP);
#   - api/ and cmd/ never speak to PostgreSQL themselves (no libpq header, type or call);
#   - only service/config.c reads the environment.
# Prints each violation with its file and line; exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/../.."
bad=0
check() { # description, grep arguments...
    local what=$1
    shift
    local hits
    hits=$(grep -nE "$@" 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "layering: $what:"
        printf '%s\n' "$hits" | sed 's/^/  /'
        bad=1
    fi
}
check "service/ includes api/ or libmicrohttpd" \
    '#include[[:space:]]*[<"](\.\./api/|microhttpd\.h)' service/*.c service/*.h
check "api/ or cmd/ speaks to PostgreSQL" \
    '#include[[:space:]]*<libpq-fe\.h>|\bPG(result|conn)\b|\bPQ[a-z]+[A-Za-z]*\(' api/*.c api/*.h cmd/*.c cmd/*.h
check "the environment read outside service/config.c" \
    '\bgetenv\(' $(ls service/*.c api/*.c cmd/*.c | grep -v '^service/config\.c$')
if [ "$bad" -eq 0 ]; then
    echo "layering: 3 rules hold over $(ls service/*.[ch] api/*.[ch] cmd/*.[ch] | wc -l) files"
fi
exit "$bad"
