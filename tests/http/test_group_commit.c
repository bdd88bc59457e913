/* Group commit of POST /assets (service/asset_add.h): concurrent adds of many callers share a
 * transaction, and each still gets its own answer — 201, 200 (OVERWRITE), 409 DUPLICATED, 401 —
 * with its own audit row; a row that fails in the database fails alone. */
#include <pthread.h>
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

/* One counter of GET /metrics of s. */
static long long metric_of(const tl_server *s, const char *name)
{
    tl_resp *r = tl_http(s, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r->status, 200);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(r->body, key);
    assert_non_null(p);
    long long v = atoll(p + strlen(key));
    tl_resp_free(r);
    return v;
}

static long long metric(const char *name)
{
    return metric_of(srv, name);
}

enum { MAX_ADDS = 16 };

/* A client: n POST /assets of bodies[0..n) one after the other, all clients starting at once. */
typedef struct {
    const tl_server *s; /* NULL: srv */
    const char *token;
    pthread_barrier_t *go;
    int n;
    char bodies[MAX_ADDS][256];
    long status[MAX_ADDS];
    char code[MAX_ADDS][64]; /* the problem's title (error name), "" for a success */
} client;

static void *client_run(void *arg)
{
    client *c = arg;
    pthread_barrier_wait(c->go);
    for (int i = 0; i < c->n; i++) {
        tl_resp *r = tl_http(c->s ? c->s : srv, "POST", "/assets", c->token, c->bodies[i]);
        c->status[i] = r->status;
        const char *name = NULL;
        if (r->status >= 400 && r->json)
            name = json_string_value(json_object_get(r->json, "name"));
        snprintf(c->code[i], sizeof c->code[i], "%s", name ? name : "");
        tl_resp_free(r);
    }
    return NULL;
}

static void run_clients(client *cs, int n)
{
    pthread_t th[64];
    pthread_barrier_t go;
    assert_true(n <= 64);
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        cs[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, client_run, &cs[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
}

static void expect_secret(const char *token, const char *alias, const char *secret)
{
    char b64[128];
    tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/assets/%s?returnType=ALL", alias);
    assert_int_equal(r->status, 200);
    assert_string_equal(json_string_value(json_object_get(r->json, "secret")),
                        tl_b64(b64, sizeof b64, secret, strlen(secret)));
    tl_resp_free(r);
}

/* Many callers (two devices, two apps each) adding at once: every add is written, once, with
 * its own audit row, and the adds shared transactions. */
static void test_many_callers(void **st)
{
    (void)st;
    enum { APPS = 4, PER_APP = 6, ADDS = 8 };
    tl_device d[2] = {tl_device_create(srv, "gc-1", NULL), tl_device_create(srv, "gc-2", NULL)};
    tl_app apps[APPS];
    for (int i = 0; i < APPS; i++) {
        char app_id[64];
        snprintf(app_id, sizeof app_id, "com.example.gc%d", i);
        apps[i] = tl_app_install(srv, d[i % 2].id, app_id, NULL, false);
    }
    static client cs[APPS * PER_APP];
    for (int c = 0; c < APPS * PER_APP; c++) {
        char b64[64], secret[32];
        cs[c] = (client){.token = apps[c % APPS].token, .n = ADDS};
        for (int i = 0; i < ADDS; i++) {
            snprintf(secret, sizeof secret, "s-%d-%d", c, i);
            snprintf(cs[c].bodies[i], sizeof cs[c].bodies[i],
                     "{\"alias\":\"m-%d-%d\",\"secret\":\"%s\",\"dataLabelNormal1\":\"n%d\"}", c, i,
                     tl_b64(b64, sizeof b64, secret, strlen(secret)), c);
        }
    }
    long long tx0 = metric("assetd_add_group_transactions_total");
    long long adds0 = metric("assetd_add_group_adds_total");
    run_clients(cs, APPS * PER_APP);
    for (int c = 0; c < APPS * PER_APP; c++)
        for (int i = 0; i < ADDS; i++)
            if (cs[c].status[i] != 201)
                fail_msg("add %d of client %d: %ld %s", i, c, cs[c].status[i], cs[c].code[i]);
    long long tx = metric("assetd_add_group_transactions_total") - tx0;
    long long adds = metric("assetd_add_group_adds_total") - adds0;
    assert_int_equal(adds, APPS * PER_APP * ADDS);
    if (tx >= adds)
        fail_msg("%lld adds from %d concurrent clients took %lld transactions: none shared one",
                 adds, APPS * PER_APP, tx);

    for (int c = 0; c < APPS * PER_APP; c += 5) {
        char alias[32], secret[32];
        snprintf(alias, sizeof alias, "m-%d-%d", c, ADDS - 1);
        snprintf(secret, sizeof secret, "s-%d-%d", c, ADDS - 1);
        expect_secret(apps[c % APPS].token, alias, secret);
    }
    /* each in its owner's store, on its owner's device, with one audit row naming its owner */
    for (int i = 0; i < APPS; i++) {
        char owner[2048];
        snprintf(owner, sizeof owner, "app:%s", apps[i].app_id);
        assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND owner = "
                                     "$2 AND alias LIKE 'm-%'",
                                     d[i % 2].id, apps[i].app_id, NULL),
                         PER_APP * ADDS);
        assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE action = 'addAsset' "
                                     "AND device_id = $1 AND owner = $2",
                                     d[i % 2].id, owner, NULL),
                         PER_APP * ADDS);
    }
}

