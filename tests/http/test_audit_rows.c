/* The audit rows each asset operation writes, pinned column by column (service/audit.c's policy
 * table; the in-statement audit of store.c and store_batch.c takes its columns as parameters):
 * principal, action (the operationId, or the single operation's for a batch item), device,
 * owner (app:<appId> / group:<groupId>), alias hash (equal for the same alias whichever
 * operation recorded it) and outcome. Changes record their success in their own transaction
 * (the row is there when the answer is); refusals and secret reads are written after the fact
 * by the background writer, so the test polls (bounded) for them; attribute-only reads and a
 * replayed Idempotency-Key request record nothing more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    srv = tl_server_start(NULL);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* Waits (bounded) until device d has at least `rows` rows of its app: so a row written after
 * the fact is in before the next request's. */
static void wait_rows(const tl_device *d, long long rows)
{
    for (int k = 0; k < 200; k++) {
        if (tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                        "principal = 'installation'",
                        d->id, NULL) >= rows)
            break;
        tl_sleep_ms(25);
    }
}

/* The rows of device d's app, oldest first: principal, action, owner, outcome, and the alias
 * hash as a label ("-" for none, else "h<n>": the n-th distinct hash of the device in order of
 * first appearance), so equal hashes read equal. Waits (bounded) until there are `rows`. */
static char *rows_of(const tl_device *d, long long rows)
{
    wait_rows(d, rows);
    return tl_db_dump(
        "WITH l AS (SELECT id, principal, action, owner, outcome, alias_hash, "
        "min(id) OVER (PARTITION BY alias_hash) AS first FROM audit_log WHERE device_id = $1 "
        "AND principal = 'installation') "
        "SELECT principal, action, owner, outcome, CASE WHEN alias_hash IS NULL THEN '-' ELSE "
        "'h' || dense_rank() OVER (ORDER BY CASE WHEN alias_hash IS NULL THEN NULL ELSE first "
        "END) END FROM l ORDER BY id",
        d->id, NULL);
}

static void expect_rows(const tl_device *d, long long n, const char *want)
{
    char *got = rows_of(d, n);
    if (strcmp(got, want) != 0)
        fail_msg("audit rows:\n%s\nwanted:\n%s", got, want);
    free(got);
    /* every row names the device, and the hash is the 64-hex keyed hash, never the alias */
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                                 "alias_hash IS NOT NULL AND alias_hash !~ '^[0-9a-f]{64}$'",
                                 d->id, NULL),
                     0);
}

static void test_single_operations(void **st)
{
    (void)st;
    tl_device d;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.auditrows", &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"one\",\"secret\":\"b2xk\"}"));
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token,
                         "{\"alias\":\"one\",\"secret\":\"bmV3\","
                         "\"conflictResolution\":\"OVERWRITE\"}");
    tl_expect_status(r, 200); /* replaced */
    tl_resp_free(r);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"two\",\"secret\":\"b2xk\"}"));
    /* refused: after the fact, with the error's name */
    r = tl_http(srv, "POST", "/assets", a.token, "{\"alias\":\"two\",\"secret\":\"eA==\"}");
    tl_expect_problem(r, 409, "DUPLICATED");
    tl_resp_free(r);
    expect_rows(&d, 4,
                "installation\taddAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditrows\tok\th2\n"
                "installation\taddAsset\tapp:com.example.auditrows\tDUPLICATED\th2\n");
    /* attribute-only reads: nothing; a secret read: getAsset */
    r = tl_http(srv, "GET", "/assets/one", a.token, NULL);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "one", NULL, secret, sizeof secret), "new");
    wait_rows(&d, 5);
    r = tl_http_json(srv, "PATCH", "/assets/two", a.token,
                     json_pack("{s:s}", "dataLabelNormal1", "x"));
    tl_expect_status(r, 200);
    tl_resp_free(r);
    r = tl_http(srv, "DELETE", "/assets/one", a.token, NULL);
    tl_expect_status(r, 204);
    tl_resp_free(r);
    r = tl_http(srv, "DELETE", "/assets?alias=two", a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 1);
    tl_resp_free(r);
    expect_rows(&d, 8,
                "installation\taddAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditrows\tok\th2\n"
                "installation\taddAsset\tapp:com.example.auditrows\tDUPLICATED\th2\n"
                "installation\tgetAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\tupdateAsset\tapp:com.example.auditrows\tok\th2\n"
                "installation\tdeleteAsset\tapp:com.example.auditrows\tok\th1\n"
                "installation\tdeleteAssets\tapp:com.example.auditrows\tok\th2\n");
}

