/* Reliability: a database that hangs, restarts or runs out of disk (README ASSETD_DB_TIMEOUT_MS;
 * spec §5 SERVICE_UNAVAILABLE; issues "Reliability II" and "Operations").
 *
 * - Frozen PostgreSQL (every process SIGSTOPped: connections are accepted, queries read, nothing
 *   answered): every request, queued ones included, is answered 503 problem+json with
 *   Retry-After within about twice ASSETD_DB_TIMEOUT_MS, never left hanging; /healthz stays
 *   prompt; once thawed, requests succeed again without a restart of assetd.
 * - After a PostgreSQL restart, once /readyz is 200 again, no request fails on a pooled
 *   connection from before the restart.
 * - Disk full (the backup records' table on a tiny tmpfs tablespace): POST /backups is 503
 *   SERVICE_UNAVAILABLE with Retry-After, not 500, and the SQLSTATE is logged; skipped where the
 *   host does not allow mounting a tmpfs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/testlib.h"

#define DB_TIMEOUT_MS 1000

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    tl_pg_dir();
    char timeout[64];
    snprintf(timeout, sizeof timeout, "ASSETD_DB_TIMEOUT_MS=%d", DB_TIMEOUT_MS);
    const char *env[] = {timeout, "ASSETD_REQUEST_WORKERS=2", "ASSETD_LOG_REQUESTS=0", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    tl_pg_freeze(false);
    tl_pg_ctl("start");
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

static bool is_unavailable(const tl_resp *r)
{
    const char *name = r->json ? tl_jstr(r->json, "name") : NULL;
    return r->status == 503 && strncmp(r->content_type, "application/problem+json", 24) == 0 &&
           name && strcmp(name, "SERVICE_UNAVAILABLE") == 0 && r->retry_after[0];
}

/* ---- frozen database ---- */

#define CLIENTS 6

typedef struct {
    const char *auth;
    const char *send; /* NULL: GET /assets/h1; else POST /assets with it */
    long status;
    double ms;
    bool unavailable;
    char body[300];
} call;

static void *call_main(void *arg)
{
    call *c = arg;
    tl_http_opts opts = {.timeout_ms = 30000};
    double t0 = tl_now_ms();
    tl_resp *r =
        c->send ? tl_http_raw(srv, "POST", "/assets", c->auth, c->send, strlen(c->send), &opts)
                : tl_http_raw(srv, "GET", "/assets/h1?returnType=ALL", c->auth, NULL, 0, &opts);
    c->ms = tl_now_ms() - t0;
    c->status = r->status;
    c->unavailable = is_unavailable(r);
    snprintf(c->body, sizeof c->body, "%.200s", r->body);
    tl_resp_free(r);
    return NULL;
}

static void test_frozen_database_answers_503(void **st)
{
    (void)st;
    tl_device d;
    char app[64], auth[200];
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.hang"), &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"h1\",\"secret\":\"aGFuZw==\"}"));
    snprintf(auth, sizeof auth, "Bearer %s", a.token);

    tl_pg_freeze(true);
    call calls[CLIENTS];
    pthread_t th[CLIENTS];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < CLIENTS; i++) {
        calls[i].auth = auth;
        pthread_create(&th[i], NULL, call_main, &calls[i]);
    }
    tl_sleep_ms(200);
    /* Liveness needs no database: prompt while every request worker waits on it. */
    double t0 = tl_now_ms();
    tl_resp *h = tl_http(srv, "GET", "/healthz", NULL, NULL);
    double health_ms = tl_now_ms() - t0;
    long health = h->status;
    tl_resp_free(h);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    tl_pg_freeze(false);

    assert_int_equal(health, 200);
    print_message("frozen: /healthz in %.0f ms\n", health_ms);
    /* Two request workers for six requests: the last ones wait in the queue, then for the
     * database; every one ends in 503 within about twice the timeout, never a hang. */
    for (int i = 0; i < CLIENTS; i++) {
        print_message("frozen: request %d answered %ld after %.0f ms\n", i, calls[i].status,
                      calls[i].ms);
        if (!calls[i].unavailable)
            fail_msg("request %d: %ld %s (expected 503 SERVICE_UNAVAILABLE with Retry-After)", i,
                     calls[i].status, calls[i].body);
        assert_true(calls[i].ms < tl_scaled_ms(4 * DB_TIMEOUT_MS + 3000));
    }
    /* Thawed: back to normal without a restart. */
    bool back = false;
    for (double until = tl_now_ms() + 10000; !back && tl_now_ms() < until;) {
        tl_resp *r = tl_http(srv, "GET", "/assets/h1?returnType=ALL", a.token, NULL);
        back = r->status == 200;
        tl_resp_free(r);
        if (!back)
            tl_sleep_ms(100);
    }
    assert_true(back);
}