/* One alias added by many at once: one 201, the others 409; with OVERWRITE one 201 and the
 * others 200. Either way the asset holds one of the secrets sent, and one audit row per write. */
static void test_same_alias(void **st)
{
    (void)st;
    enum { N = 16 };
    tl_device dev;
    tl_app a = tl_fresh_app(srv, "com.example.gc-same", &dev);
    for (int overwrite = 0; overwrite < 2; overwrite++) {
        static client cs[N];
        const char *alias = overwrite ? "same-ow" : "same";
        for (int c = 0; c < N; c++) {
            char b64[64], secret[16];
            snprintf(secret, sizeof secret, "v%d", c);
            cs[c] = (client){.token = a.token, .n = 1};
            snprintf(cs[c].bodies[0], sizeof cs[c].bodies[0],
                     "{\"alias\":\"%s\",\"secret\":\"%s\"%s}", alias,
                     tl_b64(b64, sizeof b64, secret, strlen(secret)),
                     overwrite ? ",\"conflictResolution\":\"OVERWRITE\"" : "");
        }
        run_clients(cs, N);
        int created = 0, other = 0, winner = -1;
        for (int c = 0; c < N; c++) {
            if (cs[c].status[0] == 201) {
                created++;
                winner = c;
            } else if (overwrite
                           ? cs[c].status[0] == 200
                           : cs[c].status[0] == 409 && strcmp(cs[c].code[0], "DUPLICATED") == 0) {
                other++;
            } else {
                fail_msg("client %d: %ld %s", c, cs[c].status[0], cs[c].code[0]);
            }
        }
        assert_int_equal(created, 1);
        assert_int_equal(other, N - 1);
        if (!overwrite) {
            char secret[16];
            snprintf(secret, sizeof secret, "v%d", winner);
            expect_secret(a.token, alias, secret);
        }
        char owner[2048];
        snprintf(owner, sizeof owner, "app:%s", a.app_id);
        assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                     "alias = $2",
                                     dev.id, alias, NULL),
                         1);
        assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE action = 'addAsset' "
                                     "AND device_id = $1 AND owner = $2 AND outcome = 'ok'",
                                     dev.id, owner, NULL),
                         overwrite ? N + 1 : 1);
    }
}

/* An uninstalled app's adds in the same burst as a live app's: its are refused (401), the live
 * app's are all written. Both were remembered (the auth cache) before the uninstall, made
 * through another instance, so only the group's own check can tell. */
static void test_stale_callers_fail_alone(void **st)
{
    (void)st;
    enum { N = 8 };
    tl_device dev = tl_device_create(srv, "gc-stale", NULL);
    tl_app live = tl_app_install(srv, dev.id, "com.example.gc-live", NULL, false);
    tl_app gone = tl_app_install(srv, dev.id, "com.example.gc-gone", NULL, false);
    json_decref(tl_asset_add(srv, live.token, "{\"alias\":\"warm\",\"secret\":\"MA==\"}"));
    json_decref(tl_asset_add(srv, gone.token, "{\"alias\":\"warm\",\"secret\":\"MA==\"}"));
    tl_server *other = tl_server_start(NULL);
    tl_app_uninstall(other, dev.id, gone.app_id);
    assert_int_equal(tl_server_stop(other), 0);
    static client cs[2 * N];
    for (int c = 0; c < 2 * N; c++) {
        cs[c] = (client){.token = c % 2 ? gone.token : live.token, .n = 2};
        for (int i = 0; i < 2; i++)
            snprintf(cs[c].bodies[i], sizeof cs[c].bodies[i],
                     "{\"alias\":\"st-%d-%d\",\"secret\":\"c2Vj\"}", c, i);
    }
    run_clients(cs, 2 * N);
    for (int c = 0; c < 2 * N; c++)
        for (int i = 0; i < 2; i++) {
            long want = c % 2 ? 401 : 201;
            if (cs[c].status[i] != want)
                fail_msg("client %d (%s), add %d: %ld %s, expected %ld", c,
                         c % 2 ? "uninstalled" : "live", i, cs[c].status[i], cs[c].code[i], want);
        }
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND alias LIKE "
                                 "'st-%'",
                                 dev.id, NULL),
                     2 * N);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND owner = $2",
                                 dev.id, gone.app_id, NULL),
                     0);
}

