/* test_plans: the hot-path statements of the asset store use the index they are written for
 * whatever the statistics say (issue "Performance II", item 1).
 *
 * In a database of its own, 50,000 assets of one owner are loaded and never analyzed
 * (autovacuum off for the table), as after a restore onto a new device or a bulk import. Then
 * the store's own functions run — get by alias, select by alias FOR UPDATE (update), delete by
 * alias, insert, update by seq, a page, a label page, batch select and delete — with
 * PostgreSQL's auto_explain sending each executed plan (generic plans forced, as prepared
 * statements end up with) back as a notice. No plan may contain a sequential scan, or a scan that
 * filters rows away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../service/store/db.h"
#include "../../service/store/store_devices.h"
#include "../../service/store/store.h"
#include "../../service/store/store_batch.h"
#include "../../service/store/store_group.h"
#include "../lib/testlib.h"

#define ROWS 50000
#define DEVICE "5e1f0b7e-0000-4000-8000-00000000a11c"
#define OWNER "com.example.plans"

static char db_name[64];
static char *db_url;
static char notices[1 << 16];

static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    size_t len = strlen(notices);
    snprintf(notices + len, sizeof notices - len, "%s\n", msg);
}

static int setup(void **st)
{
    (void)st;
    char q[256];
    tl_unique(db_name, sizeof db_name, "plans");
    for (char *p = db_name; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(q, sizeof q, "CREATE DATABASE %s", db_name);
    PQclear(tl_db_exec(q, NULL));
    const char *url = getenv("TEST_DATABASE_URL"), *query = strchr(url, '?');
    assert_non_null(query);
    db_url = malloc(strlen(url) + 80);
    sprintf(db_url, "postgresql:///%s%s", db_name, query);
    const char *mig = getenv("ASSETD_MIGRATIONS_DIR");
    assert_true(db_migrate(db_url, mig && *mig ? mig : "migrations") > 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char q[256];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    PQclear(tl_db_exec(q, NULL));
    free(db_url);
    return 0;
}

static void run_sql(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

/* The plans captured since the last call: none may scan sequentially or filter rows away. */
static void expect_plans_clean(const char *what)
{
    if (getenv("PLANS_SHOW"))
        fprintf(stderr, "%s:\n%s\n", what, notices);
    if (!strstr(notices, "plan:"))
        fail_msg("%s: no plan was reported", what);
    if (strstr(notices, "Seq Scan") || strstr(notices, "Rows Removed by Filter"))
        fail_msg("%s: a plan scans more than it returns:\n%s", what, notices);
    notices[0] = 0;
}

