/* Operations: assetd run as an operator would (issue "Operations"): several instances on one
 * cluster that runs out of connections, a DBA's serializable default, a rolling master-key
 * rotation (README "Rotating the master key").
 *
 * - A full cluster (three instances whose database role may hold fewer connections than their
 *   pools want): under load, requests wait for a pooled connection instead of failing at once;
 *   after the load every instance answers 200 to the next request.
 * - default_transaction_isolation = serializable for assetd's role: concurrent adds, updates
 *   and removes of the same aliases get no 503 (assetd picks each transaction's isolation and
 *   retries serialization failures).
 * - Rolling rotation: an old worker and an old serve (key 1 only) next to a new serve (keys 1
 *   and 2, 2 active): a device registered through the new serve has its key under version 2;
 *   the old serve answers its requests 503 with Retry-After (not 500 DATA_CORRUPTED); a restore
 *   onto it is not failed by the old worker but finished by a worker that holds version 2.
 *   ASSETD_MASTER_KEY_ACTIVE=1 with both keys keeps wrapping under 1; a version not in the list
 *   stops the process with a line naming the variable. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_LOG_REQUESTS=0", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* A login role of the test database with this many connections at most, whose own settings
 * (ALTER ROLE ... SET) are role_set (may be NULL); writes a DATABASE_URL=... for it into env. */
static void make_role(char *env, size_t env_n, int connection_limit, const char *role_set)
{
    char role[64], sql[512];
    tl_unique(role, sizeof role, "r");
    for (char *p = role; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN CONNECTION LIMIT %d", role, connection_limit);
    PQclear(tl_db_exec(sql, NULL));
    const char *grants[] = {"GRANT ALL ON ALL TABLES IN SCHEMA public TO %s",
                            "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO %s",
                            "GRANT CREATE, USAGE ON SCHEMA public TO %s"};
    for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++) {
        snprintf(sql, sizeof sql, grants[i], role);
        PQclear(tl_db_exec(sql, NULL));
    }
    if (role_set) {
        snprintf(sql, sizeof sql, "ALTER ROLE %s SET %s", role, role_set);
        PQclear(tl_db_exec(sql, NULL));
    }
    const char *url = getenv("TEST_DATABASE_URL");
    const char *user = strstr(url, "user=");
    assert_non_null(user);
    snprintf(env, env_n, "DATABASE_URL=%.*suser=%s%s", (int)(user - url), url, role,
             user + 5 + strcspn(user + 5, "&"));
}

/* ---- a full cluster ---- */

#define INSTANCES 3
#define CLIENTS 24

typedef struct {
    tl_server *s;
    const char *auth;
    double until;
    int ok, unavailable, other;
    char other_detail[300];
} loader;

static void *load_main(void *arg)
{
    loader *l = arg;
    while (tl_now_ms() < l->until) {
        tl_resp *r = tl_http_raw(l->s, "GET", "/assets/p1", l->auth, NULL, 0, NULL);
        if (r->status == 200)
            l->ok++;
        else if (r->status == 503)
            l->unavailable++;
        else if (!l->other++)
            snprintf(l->other_detail, sizeof l->other_detail, "%ld %.200s", r->status, r->body);
        tl_resp_free(r);
    }
    return NULL;
}

static void test_pool_heals_when_the_cluster_is_full(void **st)
{
    (void)st;
    char url[1024], auth[200], app[64];
    make_role(url, sizeof url, 8, NULL);
    tl_device d;
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.full"), &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"p1\",\"secret\":\"cDE=\"}"));
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    const char *env[] = {url, "ASSETD_DB_TIMEOUT_MS=3000", "ASSETD_LOG_REQUESTS=0",
                         "ASSETD_ADMIN_TOKEN=ops-admin-token-0123456789", NULL};
    tl_server *inst[INSTANCES];
    for (int i = 0; i < INSTANCES; i++)
        inst[i] = tl_server_start(env);

    loader ls[CLIENTS];
    pthread_t th[CLIENTS];
    double until = tl_now_ms() + 3000;
    for (int i = 0; i < CLIENTS; i++) {
        ls[i] = (loader){.s = inst[i % INSTANCES], .auth = auth, .until = until};
        pthread_create(&th[i], NULL, load_main, &ls[i]);
    }
    int ok = 0, unavailable = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        if (ls[i].other)
            fail_msg("client %d: unexpected answer %s", i, ls[i].other_detail);
        ok += ls[i].ok;
        unavailable += ls[i].unavailable;
    }
    print_message("full cluster: %d answered 200, %d 503 under load\n", ok, unavailable);
    /* Requests wait for a pooled connection rather than fail at once. */
    assert_true(ok > 0);
    assert_true(unavailable * 20 < ok + unavailable);
    /* The load is over: every instance answers the next request. */
    for (int i = 0; i < INSTANCES; i++) {
        for (int k = 0; k < 5; k++)
            tl_req_status(inst[i], "GET", "/assets/p1", a.token, NULL, 200);
        tl_req_status(inst[i], "GET", "/readyz", NULL, NULL, 200);
    }
    for (int i = 0; i < INSTANCES; i++)
        assert_int_equal(tl_server_stop(inst[i]), 0);
}