/* Adds waiting on one group commit while the database is frozen: the group fails as a whole
 * (503 for each, at once), rather than each add trying again alone and waiting as long again
 * (service/asset_add.c). */
static void test_frozen_database_fails_a_group_at_once(void **st)
{
    (void)st;
    tl_device d;
    char app[64], auth[200];
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.hang-add"), &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"warm\",\"secret\":\"aGFuZw==\"}"));
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    call calls[CLIENTS];
    char bodies[CLIENTS][64];
    pthread_t th[CLIENTS];
    memset(calls, 0, sizeof calls);
    tl_pg_freeze(true);
    for (int i = 0; i < CLIENTS; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"alias\":\"g%d\",\"secret\":\"aGFuZw==\"}", i);
        calls[i].auth = auth;
        calls[i].send = bodies[i];
        pthread_create(&th[i], NULL, call_main, &calls[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    tl_pg_freeze(false);
    for (int i = 0; i < CLIENTS; i++) {
        print_message("frozen add %d answered %ld after %.0f ms\n", i, calls[i].status,
                      calls[i].ms);
        if (!calls[i].unavailable)
            fail_msg("add %d: %ld %s (expected 503 SERVICE_UNAVAILABLE with Retry-After)", i,
                     calls[i].status, calls[i].body);
        /* One group's wait, maybe two: not one per add. */
        assert_true(calls[i].ms < tl_scaled_ms(3 * DB_TIMEOUT_MS + 2000));
    }
    /* Nothing of the group was written (through the API: the next test restarts the database
     * under the test library's own connection). */
    bool back = false;
    for (double until = tl_now_ms() + 10000; !back && tl_now_ms() < until;) {
        tl_resp *r = tl_http(srv, "GET", "/assets", a.token, NULL);
        if ((back = r->status == 200))
            assert_int_equal(json_array_size(json_object_get(r->json, "assets")), 1);
        tl_resp_free(r);
        if (!back)
            tl_sleep_ms(100);
    }
    assert_true(back);
}

/* ---- restart: no stale pooled connection ---- */

typedef struct {
    tl_server *s;
    const char *auth;
    int ok;
    char bad[300];
} warm;

static void *warm_main(void *arg)
{
    warm *w = arg;
    for (int i = 0; i < 20; i++) {
        tl_resp *r = tl_http_raw(w->s, "GET", "/assets/r1", w->auth, NULL, 0, NULL);
        if (r->status == 200)
            w->ok++;
        else if (!w->bad[0])
            snprintf(w->bad, sizeof w->bad, "%ld %.200s", r->status, r->body);
        tl_resp_free(r);
    }
    return NULL;
}

/* 8 concurrent clients, 20 requests each; the number answered 200. */
static int burst(tl_server *s, const char *auth, char *bad, size_t bad_n)
{
    warm w[8];
    pthread_t th[8];
    int ok = 0;
    bad[0] = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = (warm){s, auth, 0, ""};
        pthread_create(&th[i], NULL, warm_main, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        if (w[i].bad[0] && !bad[0])
            snprintf(bad, bad_n, "%s", w[i].bad);
    }
    return ok;
}

static void test_no_stale_connection_after_restart(void **st)
{
    (void)st;
    tl_device d;
    char app[64], auth[200], bad[300];
    static const char *const env[] = {"ASSETD_REQUEST_WORKERS=8", "ASSETD_LOG_REQUESTS=0", NULL};
    tl_server *s = tl_server_start(env);
    tl_app a = tl_fresh_app(s, tl_unique(app, sizeof app, "com.example.restart"), &d);
    json_decref(tl_asset_add(s, a.token, "{\"alias\":\"r1\",\"secret\":\"cjE=\"}"));
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    /* Open several pooled connections. */
    assert_int_equal(burst(s, auth, bad, sizeof bad), 160);
    assert_int_equal(tl_pg_ctl("stop"), 0);
    assert_int_equal(tl_pg_ctl("start"), 0);
    /* pg.sh start returns once PostgreSQL accepts connections; assetd has not been asked
     * anything since, so every pooled connection is from before the restart. */
    assert_int_equal(tl_db_count("SELECT 1", NULL), 1);
    tl_req_status(s, "GET", "/readyz", NULL, NULL, 200);
    /* Ready again: every request succeeds, whichever pooled connection it gets. */
    int ok = burst(s, auth, bad, sizeof bad);
    if (ok != 160)
        fail_msg("%d of 160 requests after the restart failed, e.g. %s", 160 - ok, bad);
    assert_int_equal(tl_server_stop(s), 0);
}

/* ---- disk full ---- */

static void test_disk_full_is_503(void **st)
{
    (void)st;
    char dir[700], sql[1200], ts[64];
    snprintf(dir, sizeof dir, "%s/tiny", tl_pg_dir());
    mkdir(dir, 0700);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700") != 0) {
        print_message("disk full: skipped, this host does not allow mounting a tmpfs\n");
        skip();
    }
    if (geteuid() == 0 && system("id postgres >/dev/null 2>&1") == 0) {
        snprintf(sql, sizeof sql, "chown postgres:postgres '%s'", dir);
        assert_int_equal(system(sql), 0);
    }
    tl_unique(ts, sizeof ts, "tiny");
    for (char *p = ts; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(sql, sizeof sql, "CREATE TABLESPACE %s LOCATION '%s'", ts, dir);
    PQclear(tl_db_exec(sql, NULL));
    snprintf(sql, sizeof sql, "ALTER TABLE backup_records SET TABLESPACE %s", ts);
    PQclear(tl_db_exec(sql, NULL));
    snprintf(sql, sizeof sql, "CREATE TABLE filler (b bytea) TABLESPACE %s", ts);
    PQclear(tl_db_exec(sql, NULL));
    /* Fill the tablespace until PostgreSQL says the disk is full. */
    bool full = false;
    for (int i = 0; i < 400 && !full; i++) {
        PGresult *r = PQexec(tl_db(), "INSERT INTO filler SELECT decode(repeat(md5(g::text), "
                                      "4000), 'hex') FROM generate_series(1, 64) g");
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        full = state && strcmp(state, "53100") == 0;
        PQclear(r);
    }

    tl_device d;
    char app[64], body[200];
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.diskfull"), &d);
    for (int i = 0; i < 200; i++) {
        char b[200];
        snprintf(
            b, sizeof b,
            "{\"alias\":\"full-%d\",\"secret\":\"ZnVsbA==\",\"syncType\":[\"TRUSTED_DEVICE\"]}", i);
        json_decref(tl_asset_add(srv, a.token, b));
    }
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id);
    tl_resp *r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    long status = r->status;
    bool unavailable = is_unavailable(r);
    char detail[400];
    snprintf(detail, sizeof detail, "%.300s", r->body);
    tl_resp_free(r);

    /* Clean up before judging, so the cluster is whole for the binaries that follow. */
    PQclear(tl_db_exec("DROP TABLE filler", NULL));
    PQclear(tl_db_exec("ALTER TABLE backup_records SET TABLESPACE pg_default", NULL));
    snprintf(sql, sizeof sql, "DROP TABLESPACE %s", ts);
    PQclear(tl_db_exec(sql, NULL));
    umount(dir);
    rmdir(dir);

    assert_true(full);
    if (!unavailable)
        fail_msg("POST /backups on a full disk: %ld %s (expected 503 SERVICE_UNAVAILABLE)", status,
                 detail);
    assert_true(tl_proc_log_count(srv->proc, "\"sqlstate\":\"53100\"") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_database_answers_503),
        cmocka_unit_test(test_frozen_database_fails_a_group_at_once),
        cmocka_unit_test(test_no_stale_connection_after_restart),
        cmocka_unit_test(test_disk_full_is_503),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
