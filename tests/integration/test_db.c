/* test_db: migrations (service/store/db.c) against a real PostgreSQL: applying them again
 * changes nothing, a missing folder is an error, and two processes migrating a fresh database at
 * once apply each migration exactly once; every connection gets assetd's settings. Runs on
 * TEST_DATABASE_URL itself and on fresh databases it creates and drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/it.h"

/* Migration files, as db.c's rule says: NNNN_*.sql. */
static int count_migration_files(int *max_version)
{
    DIR *d = opendir(mig_dir);
    struct dirent *e;
    int n = 0;
    *max_version = -1;
    if (!d)
        fail_msg("cannot open the migrations folder %s", mig_dir);
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len < 9 || s[4] != '_' || strcmp(s + len - 4, ".sql") != 0)
            continue;
        if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
              s[2] <= '9' && s[3] >= '0' && s[3] <= '9'))
            continue;
        int v = atoi(s);
        if (v > *max_version)
            *max_version = v;
        n++;
    }
    closedir(d);
    return n;
}

/* schema_migrations holds exactly one row per migration file, with its number and name. */
static void check_schema_migrations(PGconn *c)
{
    int maxv = -1;
    int files = count_migration_files(&maxv);
    assert_true(files >= 1);
    assert_int_equal(sql_long(c, "SELECT count(*) FROM schema_migrations", 0, NULL), files);
    assert_int_equal(sql_long(c, "SELECT count(DISTINCT version) FROM schema_migrations", 0, NULL),
                     files);
    assert_int_equal(sql_long(c, "SELECT max(version) FROM schema_migrations", 0, NULL), maxv);
    DIR *d = opendir(mig_dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len < 9 || s[4] != '_' || strcmp(s + len - 4, ".sql") != 0 || s[0] < '0' || s[0] > '9')
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", atoi(s));
        const char *v[] = {ver, s};
        if (sql_long(c, "SELECT count(*) FROM schema_migrations WHERE version = $1 AND name = $2",
                     2, v) != 1)
            fail_msg("migration %s is not recorded exactly once", s);
    }
    closedir(d);
}

/* ---- migrations ---- */

static void test_migrations_idempotent(void **state)
{
    (void)state;
    int latest = db_migrations_latest(mig_dir);
    assert_true(latest >= 1);
    int a = db_migrate(test_url, mig_dir);
    int b = db_migrate(test_url, mig_dir);
    assert_int_equal(a, latest);
    assert_int_equal(b, a);
    check_schema_migrations(admin_pg);
    /* a third run still changes nothing */
    long before = sql_long(admin_pg, "SELECT count(*) FROM schema_migrations", 0, NULL);
    assert_int_equal(db_migrate(test_url, mig_dir), latest);
    assert_int_equal(sql_long(admin_pg, "SELECT count(*) FROM schema_migrations", 0, NULL), before);
    /* a missing folder is an error, not "nothing to do" */
    assert_int_equal(db_migrate(test_url, "/nonexistent/migrations"), -1);
}

typedef struct {
    const char *url;
    int result;
} mig_arg;

static void *mig_thread(void *p)
{
    mig_arg *a = p;
    a->result = db_migrate(a->url, mig_dir);
    return NULL;
}

static void test_migrate_concurrent_fresh_db(void **state)
{
    (void)state;
    int latest = db_migrations_latest(mig_dir);
    for (int round = 0; round < 3; round++) {
        char name[64];
        unique_name(name, sizeof name, "assetd_tmig");
        char *url = create_db(name, NULL);
        mig_arg args[2] = {{url, -2}, {url, -2}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, mig_thread, &args[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(args[0].result, latest);
        assert_int_equal(args[1].result, latest);
        PGconn *c = PQconnectdb(url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        check_schema_migrations(c);
        /* the schema is really there */
        assert_int_equal(sql_long(c, "SELECT count(*) FROM assets", 0, NULL), 0);
        PQfinish(c);
        drop_db(name);
        free(url);
    }
}

/* ---- connections ---- */

/* What db_connect sets on every connection it opens: the statement timeout, read committed as
 * the default, and one generic plan per prepared statement (a custom plan made at every call of
 * a statement with array parameters cost a group read twice the CPU). */
static void test_connection_settings(void **state)
{
    (void)state;
    PGconn *pg = NULL;
    assert_int_equal(db_connect(test_url, 4000, &pg), ASSET_OK);
    PGresult *r = sql(pg,
                      "SELECT current_setting('statement_timeout'), "
                      "current_setting('default_transaction_isolation'), "
                      "current_setting('plan_cache_mode')",
                      0, NULL);
    assert_string_equal(PQgetvalue(r, 0, 0), "4s");
    assert_string_equal(PQgetvalue(r, 0, 1), "read committed");
    assert_string_equal(PQgetvalue(r, 0, 2), "force_generic_plan");
    PQclear(r);
    PQfinish(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_migrations_idempotent),
        IT_TEST(test_migrate_concurrent_fresh_db),
        IT_TEST(test_connection_settings),
    };
    return IT_MAIN("test_db", tests);
}