static void test_hot_paths_do_not_depend_on_statistics(void **st)
{
    (void)st;
    db_conn c = {.timeout_ms = 30000};
    assert_int_equal(db_connect(db_url, 30000, &c.pg), ASSET_OK);
    run_sql(c.pg, "ALTER TABLE assets SET (autovacuum_enabled = false)");
    run_sql(c.pg, "INSERT INTO devices (id, name, token_hash, dek_version) VALUES ('" DEVICE
                  "', 'plans', '\\x01', 1)");
    run_sql(c.pg, "INSERT INTO assets (device_id, owner_kind, owner, attr_enc, alias, "
                  "accessibility, req_pwd, auth_type, sync_type, persistent, wrap_type, n1, "
                  "sealed, key_version, alias_key) SELECT '" DEVICE "', 0, '" OWNER "', false, "
                  "'alias-' || g, 1, false, 0, 0, false, 0, 'label-' || (g % 100), '\\x00', "
                  "1, " ALIAS_KEY_SQL("'" DEVICE "'", "0", "'" OWNER "'", "false",
                                      "('alias-' || g)") " FROM generate_series(1, 50000) g");
    assert_int_equal(tl_db_count("SELECT 1", NULL), 1);
    PQsetNoticeProcessor(c.pg, on_notice, NULL);
    run_sql(c.pg, "LOAD 'auto_explain'");
    run_sql(c.pg, "SET auto_explain.log_min_duration = 0");
    run_sql(c.pg, "SET auto_explain.log_analyze = on");
    run_sql(c.pg, "SET auto_explain.log_level = notice");
    run_sql(c.pg, "SET plan_cache_mode = force_generic_plan");
    notices[0] = 0;

    store_scope sc = {.device_id = DEVICE, .owner_kind = 0, .owner = {OWNER, strlen(OWNER)}};
    store_label_cols none;
    memset(&none, 0, sizeof none);
    asset_text alias = {"alias-4242", 10};
    PGresult *r = NULL;

    assert_int_equal(store_asset_get(&c, &sc, alias, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    expect_plans_clean("get by alias");

    /* The same with a remembered principal checked in the statement (the GET hot path), and the
     * check alone (every other route with a remembered principal). */
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    memset(th, 2, sizeof th);
    run_sql(c.pg, "INSERT INTO installations (device_id, app_id, token_hash) VALUES ('" DEVICE
                  "', '" OWNER "', decode(repeat('02', 32), 'hex'))");
    PGresult *ir = PQexec(c.pg, "SELECT id FROM installations WHERE device_id = '" DEVICE "'");
    assert_int_equal(PQntuples(ir), 1);
    store_principal_ref ref = {.device_id = DEVICE,
                               .installation_id = strtoll(PQgetvalue(ir, 0, 0), NULL, 10),
                               .token_hash = th};
    PQclear(ir);
    notices[0] = 0;
    assert_int_equal(store_asset_get_current(&c, &sc, alias, &ref, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    expect_plans_clean("get by alias, principal checked");
    bool current = false;
    assert_int_equal(store_principal_current(&c, &ref, &current), ASSET_OK);
    assert_true(current);
    expect_plans_clean("principal check");

    asset_req q;
    const char *why = NULL;
    asset_req_init(&q);
    assert_int_equal(asset_req_set_text(&q, F_ALIAS, alias.p, alias.n, &why), ASSET_OK);
    assert_int_equal(store_asset_select(&c, &sc, &q, &none, NULL, 1, true, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 1);
    row_reader rows; /* the select's results are in binary format: read through row.c */
    asset_record got;
    arena mem = {0};
    assert_int_equal(store_asset_rows(&rows, r), 0);
    assert_int_equal(store_asset_decode(&rows, 0, &got, &mem), 0);
    int64_t seq = got.seq;
    arena_free(&mem);
    PQclear(r);
    expect_plans_clean("select by alias for update");

    asset_record rec;
    memset(&rec, 0, sizeof rec);
    rec.owner = sc.owner;
    rec.alias = alias;
    rec.accessibility = 1;
    rec.sealed = (const unsigned char *)"\x01\x02";
    rec.sealed_len = 2;
    rec.key_version = 1;
    int64_t ms = 0, version = 0;
    assert_int_equal(store_asset_update(&c, DEVICE, seq, &rec, &none, true, &ms, &version),
                     ASSET_OK);
    expect_plans_clean("update by seq");

    asset_req page;
    asset_req_init(&page);
    assert_int_equal(store_asset_select(&c, &sc, &page, &none, NULL, 101, false, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 101);
    PQclear(r);
    expect_plans_clean("page");

    asset_req lp;
    store_label_cols lcols;
    memset(&lcols, 0, sizeof lcols);
    asset_req_init(&lp);
    assert_int_equal(asset_req_set_text(&lp, F_LABEL0 + LABEL_NORMAL, "label-7", 7, &why),
                     ASSET_OK);
    lcols.v[LABEL_NORMAL] = (asset_text){"label-7", 7};
    assert_int_equal(store_asset_select(&c, &sc, &lp, &lcols, NULL, 101, false, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 101);
    PQclear(r);
    expect_plans_clean("label page");

    audit_event ev;
    memset(&ev, 0, sizeof ev);
    ev.principal = "installation";
    ev.action = "addAsset";
    bool inserted = false;
    asset_record add = rec;
    add.alias = (asset_text){"fresh-alias", 11};
    assert_int_equal(
        store_asset_insert(&c, &sc, &add, &none, &ev, false, &inserted, &seq, &ms, &version),
        ASSET_OK);
    assert_true(inserted);
    expect_plans_clean("insert");

    assert_int_equal(store_asset_delete(&c, &sc, &q, &none, NULL, &r), ASSET_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    expect_plans_clean("delete by alias");

    /* Batch operations (spec §11) find their aliases by the alias key too. */
    asset_text some[3] = {{"alias-17", 8}, {"alias-4711", 10}, {"no-such-alias", 13}};
    for (int lock = 0; lock <= 1; lock++) {
        assert_int_equal(store_batch_select(&c, &sc, some, 3, lock, &r), ASSET_OK);
        assert_int_equal(PQntuples(r), 2);
        PQclear(r);
        expect_plans_clean(lock ? "batch select for update" : "batch select");
    }
    const char hashes[3][65] = {"", "", ""};
    long removed = 0;
    assert_int_equal(store_batch_delete(&c, &sc, &ev, some, hashes, 3, &removed), ASSET_OK);
    assert_int_equal(removed, 2);
    expect_plans_clean("batch delete");

    /* Group commit (service/asset_add.h): the installations' hold, then the group's rows, one
     * of them an alias that exists. */
    bool held = false, cur = false;
    assert_int_equal(store_group_hold(&c, &ref, 1, &held, &cur), ASSET_OK);
    assert_true(held && cur);
    expect_plans_clean("group hold");
    asset_record add2 = rec;
    add2.alias = (asset_text){"group-alias", 11};
    unsigned char k1[STORE_ALIAS_KEY_LEN], k2[STORE_ALIAS_KEY_LEN];
    store_alias_key(k1, &sc, add.alias);
    store_alias_key(k2, &sc, add2.alias);
    store_group_row grows[2] = {{&sc, &add, &none, &ev, k1}, {&sc, &add2, &none, &ev, k2}};
    const int pick[2] = {0, 1};
    store_group_written gw[2];
    for (int overwrite = 0; overwrite <= 1; overwrite++) {
        assert_int_equal(
            store_group_insert(&c, grows, pick, 2, overwrite ? BATCH_REPLACE : BATCH_SKIP, gw),
            ASSET_OK);
        assert_int_equal(gw[0].written, overwrite);
        assert_true(gw[1].written);
        assert_int_equal(gw[1].inserted, !overwrite);
        expect_plans_clean(overwrite ? "group upsert" : "group insert");
    }
    asset_record add3 = rec;
    add3.alias = (asset_text){"group-alias-3", 13};
    store_alias_key(k1, &sc, add3.alias);
    grows[0].r = &add3;
    assert_int_equal(store_group_insert(&c, grows, pick, 1, BATCH_FAIL, gw), ASSET_OK);
    assert_true(gw[0].written && gw[0].inserted);
    expect_plans_clean("group insert, all new");

    /* Group reads (service/asset_get.h): two keys of one principal, one of them no asset. */
    unsigned char gk[2][STORE_ALIAS_KEY_LEN];
    store_alias_key(gk[0], &sc, (asset_text){"alias-99", 8});
    store_alias_key(gk[1], &sc, (asset_text){"no-such-alias", 13});
    store_group_key keys[2] = {{gk[0], DEVICE, 0}, {gk[1], DEVICE, 0}};
    const bool check = true;
    int grow[2];
    bool gcur[2];
    assert_int_equal(store_group_get(&c, keys, 2, &ref, &check, 1, &r), ASSET_OK);
    assert_int_equal(store_group_got(r, 2, grow, gcur, &rows), 0);
    assert_true(gcur[0] && gcur[1]);
    assert_true(grow[0] >= 0);
    assert_int_equal(grow[1], -1);
    PQclear(r);
    expect_plans_clean("group get");

    /* Group removes (service/asset_remove.h): one asset that exists, one that does not. */
    store_alias_key(gk[0], &sc, (asset_text){"alias-98", 8});
    const audit_event *evs[2] = {&ev, &ev};
    bool gone[2];
    assert_int_equal(store_group_delete(&c, keys, evs, 2, gone), ASSET_OK);
    assert_true(gone[0]);
    assert_false(gone[1]);
    expect_plans_clean("group delete");

    /* Group updates (service/asset_update.h): the lock of two keys (one asset), then its write. */
    store_alias_key(gk[0], &sc, (asset_text){"alias-97", 8});
    int lrow[2];
    assert_int_equal(store_group_lock(&c, keys, 2, &r), ASSET_OK);
    assert_int_equal(store_group_locked(r, 2, lrow, &rows), 0);
    assert_true(lrow[0] >= 0);
    assert_int_equal(lrow[1], -1);
    asset_record locked;
    arena lmem = {0};
    assert_int_equal(store_asset_decode(&rows, lrow[0], &locked, &lmem), 0);
    expect_plans_clean("group lock");
    /* The record points into the lock's result (store.h): kept until the update has run. */
    store_group_change change = {DEVICE, &locked, &none, true, &ev};
    const int one = 0;
    store_group_written uw;
    assert_int_equal(store_group_update(&c, &change, &one, 1, &uw), ASSET_OK);
    assert_true(uw.written);
    PQclear(r);
    arena_free(&lmem);
    expect_plans_clean("group update");

    asset_req_clear(&q);
    asset_req_clear(&page);
    asset_req_clear(&lp);
    PQfinish(c.pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hot_paths_do_not_depend_on_statistics),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
