/* test_row: result rows read by column name (service/store/row.c) on results built in memory
 * (libpq's PQmakeEmptyPGresult: no server) — binding by name whatever the column order, a
 * missing column refused, the per-statement cache, NULLs, integers, booleans and bytea in text
 * and binary format; and the row types of store.c built on it (assets, backup records, counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../service/store/row.h"
#include "../../service/store/store.h"

/* A result with columns names[0..n) (binary format where binary[k]) and no rows yet. */
static PGresult *result(const char *const *names, int n, const bool *binary)
{
    PGresAttDesc att[ROW_MAX_COLS + 2];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    assert_true(n <= ROW_MAX_COLS + 2);
    memset(att, 0, sizeof att);
    for (int k = 0; k < n; k++) {
        att[k].name = (char *)names[k];
        att[k].format = binary && binary[k] ? 1 : 0;
        att[k].typlen = -1;
    }
    assert_int_equal(PQsetResultAttrs(res, n, att), 1);
    return res;
}

/* Sets row i, column k (NULL: SQL NULL); len < 0: strlen. */
static void put(PGresult *res, int i, int k, const char *v, int len)
{
    if (v && len < 0)
        len = (int)strlen(v);
    assert_int_equal(PQsetvalue(res, i, k, (char *)v, v ? len : -1), 1);
}

enum { T_ID, T_NAME, T_FLAG, NT };
static const char *const t_names[NT] = {"id", "name", "flag"};
static const row_type t_row = {t_names, NT};

static void test_bind_by_name_any_order(void **state)
{
    (void)state;
    const char *const names[3] = {"id", "name", "flag"};
    PGresult *a = result(names, 3, NULL);
    put(a, 0, 0, "42", -1);
    put(a, 0, 1, "alpha", -1);
    put(a, 0, 2, "t", -1);
    /* another order, and a column the type does not know */
    const char *const shuffled[4] = {"flag", "extra", "name", "id"};
    PGresult *b = result(shuffled, 4, NULL);
    put(b, 0, 0, "f", -1);
    put(b, 0, 1, "ignored", -1);
    put(b, 0, 2, "beta", -1);
    put(b, 0, 3, "-7", -1);
    row_reader r;
    assert_int_equal(row_bind(&r, a, &t_row, NULL), 0);
    assert_int_equal(row_count(&r), 1);
    assert_int_equal(row_i64(&r, 0, T_ID), 42);
    size_t n = 0;
    assert_string_equal(row_text(&r, 0, T_NAME, &n), "alpha");
    assert_int_equal(n, 5);
    assert_true(row_bool(&r, 0, T_FLAG));
    assert_int_equal(row_bind(&r, b, &t_row, NULL), 0);
    assert_int_equal(row_i64(&r, 0, T_ID), -7);
    assert_int_equal(row_int(&r, 0, T_ID), -7);
    assert_string_equal(row_text(&r, 0, T_NAME, NULL), "beta");
    assert_false(row_bool(&r, 0, T_FLAG));
    assert_int_equal(r.col[T_ID], 3);
    assert_int_equal(r.col[T_FLAG], 0);
    PQclear(a);
    PQclear(b);
}

static void test_missing_column_is_refused(void **state)
{
    (void)state;
    const char *const names[] = {"id", "flag"};
    PGresult *res = result(names, 2, NULL);
    row_reader r;
    row_cache cache = {0};
    assert_int_equal(row_bind(&r, res, &t_row, NULL), -1);
    assert_int_equal(row_bind(&r, res, &t_row, &cache), -1);
    assert_int_equal(atomic_load(&cache.ready), 0); /* nothing learnt from a bad shape */
    /* a name differing only in case is another column */
    const char *const upper[] = {"id", "Name", "flag"};
    PGresult *res2 = result(upper, 3, NULL);
    assert_int_equal(row_bind(&r, res2, &t_row, NULL), -1);
    /* a row type wider than a reader can hold */
    const char *wide_names[ROW_MAX_COLS + 1];
    for (int k = 0; k <= ROW_MAX_COLS; k++)
        wide_names[k] = "id";
    const row_type wide = {wide_names, ROW_MAX_COLS + 1};
    assert_int_equal(row_bind(&r, res2, &wide, NULL), -1);
    PQclear(res);
    PQclear(res2);
}