static void test_group_owner_and_batches(void **st)
{
    (void)st;
    tl_device d = tl_device_create(srv, NULL, NULL);
    const char *const groups[] = {"com.example.auditgrp", NULL};
    tl_app a = tl_app_install(srv, d.id, "com.example.auditb", groups, false);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"g\",\"secret\":\"b2xk\","
                             "\"groupId\":\"com.example.auditgrp\"}"));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"x\",\"secret\":\"b2xk\"}"));
    /* batch-add: one row per item written, as the single add; the refused item after the fact */
    tl_resp *r = tl_http(srv, "POST", "/assets/batch-add", a.token,
                         "{\"assets\":[{\"alias\":\"y\",\"secret\":\"eA==\"},"
                         "{\"alias\":\"x\",\"secret\":\"eA==\"}]}");
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 1);
    tl_resp_free(r);
    wait_rows(&d, 4);
    r = tl_http(srv, "POST", "/assets/batch-update", a.token,
                "{\"items\":[{\"alias\":\"y\",\"set\":{\"dataLabelNormal1\":\"v\"}},"
                "{\"alias\":\"nope\",\"set\":{\"dataLabelNormal1\":\"v\"}}]}");
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 1);
    tl_resp_free(r);
    wait_rows(&d, 6);
    r = tl_http(srv, "POST", "/assets/batch-remove", a.token, "{\"aliases\":[\"x\",\"y\"]}");
    tl_expect_status(r, 200);
    tl_resp_free(r);
    /* a whole batch refused: one row of the batch operation, no alias */
    r = tl_http(srv, "POST", "/assets/batch-remove", a.token, "{\"aliases\":[\"x\",\"x\"]}");
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    tl_resp_free(r);
    expect_rows(&d, 10,
                "installation\taddAsset\tgroup:com.example.auditgrp\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditb\tok\th2\n"
                "installation\taddAsset\tapp:com.example.auditb\tok\th3\n"
                "installation\taddAsset\tapp:com.example.auditb\tDUPLICATED\th2\n"
                "installation\tupdateAsset\tapp:com.example.auditb\tok\th3\n"
                "installation\tupdateAsset\tapp:com.example.auditb\tNOT_FOUND\th4\n"
                "installation\tdeleteAsset\tapp:com.example.auditb\tok\th2\n"
                "installation\tdeleteAsset\tapp:com.example.auditb\tok\th3\n"
                "installation\tbatchRemoveAssets\tapp:com.example.auditb\tINVALID_ARGUMENT\t-\n");
}

static void test_idempotent_replay_audited_once(void **st)
{
    (void)st;
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.auditidem", &d);
    const char *body = "{\"alias\":\"i\",\"secret\":\"eA==\"}";
    const char *const headers[] = {"Idempotency-Key: k-1", NULL};
    const tl_http_opts opts = {.headers = headers};
    char auth[160];
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    for (int i = 0; i < 2; i++) {
        tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, body, strlen(body), &opts);
        tl_expect_status(r, 201);
        tl_resp_free(r);
    }
    /* a refusal after the replay: once it is in, anything the replay queued would be too (one
     * writer, in order) */
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token, body);
    tl_expect_problem(r, 409, "DUPLICATED");
    tl_resp_free(r);
    expect_rows(&d, 2,
                "installation\taddAsset\tapp:com.example.auditidem\tok\th1\n"
                "installation\taddAsset\tapp:com.example.auditidem\tDUPLICATED\th1\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_operations),
        cmocka_unit_test(test_group_owner_and_batches),
        cmocka_unit_test(test_idempotent_replay_audited_once),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