/* A row the database refuses (a trigger raises for one alias) in a burst of good ones: the
 * good ones are all written, the bad one alone fails, and nothing of it is left. */
static void test_bad_row_fails_alone(void **st)
{
    (void)st;
    enum { N = 16 };
    tl_device dev;
    tl_app a = tl_fresh_app(srv, "com.example.gc-bad", &dev);
    PQclear(tl_db_exec("CREATE FUNCTION gc_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       "RAISE EXCEPTION 'poisoned row'; END $$",
                       NULL));
    PQclear(tl_db_exec("CREATE TRIGGER gc_poison BEFORE INSERT ON assets FOR EACH ROW WHEN "
                       "(NEW.alias = 'gc-poison') EXECUTE FUNCTION gc_poison()",
                       NULL));
    static client cs[N];
    for (int round = 0; round < 3; round++) {
        for (int c = 0; c < N; c++) {
            cs[c] = (client){.token = a.token, .n = 1};
            if (c == N / 2)
                snprintf(cs[c].bodies[0], sizeof cs[c].bodies[0],
                         "{\"alias\":\"gc-poison\",\"secret\":\"c2Vj\"}");
            else
                snprintf(cs[c].bodies[0], sizeof cs[c].bodies[0],
                         "{\"alias\":\"ok-%d-%d\",\"secret\":\"c2Vj\"}", round, c);
        }
        run_clients(cs, N);
        for (int c = 0; c < N; c++) {
            bool bad = c == N / 2;
            if (bad ? cs[c].status[0] < 500 : cs[c].status[0] != 201)
                fail_msg("round %d, client %d (%s): %ld %s", round, c, bad ? "bad" : "good",
                         cs[c].status[0], cs[c].code[0]);
        }
    }
    PQclear(tl_db_exec("DROP TRIGGER gc_poison ON assets", NULL));
    PQclear(tl_db_exec("DROP FUNCTION gc_poison()", NULL));
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND alias LIKE "
                                 "'ok-%'",
                                 dev.id, NULL),
                     3 * (N - 1));
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND alias = "
                                 "'gc-poison'",
                                 dev.id, NULL),
                     0);
}

/* One request worker: an add waiting for the group another add leads gives its place to the next
 * request (api/dispatch.h), so groups still form, where a worker held by each waiting add would
 * write them one by one. */
static void test_waiting_adds_leave_their_place(void **st)
{
    (void)st;
    enum { N = 16, ADDS = 6 };
    static const char *const env[] = {"ASSETD_REQUEST_WORKERS=1", NULL};
    tl_server *one = tl_server_start(env);
    tl_device dev = tl_device_create(one, "gc-one", NULL);
    tl_app a = tl_app_install(one, dev.id, "com.example.gc-one", NULL, false);
    static client cs[N];
    for (int c = 0; c < N; c++) {
        cs[c] = (client){.s = one, .token = a.token, .n = ADDS};
        for (int i = 0; i < ADDS; i++)
            snprintf(cs[c].bodies[i], sizeof cs[c].bodies[i],
                     "{\"alias\":\"one-%d-%d\",\"secret\":\"c2Vj\"}", c, i);
    }
    run_clients(cs, N);
    for (int c = 0; c < N; c++)
        for (int i = 0; i < ADDS; i++)
            if (cs[c].status[i] != 201)
                fail_msg("add %d of client %d: %ld %s", i, c, cs[c].status[i], cs[c].code[i]);
    long long tx = metric_of(one, "assetd_add_group_transactions_total");
    long long adds = metric_of(one, "assetd_add_group_adds_total");
    assert_int_equal(adds, N * ADDS);
    if (tx >= adds)
        fail_msg("with one request worker, %lld adds took %lld transactions: none shared one", adds,
                 tx);
    assert_int_equal(tl_server_stop(one), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_callers),
        cmocka_unit_test(test_same_alias),
        cmocka_unit_test(test_stale_callers_fail_alone),
        cmocka_unit_test(test_bad_row_fails_alone),
        cmocka_unit_test(test_waiting_adds_leave_their_place),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