static void test_cache(void **state)
{
    (void)state;
    const char *const names[] = {"pad", "flag", "name", "id"};
    row_cache cache = {0};
    row_reader r;
    PGresult *a = result(names, 4, NULL);
    put(a, 0, 0, "x", -1);
    put(a, 0, 1, "t", -1);
    put(a, 0, 2, "first", -1);
    put(a, 0, 3, "1", -1);
    assert_int_equal(row_bind(&r, a, &t_row, &cache), 0);
    assert_int_equal(atomic_load(&cache.ready), 1);
    assert_int_equal(cache.nfields, 4);
    assert_int_equal(cache.col[T_ID], 3);
    assert_int_equal(cache.col[T_NAME], 2);
    assert_int_equal(cache.col[T_FLAG], 1);
    /* The next result of the statement binds from the cache: positions are not looked up again
     * (a cache that says otherwise is believed, which shows it is the one read). */
    cache.col[T_NAME] = 0;
    assert_int_equal(row_bind(&r, a, &t_row, &cache), 0);
    assert_string_equal(row_text(&r, 0, T_NAME, NULL), "x");
    cache.col[T_NAME] = 2;
    assert_int_equal(row_bind(&r, a, &t_row, &cache), 0);
    assert_string_equal(row_text(&r, 0, T_NAME, NULL), "first");
    /* A result of another shape (another number of columns) is looked up by name, and does not
     * replace what the cache learnt. */
    const char *const other[] = {"name", "id", "flag"};
    PGresult *b = result(other, 3, NULL);
    put(b, 0, 0, "second", -1);
    put(b, 0, 1, "2", -1);
    put(b, 0, 2, "f", -1);
    assert_int_equal(row_bind(&r, b, &t_row, &cache), 0);
    assert_string_equal(row_text(&r, 0, T_NAME, NULL), "second");
    assert_int_equal(row_i64(&r, 0, T_ID), 2);
    assert_int_equal(cache.nfields, 4);
    assert_int_equal(cache.col[T_NAME], 2);
    PQclear(a);
    PQclear(b);
}

static void test_null_and_numbers(void **state)
{
    (void)state;
    const char *const names[] = {"id", "name", "flag"};
    PGresult *res = result(names, 3, NULL);
    put(res, 0, 0, NULL, 0);
    put(res, 0, 1, NULL, 0);
    put(res, 0, 2, NULL, 0);
    put(res, 1, 0, "12x", -1);
    put(res, 1, 1, "", -1);
    put(res, 1, 2, "f", -1);
    put(res, 2, 0, "9223372036854775807", -1);
    put(res, 2, 1, "z", -1);
    put(res, 2, 2, "t", -1);
    row_reader r;
    int64_t v = 5;
    size_t n = 9;
    assert_int_equal(row_bind(&r, res, &t_row, NULL), 0);
    assert_int_equal(row_count(&r), 3);
    assert_true(row_null(&r, 0, T_ID));
    assert_true(row_null(&r, 0, T_NAME));
    assert_string_equal(row_text(&r, 0, T_NAME, &n), "");
    assert_int_equal(n, 0);
    assert_int_equal(row_i64_checked(&r, 0, T_ID, &v), -1);
    assert_int_equal(v, 5);
    assert_int_equal(row_i64(&r, 0, T_ID), 0);
    assert_false(row_bool(&r, 0, T_FLAG));
    /* malformed and empty are refused by the checked reader, 0 for the others */
    assert_false(row_null(&r, 1, T_ID));
    assert_int_equal(row_i64_checked(&r, 1, T_ID, &v), -1);
    assert_int_equal(row_i64(&r, 1, T_ID), 0);
    assert_false(row_null(&r, 1, T_NAME)); /* '' is not NULL */
    assert_int_equal(row_i64_checked(&r, 2, T_ID, &v), 0);
    assert_true(v == INT64_MAX);
    assert_true(row_bool(&r, 2, T_FLAG));
    PQclear(res);
}

enum { B_DATA, NB };
static const char *const b_names[NB] = {"data"};
static const row_type b_row = {b_names, NB};

static void test_bytea(void **state)
{
    (void)state;
    const char *const names[] = {"data"};
    const bool text[] = {false}, binary[] = {true};
    PGresult *t = result(names, 1, text);
    PGresult *b = result(names, 1, binary);
    const char raw[] = {'a', 0, (char)0xff, 'z'};
    put(t, 0, 0, "\\x6100ff7a", -1);
    put(t, 1, 0, NULL, 0);
    put(t, 2, 0, "\\x", -1);
    put(t, 3, 0, "\\x6g", -1); /* not hex */
    put(b, 0, 0, raw, 4);
    put(b, 1, 0, NULL, 0);
    put(b, 2, 0, "", 0);
    arena a = {0};
    row_reader r;
    const unsigned char *p = (const unsigned char *)"x";
    size_t n = 77;
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(row_bind(&r, pass ? b : t, &b_row, NULL), 0);
        assert_int_equal(row_bytea(&r, 0, B_DATA, &a, &p, &n), 0);
        assert_int_equal(n, 4);
        assert_memory_equal(p, raw, 4);
        assert_int_equal(row_bytea(&r, 1, B_DATA, &a, &p, &n), 0);
        assert_null(p); /* NULL stays NULL */
        assert_int_equal(n, 0);
        assert_int_equal(row_bytea(&r, 2, B_DATA, &a, &p, &n), 0);
        assert_non_null(p); /* empty is not NULL */
        assert_int_equal(n, 0);
    }
    assert_int_equal(row_bind(&r, t, &b_row, NULL), 0);
    assert_int_equal(row_bytea(&r, 3, B_DATA, &a, &p, &n), -1);
    arena_free(&a);
    PQclear(t);
    PQclear(b);
}

