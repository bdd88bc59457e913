/* db_migrate: the migration runner (db.h): numbered files of migrations/, applied in order, each
 * once, each in its own transaction, recorded in schema_migrations; and the schema version a
 * running service reads for /readyz. */
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "row.h"

static int migration_number(const char *name)
{
    int n = 0, digits = 0;
    while (name[digits] >= '0' && name[digits] <= '9' && digits < 9)
        n = n * 10 + (name[digits++] - '0');
    if (digits != 4 || name[4] != '_')
        return -1;
    size_t len = strlen(name);
    if (len < 9 || strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return n;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of migration file names; caller frees each and the array. */
static int list_migrations(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    *out = NULL;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (migration_number(e->d_name) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_names);
    *out = names;
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int db_migrations_latest(const char *dir)
{
    char **names;
    int n = list_migrations(dir, &names);
    int latest = n > 0 ? migration_number(names[n - 1]) : -1;
    if (n > 0)
        free_names(names, n);
    else
        free(names);
    return latest;
}

asset_err db_schema_version(db_conn *c, int *out)
{
    static const char *const names[] = {"version"};
    static const row_type version_row = {names, 1};
    PGresult *res = NULL;
    row_reader r;
    *out = -1;
    asset_err e = db_exec(c, "SELECT coalesce(max(version), -1) AS version FROM schema_migrations",
                          0, NULL, NULL, NULL, &res);
    if (e == ASSET_OK && (row_bind(&r, res, &version_row, NULL) != 0 || row_count(&r) != 1))
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK)
        *out = row_int(&r, 0, 0);
    PQclear(res);
    return e;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1))) {
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = 0;
        }
    }
    fclose(f);
    return buf;
}

static int run_sql(PGconn *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("migration failed", LOG_STR("name", what), LOG_STR("error", PQerrorMessage(pg)));
    PQclear(r);
    return ok ? 0 : -1;
}

/* One migration in one transaction. The transaction-scoped advisory lock serialises instances
 * that start together (each re-checks what is applied after taking it); a session lock would
 * not hold through a transaction pooler, where each transaction may get another session. */
static int apply_one(PGconn *pg, const char *dir, const char *name)
{
    char path[4096], ver[16];
    int num = migration_number(name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(ver, sizeof ver, "%d", num);
    const char *params[] = {ver};
    if (run_sql(pg, "BEGIN", name) != 0)
        return -1;
    if (run_sql(pg, "SELECT pg_advisory_xact_lock(7263540101)", "lock") != 0 ||
        run_sql(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                "table") != 0) {
        run_sql(pg, "ROLLBACK", name);
        return -1;
    }
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               params, NULL, NULL, 0);
    int applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
    PQclear(r);
    if (failed || applied)
        return failed ? (run_sql(pg, "ROLLBACK", name), -1) : run_sql(pg, "COMMIT", name);
    char *sql = read_file(path);
    if (!sql) {
        log_error("cannot read migration", LOG_STR("path", path));
        run_sql(pg, "ROLLBACK", name);
        return -1;
    }
    int rc = run_sql(pg, sql, name);
    free(sql);
    if (rc == 0) {
        const char *p2[] = {ver, name};
        r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                         NULL, p2, NULL, NULL, 0);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
    }
    rc = rc == 0 ? run_sql(pg, "COMMIT", name) : (run_sql(pg, "ROLLBACK", name), -1);
    if (rc == 0)
        log_info("migration applied", LOG_STR("name", name));
    return rc;
}

int db_migrate(const char *url, const char *dir)
{
    PGconn *pg = NULL;
    char **names = NULL;
    int n = list_migrations(dir, &names), latest = -1;
    if (n <= 0) {
        log_error("no migrations found (set ASSETD_MIGRATIONS_DIR)", LOG_STR("dir", dir));
        free(names);
        return -1;
    }
    if (db_connect(url, 30000, &pg) != ASSET_OK) {
        log_error("cannot connect to DATABASE_URL to migrate");
        free_names(names, n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (apply_one(pg, dir, names[i]) != 0)
            goto done;
    latest = migration_number(names[n - 1]);
done:
    PQfinish(pg);
    free_names(names, n);
    return latest;
}
