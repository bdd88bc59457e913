/* testlib: read the test database with libpq, for assertions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "tl_internal.h"

static PGconn *g_conn;

PGconn *tl_db(void)
{
    if (g_conn && PQstatus(g_conn) == CONNECTION_OK)
        return g_conn;
    if (g_conn) {
        PQfinish(g_conn);
        g_conn = NULL;
    }
    const char *url = getenv("TEST_DATABASE_URL");
    if (!url || !*url)
        fail_msg("TEST_DATABASE_URL is not set (run the tests with tests/run.sh)");
    g_conn = PQconnectdb(url);
    if (PQstatus(g_conn) != CONNECTION_OK) {
        print_error("testlib: cannot connect to TEST_DATABASE_URL: %s", PQerrorMessage(g_conn));
        PQfinish(g_conn);
        g_conn = NULL;
        fail_msg("no database");
    }
    return g_conn;
}

void tl__db_close(void)
{
    if (g_conn)
        PQfinish(g_conn);
    g_conn = NULL;
}

#define MAX_PARAMS 32

static PGresult *vexec(const char *sql, va_list ap)
{
    const char *params[MAX_PARAMS];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (n == MAX_PARAMS)
            fail_msg("tl_db: more than %d parameters", MAX_PARAMS);
        params[n++] = p;
    }
    PGresult *r = PQexecParams(tl_db(), sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        print_error("testlib: SQL failed: %s\n  %s\n", PQresultErrorMessage(r), sql);
        PQclear(r);
        fail_msg("SQL failed");
    }
    return r;
}

PGresult *tl_db_exec(const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vexec(sql, ap);
    va_end(ap);
    return r;
}

long long tl_db_count(const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vexec(sql, ap);
    va_end(ap);
    if (PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        fail_msg("tl_db_count: no value from: %s", sql);
    }
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

char *tl_db_dump(const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vexec(sql, ap);
    va_end(ap);
    size_t cap = 1, len = 0;
    int rows = PQntuples(r), cols = PQnfields(r);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            cap += (size_t)PQgetlength(r, i, j) + 3;
    char *out = malloc(cap);
    if (!out)
        abort();
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            const char *v = PQgetisnull(r, i, j) ? "\\N" : PQgetvalue(r, i, j);
            size_t n = PQgetisnull(r, i, j) ? 2 : (size_t)PQgetlength(r, i, j);
            memcpy(out + len, v, n);
            len += n;
            out[len++] = j + 1 < cols ? '\t' : '\n';
        }
    out[len] = 0;
    PQclear(r);
    return out;
}