/* ---- a serializable default ---- */

#define WRITERS 8

typedef struct {
    tl_server *s;
    const char *auth;
    int index;
    double until;
    int calls, unavailable;
    char detail[400];
} writer;

static void *write_main(void *arg)
{
    writer *w = arg;
    char path[64], body[200];
    for (int n = 0; tl_now_ms() < w->until; n++) {
        int k = (n + w->index) % 4;
        tl_resp *r;
        switch (n % 3) {
        case 0:
            snprintf(body, sizeof body,
                     "{\"alias\":\"ser-%d\",\"secret\":\"c2Vy\",\"conflictResolution\":"
                     "\"OVERWRITE\"}",
                     k);
            r = tl_http_raw(w->s, "POST", "/assets", w->auth, body, strlen(body), NULL);
            break;
        case 1:
            snprintf(path, sizeof path, "/assets/ser-%d", k);
            snprintf(body, sizeof body, "{\"dataLabelNormal1\":\"n%d\"}", n);
            r = tl_http_raw(w->s, "PATCH", path, w->auth, body, strlen(body), NULL);
            break;
        default:
            snprintf(path, sizeof path, "/assets/ser-%d", k);
            r = tl_http_raw(w->s, "DELETE", path, w->auth, NULL, 0, NULL);
            break;
        }
        w->calls++;
        if (r->status >= 500 && !w->unavailable++)
            snprintf(w->detail, sizeof w->detail, "%.60s -> %ld %.200s", r->request, r->status,
                     r->body);
        tl_resp_free(r);
    }
    return NULL;
}

static void test_serializable_default_gets_no_503(void **st)
{
    (void)st;
    char url[1024], auth[200], app[64];
    make_role(url, sizeof url, 50, "default_transaction_isolation = 'serializable'");
    tl_device d;
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.ser"), &d);
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    const char *env[] = {url, "ASSETD_LOG_REQUESTS=0", NULL};
    tl_server *s = tl_server_start(env);
    writer ws[WRITERS];
    pthread_t th[WRITERS];
    double until = tl_now_ms() + 2500;
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (writer){.s = s, .auth = auth, .index = i, .until = until};
        pthread_create(&th[i], NULL, write_main, &ws[i]);
    }
    int calls = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        calls += ws[i].calls;
        if (ws[i].unavailable)
            fail_msg("writer %d: %d of %d calls failed with 5xx, e.g. %s", i, ws[i].unavailable,
                     ws[i].calls, ws[i].detail);
    }
    print_message("serializable default: %d concurrent writes, none 5xx\n", calls);
    assert_true(calls > WRITERS);
    assert_int_equal(tl_server_stop(s), 0);
}

/* ---- a rolling master-key rotation ---- */

static json_t *restore_status(tl_server *s, const char *id)
{
    tl_resp *r = tl_httpf(s, "GET", s->admin_token, NULL, "/restores/%s", id);
    tl_expect_status(r, 200);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    return j;
}