/* ---- store.c's row types ---- */

/* The select lists of store.h name every column the row types read. */
static void test_store_cols_name_the_row_type(void **state)
{
    (void)state;
    const char *cols = STORE_ASSET_COLS;
    for (int k = 0; k < store_asset_row.n; k++) {
        const char *name = store_asset_row.names[k];
        const char *at = strstr(cols, name);
        assert_non_null(at);
    }
    assert_non_null(strstr(STORE_INSERT_COLS, "device_id, owner_kind, owner, attr_enc, alias"));
    assert_non_null(strstr(STORE_UPSERT_SET, "sealed = EXCLUDED.sealed"));
    assert_null(strstr(STORE_UPSERT_SET, "alias =")); /* the key is not replaced */
}

/* A backup record binds by name whatever the order and whatever else the select has (a join's
 * columns), and decodes the columns it shares with an asset. */
static void test_backup_decode(void **state)
{
    (void)state;
    const char *const names[] = {"sealed",    "rule",          "wrap_type", "persistent",
                                 "alias",     "labels_sealed", "ordinal",   "owner",
                                 "req_pwd",   "owner_kind",    "attr_enc",  "auth_type",
                                 "sync_type", "accessibility"};
    const int n = (int)(sizeof names / sizeof names[0]);
    const char *const vals[] = {"\\x0102", "3", "1", "t", "my-alias", "\\x", "17",
                                "app:x",   "f", "0", "t", "2",        "5",   "4"};
    PGresult *res = result(names, n, NULL);
    for (int k = 0; k < n; k++)
        put(res, 0, k, vals[k], -1);
    row_reader r;
    asset_record rec;
    int ordinal = 0;
    arena a = {0};
    assert_int_equal(store_backup_rows(&r, res), 0);
    assert_int_equal(store_backup_decode(&r, 0, &rec, &ordinal, &a), 0);
    assert_int_equal(ordinal, 17);
    assert_int_equal(rec.owner_kind, 0);
    assert_memory_equal(rec.owner.p, "app:x", 5);
    assert_int_equal(rec.owner.n, 5);
    assert_true(rec.attr_enc);
    assert_int_equal(rec.alias.n, 8);
    assert_int_equal(rec.accessibility, 4);
    assert_false(rec.require_password_set);
    assert_int_equal(rec.auth_type, 2);
    assert_int_equal(rec.sync_type, 5);
    assert_true(rec.is_persistent);
    assert_int_equal(rec.wrap_type, 1);
    assert_int_equal(rec.sealed_len, 2);
    assert_int_equal(rec.sealed[1], 2);
    assert_non_null(rec.labels_sealed);
    assert_int_equal(rec.labels_sealed_len, 0);
    assert_int_equal(rec.seq, 0); /* not a backup's: left zero */
    arena_free(&a);
    PQclear(res);

    /* without its ordinal it is not a backup record (a result of another shape than the one
     * the statement's cache learnt: looked up by name) */
    const char *fewer[sizeof names / sizeof names[0]];
    int m = 0;
    for (int k = 0; k < n; k++)
        if (strcmp(names[k], "ordinal") != 0)
            fewer[m++] = names[k];
    assert_int_equal(m, n - 1);
    PGresult *bad = result(fewer, m, NULL);
    assert_int_equal(store_backup_rows(&r, bad), -1);
    PQclear(bad);
}

static void test_count_row(void **state)
{
    (void)state;
    const char *const names[] = {"n"};
    PGresult *res = result(names, 1, NULL);
    put(res, 0, 0, "12", -1);
    row_reader r;
    assert_int_equal(row_bind(&r, res, &store_count_row, NULL), 0);
    assert_int_equal(row_i64(&r, 0, 0), 12);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_by_name_any_order),
        cmocka_unit_test(test_missing_column_is_refused),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_null_and_numbers),
        cmocka_unit_test(test_bytea),
        cmocka_unit_test(test_store_cols_name_the_row_type),
        cmocka_unit_test(test_backup_decode),
        cmocka_unit_test(test_count_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
