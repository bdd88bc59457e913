/* test_names: the named constants that C and SQL share. The restore status table converts both
 * ways (sync_status_name / sync_status_parse) and agrees with the restores table's CHECK
 * constraint and its partial index of pending jobs (migration 0002); the SQL spellings of the
 * owner kinds and syncType bits are the numbers the C constants hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../service/asset_req.h"
#include "../../service/sync/sync.h"

static void test_restore_status_table(void **state)
{
    (void)state;
    static const char *const want[RESTORE_STATUS_COUNT] = {
        [RESTORE_QUEUED] = "queued",
        [RESTORE_RUNNING] = "running",
        [RESTORE_DONE] = "done",
        [RESTORE_FAILED] = "failed",
    };
    for (int i = 0; i < RESTORE_STATUS_COUNT; i++) {
        assert_string_equal(sync_status_name(i), want[i]);
        assert_int_equal(sync_status_parse(want[i]), i);
    }
    /* out of range: shown as failed, never as a stray pointer */
    assert_string_equal(sync_status_name(-1), "failed");
    assert_string_equal(sync_status_name(RESTORE_STATUS_COUNT), "failed");
    assert_int_equal(sync_status_parse(NULL), -1);
    assert_int_equal(sync_status_parse(""), -1);
    assert_int_equal(sync_status_parse("Done"), -1);
    assert_int_equal(sync_status_parse("done "), -1);
    assert_string_equal(RESTORE_SQL_PENDING, "('queued', 'running')");
    assert_string_equal(RESTORE_SQL_DONE, "'done'");
    assert_string_equal(RESTORE_SQL_FAILED, "'failed'");
}

static char *read_migration(const char *name)
{
    const char *dir = getenv("ASSETD_MIGRATIONS_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "migrations", name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* The names the database accepts are the table's, in its order; the index of pending jobs is
 * on the same predicate the statements use. */
static void test_restore_status_schema(void **state)
{
    (void)state;
    const char *sql = read_migration("0002_sync.sql");
    char check[256] = "CHECK (status IN (";
    for (int i = 0; i < RESTORE_STATUS_COUNT; i++)
        snprintf(check + strlen(check), sizeof check - strlen(check), "%s'%s'", i ? ", " : "",
                 sync_status_name(i));
    strcat(check, "))");
    if (!strstr(sql, check))
        fail_msg("migration 0002 does not hold %s", check);
    if (!strstr(sql, "DEFAULT " RESTORE_SQL_QUEUED))
        fail_msg("a new restore is not " RESTORE_SQL_QUEUED " by default");
    if (!strstr(sql, "WHERE status IN " RESTORE_SQL_PENDING ";"))
        fail_msg("the index of pending restores is not on status IN " RESTORE_SQL_PENDING);
}

static void test_sql_spellings(void **state)
{
    (void)state;
    const struct {
        const char *sql;
        int value;
    } cases[] = {
        {SQL_OWNER_APP, OWNER_APP},
        {SQL_OWNER_GROUP, OWNER_GROUP},
        {SQL_SYNC_THIS_DEVICE, SYNC_THIS_DEVICE},
        {SQL_SYNC_TRUSTED_DEVICE, SYNC_TRUSTED_DEVICE},
        {SQL_SYNC_TRUSTED_ACCOUNT, SYNC_TRUSTED_ACCOUNT},
        {SQL_SYNC_SYNCABLE, SYNC_SYNCABLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *end = NULL;
        long v = strtol(cases[i].sql, &end, 10);
        if (*end || v != cases[i].value)
            fail_msg("\"%s\" is not %d", cases[i].sql, cases[i].value);
    }
    assert_int_not_equal(OWNER_APP, OWNER_GROUP);
    assert_int_equal(SYNC_SYNCABLE & SYNC_TRUSTED_ACCOUNT, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_status_table),
        cmocka_unit_test(test_restore_status_schema),
        cmocka_unit_test(test_sql_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