static void test_rolling_rotation_never_fails_a_restore(void **st)
{
    (void)st;
    unsigned char k2[32];
    char k2b64[64], both[300], both_env[400], key1_env[300], admin_env[128], body[300], acct[64];
    randombytes_buf(k2, sizeof k2);
    tl_b64(k2b64, sizeof k2b64, k2, sizeof k2);
    snprintf(both, sizeof both, "1:%s,2:%s", srv->master_key, k2b64);
    snprintf(both_env, sizeof both_env, "ASSETD_MASTER_KEY=%s", both);
    snprintf(key1_env, sizeof key1_env, "ASSETD_MASTER_KEY=%s", srv->master_key);
    snprintf(admin_env, sizeof admin_env, "ASSETD_ADMIN_TOKEN=%s", srv->admin_token);

    /* The old serve (srv) and an old worker hold key 1 only; a new serve holds 1 and 2. */
    const char *new_env[] = {both_env, admin_env, "ASSETD_LOG_REQUESTS=0", NULL};
    tl_server *fresh = tl_server_start(new_env);
    const char *old_worker_env[] = {key1_env, "ASSETD_SYNC_WORKERS=1", NULL};
    tl_proc *old_worker = tl_worker_start(srv, old_worker_env);

    tl_unique(acct, sizeof acct, "acct-rotate");
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(fresh, "new", acct); /* its key: version 2 */
    assert_int_equal(
        tl_db_count("SELECT kek_version FROM device_keys WHERE device_id = $1", new_dev.id, NULL),
        2);
    char app[64];
    tl_app a =
        tl_app_install(srv, old_dev.id, tl_unique(app, sizeof app, "com.example.rot"), NULL, false);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body,
                 "{\"alias\":\"rot-%d\",\"secret\":\"cm90\",\"syncType\":[\"TRUSTED_DEVICE\"]}", i);
        json_decref(tl_asset_add(srv, a.token, body));
    }
    /* The old serve cannot open the new device's key: 503 with Retry-After, not corruption. */
    tl_resp *r = tl_httpf(srv, "GET", new_dev.token, NULL, "/devices/%s", new_dev.id);
    tl_expect_problem(r, 503, "SERVICE_UNAVAILABLE");
    assert_true(r->retry_after[0]);
    tl_resp_free(r);
    r = tl_httpf(fresh, "GET", new_dev.token, NULL, "/devices/%s", new_dev.id);
    tl_expect_status(r, 200);
    tl_resp_free(r);

    char backup[64], restore[64];
    tl_backup_create(srv, srv->admin_token, old_dev.id, backup);
    tl_restore_create(fresh, srv->admin_token, backup, new_dev.id, restore);

    /* Only the old worker runs: it must leave the job alone, not fail it. */
    tl_sleep_ms(tl_scaled_ms(1500));
    json_t *j = restore_status(srv, restore);
    assert_string_not_equal(tl_jstr(j, "status"), "failed");
    assert_string_not_equal(tl_jstr(j, "status"), "done");
    json_decref(j);

    /* A worker that holds version 2 finishes it. */
    const char *new_worker_env[] = {both_env, "ASSETD_SYNC_WORKERS=1", NULL};
    tl_proc *new_worker = tl_worker_start(fresh, new_worker_env);
    j = tl_restore_wait(fresh, srv->admin_token, restore, 20000);
    assert_non_null(j);
    assert_string_equal(tl_jstr(j, "status"), "done");
    assert_int_equal(tl_jint(j, "accepted"), 5);
    json_decref(j);
    assert_int_equal(tl_proc_stop(new_worker), 0);
    assert_int_equal(tl_proc_stop(old_worker), 0);
    assert_int_equal(tl_server_stop(fresh), 0);

    /* Step 1 of the procedure: both keys, 1 still active: new keys are wrapped under 1. */
    const char *step1_env[] = {both_env, admin_env, "ASSETD_MASTER_KEY_ACTIVE=1", NULL};
    tl_server *step1 = tl_server_start(step1_env);
    tl_device d1 = tl_device_create(step1, "step1", NULL);
    assert_int_equal(
        tl_db_count("SELECT kek_version FROM device_keys WHERE device_id = $1", d1.id, NULL), 1);
    assert_int_equal(tl_server_stop(step1), 0);

    /* A version that is not in the list: refused at start, naming the variable. */
    const char *bad_env[] = {both_env, admin_env, "ASSETD_MASTER_KEY_ACTIVE=3", NULL};
    char *out = NULL;
    const char *args[] = {"serve", NULL};
    int rc = tl_assetd_run(srv, args, bad_env, 20000, &out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "ASSETD_MASTER_KEY_ACTIVE"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_heals_when_the_cluster_is_full),
        cmocka_unit_test(test_serializable_default_gets_no_503),
        cmocka_unit_test(test_rolling_rotation_never_fails_a_restore),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
