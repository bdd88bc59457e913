/* Reliability: the database goes away and comes back (spec §5 SERVICE_UNAVAILABLE, §9 "a 2xx
 * answer means committed"; README ASSETD_DB_TIMEOUT_MS, /readyz).
 *
 * Several client threads add and read assets in a loop while PostgreSQL — the test run's own
 * cluster — is stopped and started again (scripts/pg.sh stop/start; the cluster folder is the
 * parent of TEST_DATABASE_URL's host=<dir>/sock). Every answer must be a 2xx or a 503
 * SERVICE_UNAVAILABLE problem+json, within ASSETD_DB_TIMEOUT_MS plus a margin: never a hang,
 * never a reset connection, never a crash. While the database is down /readyz is 503 and
 * /healthz 200. Once it is back the service reconnects by itself: every client thread succeeds
 * again within a few seconds, without any restart of assetd. Every add that was answered 2xx is
 * in the database afterwards. A statement that cannot finish (a table locked by another
 * session) ends in 503 after the statement timeout, and /healthz (which needs no database)
 * stays prompt meanwhile. The cluster is left running (test binaries run one at a time, so
 * restarting the shared cluster here is safe; the teardown starts it again whatever happened). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/testlib.h"

#define DB_TIMEOUT_MS 2000
#define MARGIN_MS 3000
#define THREADS 4

static tl_server *srv;
static int setup(void **st)
{
    (void)st;
    tl_pg_dir();
    char timeout[64];
    snprintf(timeout, sizeof timeout, "ASSETD_DB_TIMEOUT_MS=%d", DB_TIMEOUT_MS);
    const char *env[] = {timeout, "ASSETD_LOG_REQUESTS=0", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    /* Whatever happened, leave the cluster running for the binaries that follow. */
    tl_pg_ctl("start");
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- client threads ---- */

typedef struct {
    int index;
    const char *token;
    volatile int *stop;
    volatile double *up_at; /* when PostgreSQL was started again (0 before) */
    /* results */
    char (*added)[48]; /* aliases answered 2xx */
    int nadded, cap;
    int ok, unavailable;
    double worst_ms;
    double first_ok_after_up; /* ms after up_at of the first 2xx, -1 none yet */
    char violation[2048];
} client;

static bool is_unavailable(const tl_resp *r)
{
    const char *name = r->json ? tl_jstr(r->json, "name") : NULL;
    return r->status == 503 && strncmp(r->content_type, "application/problem+json", 24) == 0 &&
           name && strcmp(name, "SERVICE_UNAVAILABLE") == 0 && tl_jint(r->json, "code") == 24000001;
}

/* Checks one answer; records a violation (first one only) and returns false when it breaks the
 * rules. */
static bool judge(client *c, tl_resp *r, double ms, int want_2xx)
{
    if (ms > c->worst_ms)
        c->worst_ms = ms;
    if (r->status == 0) {
        snprintf(c->violation, sizeof c->violation,
                 "thread %d: %.200s: transport error after %.0f ms: %.200s", c->index, r->request,
                 ms, r->error);
        return false;
    }
    if (ms > DB_TIMEOUT_MS + MARGIN_MS) {
        snprintf(c->violation, sizeof c->violation, "thread %d: %.200s: answered %ld after %.0f ms",
                 c->index, r->request, r->status, ms);
        return false;
    }
    if (r->status == want_2xx) {
        c->ok++;
        if (*c->up_at > 0 && c->first_ok_after_up < 0)
            c->first_ok_after_up = tl_now_ms() - *c->up_at;
        return true;
    }
    if (is_unavailable(r)) {
        c->unavailable++;
        return true;
    }
    snprintf(c->violation, sizeof c->violation, "thread %d: %.200s -> %ld %.100s: %.300s", c->index,
             r->request, r->status, r->content_type, r->body);
    return false;
}

static void *client_main(void *arg)
{
    client *c = arg;
    char auth[200], body[160], path[128];
    snprintf(auth, sizeof auth, "Bearer %s", c->token);
    tl_http_opts opts = {.timeout_ms = DB_TIMEOUT_MS + MARGIN_MS + 5000};
    for (int n = 0; !*c->stop && !c->violation[0]; n++) {
        char alias[48];
        snprintf(alias, sizeof alias, "fault-%d-%d", c->index, n);
        snprintf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"ZmF1bHQ=\"}", alias);
        double t0 = tl_now_ms();
        tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, body, strlen(body), &opts);
        double ms = tl_now_ms() - t0;
        bool ok = judge(c, r, ms, 201);
        if (ok && r->status == 201) {
            if (c->nadded == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 256;
                c->added = realloc(c->added, (size_t)c->cap * sizeof *c->added);
                if (!c->added)
                    abort();
            }
            snprintf(c->added[c->nadded++], 48, "%s", alias);
        }
        tl_resp_free(r);
        if (!ok)
            break;
        /* Read back the last asset that was added (a secret read: needs the database). */
        if (c->nadded) {
            snprintf(path, sizeof path, "/assets/%s?returnType=ALL", c->added[c->nadded - 1]);
            t0 = tl_now_ms();
            r = tl_http_raw(srv, "GET", path, auth, NULL, 0, &opts);
            ok = judge(c, r, tl_now_ms() - t0, 200);
            tl_resp_free(r);
            if (!ok)
                break;
        }
        usleep(5 * 1000);
    }
    return NULL;
}

/* ---- the test ---- */

static void test_postgres_restart_under_load(void **st)
{
    (void)st;
    tl_device d;
    char app[64];
    tl_unique(app, sizeof app, "com.example.dbfault");
    tl_app a = tl_fresh_app(srv, app, &d);
    volatile int stop = 0;
    volatile double up_at = 0;
    client cl[THREADS];
    pthread_t th[THREADS];
    memset(cl, 0, sizeof cl);
    for (int i = 0; i < THREADS; i++) {
        cl[i].index = i;
        cl[i].token = a.token;
        cl[i].stop = &stop;
        cl[i].up_at = &up_at;
        cl[i].first_ok_after_up = -1;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    usleep(1000 * 1000); /* traffic with the database up */
    int ok_before = 0;
    for (int i = 0; i < THREADS; i++)
        ok_before += cl[i].ok;

    double t_stop = tl_now_ms();
    int rc = tl_pg_ctl("stop");
    double stop_ms = tl_now_ms() - t_stop;
    /* Down: not ready, but alive. */
    tl_resp *r = tl_http(srv, "GET", "/readyz", NULL, NULL);
    bool ready_503 = is_unavailable(r);
    long ready_status = r->status;
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/healthz", NULL, NULL);
    long health_status = r->status;
    tl_resp_free(r);
    usleep(1500 * 1000); /* traffic with the database down */
    int unavailable_down = 0;
    for (int i = 0; i < THREADS; i++)
        unavailable_down += cl[i].unavailable;

    int rc_start = tl_pg_ctl("start");
    up_at = tl_now_ms();
    /* Back: wait (bounded) until every thread has had a success again. */
    double deadline = tl_now_ms() + 10000;
    bool all_back = false;
    while (!all_back && tl_now_ms() < deadline) {
        all_back = true;
        for (int i = 0; i < THREADS; i++)
            all_back = all_back && (cl[i].first_ok_after_up >= 0 || cl[i].violation[0]);
        if (!all_back)
            usleep(50 * 1000);
    }
    usleep(500 * 1000); /* some more traffic with the database back */
    stop = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    /* Verdicts, now that no thread is running. */
    assert_int_equal(rc, 0);
    assert_int_equal(rc_start, 0);
    int total_ok = 0, total_unavail = 0, total_added = 0;
    double worst = 0, slowest_recovery = 0;
    for (int i = 0; i < THREADS; i++) {
        if (cl[i].violation[0])
            fail_msg("%s", cl[i].violation);
        total_ok += cl[i].ok;
        total_unavail += cl[i].unavailable;
        total_added += cl[i].nadded;
        if (cl[i].worst_ms > worst)
            worst = cl[i].worst_ms;
        if (cl[i].first_ok_after_up > slowest_recovery)
            slowest_recovery = cl[i].first_ok_after_up;
    }
    print_message("dbfault: pg stop took %.0f ms; %d ok and %d unavailable answers; slowest "
                  "answer %.0f ms; every thread succeeded again %.0f ms after the restart\n",
                  stop_ms, total_ok, total_unavail, worst, slowest_recovery);
    assert_true(ok_before > 0);        /* it worked before */
    assert_true(unavailable_down > 0); /* the outage was seen (the test did something) */
    if (!ready_503 || ready_status != 503)
        fail_msg(
            "GET /readyz with the database down answered %ld (expected 503 SERVICE_UNAVAILABLE)",
            ready_status);
    assert_int_equal(health_status, 200);
    for (int i = 0; i < THREADS; i++)
        if (cl[i].first_ok_after_up < 0)
            fail_msg("thread %d never succeeded again within 10 s of PostgreSQL being back", i);
    assert_true(slowest_recovery < 5000);

    /* Every add answered 2xx is stored (and only the adds that were made). */
    PQreset(tl_db());
    char *stored =
        tl_db_dump("SELECT alias FROM assets WHERE device_id = $1 ORDER BY alias", d.id, NULL);
    size_t nstored = 0;
    for (const char *p = stored; *p; p++)
        nstored += *p == '\n';
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < cl[i].nadded; k++) {
            char line[64];
            snprintf(line, sizeof line, "%s\n", cl[i].added[k]);
            bool found = strncmp(stored, line, strlen(line)) == 0;
            if (!found) {
                char nl_line[66];
                snprintf(nl_line, sizeof nl_line, "\n%s", line);
                found = strstr(stored, nl_line) != NULL;
            }
            if (!found)
                fail_msg("%s was answered 201 but is not in the database", cl[i].added[k]);
        }
    assert_true(nstored >= (size_t)total_added);
    /* The API agrees with the database, and the service is ready again. */
    char *list = malloc(nstored * 48 + 16);
    assert_non_null(list);
    tl_list(srv, a.token, "limit=1000", list, nstored * 48 + 16);
    size_t nlisted = 1;
    for (const char *p = list; *p; p++)
        nlisted += *p == ',';
    assert_int_equal(nlisted, nstored);
    tl_req_status(srv, "GET", "/readyz", NULL, NULL, 200);
    free(list);
    free(stored);
    for (int i = 0; i < THREADS; i++)
        free(cl[i].added);
}

/* The database down before a request ever touched it in this process's pool: a fresh server
 * answers 503 for calls that need the database, /healthz 200, and recovers on its own. */
static void test_requests_while_down(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.dbdown", NULL);
    assert_int_equal(tl_pg_ctl("stop"), 0);
    double t0 = tl_now_ms();
    tl_resp *r = tl_http(srv, "GET", "/assets", a.token, NULL);
    double ms = tl_now_ms() - t0;
    bool unavailable = is_unavailable(r);
    long status = r->status;
    tl_resp_free(r);
    tl_resp *ready = tl_http(srv, "GET", "/readyz", NULL, NULL);
    long ready_status = ready->status;
    bool ready_ok = is_unavailable(ready);
    tl_resp_free(ready);
    tl_resp *admin =
        tl_http(srv, "POST", "/devices", srv->admin_token, "{\"name\":\"while-down\"}");
    bool admin_ok = is_unavailable(admin);
    long admin_status = admin->status;
    tl_resp_free(admin);
    tl_req_status(srv, "GET", "/healthz", NULL, NULL, 200);
    assert_int_equal(tl_pg_ctl("start"), 0);
    if (!unavailable)
        fail_msg(
            "GET /assets with the database down answered %ld (expected 503 SERVICE_UNAVAILABLE)",
            status);
    assert_true(ms < DB_TIMEOUT_MS + MARGIN_MS);
    if (!ready_ok)
        fail_msg("GET /readyz with the database down answered %ld", ready_status);
    if (!admin_ok)
        fail_msg("POST /devices with the database down answered %ld", admin_status);
    /* Back without a restart of assetd (a stale pooled connection may cost one 503). */
    long got = 0;
    for (int i = 0; i < 100 && got != 200; i++) {
        r = tl_http(srv, "GET", "/readyz", NULL, NULL);
        got = r->status;
        tl_resp_free(r);
        if (got != 200)
            usleep(50 * 1000);
    }
    assert_int_equal(got, 200);
    got = 0;
    for (int i = 0; i < 100 && got != 404; i++) {
        r = tl_http(srv, "GET", "/assets", a.token, NULL);
        got = r->status;
        assert_true(got == 404 || is_unavailable(r));
        tl_resp_free(r);
        if (got != 404)
            usleep(50 * 1000);
    }
    assert_int_equal(got, 404);
    PQreset(tl_db());
}

/* A statement that cannot finish (the assets table locked by another session): the request
 * answers 503 SERVICE_UNAVAILABLE once ASSETD_DB_TIMEOUT_MS has passed (statement_timeout), not
 * later and not 500; with more such requests than pooled connections, the ones waiting for a
 * connection give up after the checkout timeout too (a request may wait for a connection for
 * its authentication and again for its operation, then run out its statement: at most three
 * timeouts). Afterwards the service works at once. */
typedef struct {
    const char *token;
    double ms;
    long status;
    bool unavailable;
} blocked_call;

static void *blocked_get(void *arg)
{
    blocked_call *b = arg;
    double t0 = tl_now_ms();
    tl_resp *r = tl_http(srv, "GET", "/assets/locked?returnType=ALL", b->token, NULL);
    b->ms = tl_now_ms() - t0;
    b->status = r->status;
    b->unavailable = is_unavailable(r);
    tl_resp_free(r);
    return NULL;
}

static void test_statement_timeout(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.dblock", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"locked\",\"secret\":\"bG9ja2Vk\"}"));
    PGconn *locker = PQconnectdb(getenv("TEST_DATABASE_URL"));
    assert_int_equal(PQstatus(locker), CONNECTION_OK);
    PGresult *res = PQexec(locker, "BEGIN; LOCK TABLE assets IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* One request: 503 after the statement timeout. */
    blocked_call one = {a.token, 0, 0, false};
    blocked_get(&one);
    /* Several at once: more than the pool holds, and more than the HTTP threads. Meanwhile
     * /healthz (no database) must still answer promptly: a liveness probe that times out while
     * the database is slow gets a healthy process killed. */
    enum { N = 6 };
    blocked_call many[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        many[i] = (blocked_call){a.token, 0, 0, false};
        pthread_create(&th[i], NULL, blocked_get, &many[i]);
    }
    usleep(300 * 1000);
    double h0 = tl_now_ms();
    tl_resp *h = tl_http(srv, "GET", "/healthz", NULL, NULL);
    double health_ms = tl_now_ms() - h0;
    long health_status = h->status;
    tl_resp_free(h);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    res = PQexec(locker, "ROLLBACK");
    PQclear(res);
    PQfinish(locker);
    if (!one.unavailable)
        fail_msg("a request blocked on a lock answered %ld after %.0f ms (expected 503 "
                 "SERVICE_UNAVAILABLE)",
                 one.status, one.ms);
    if (one.ms < DB_TIMEOUT_MS * 0.9 || one.ms > DB_TIMEOUT_MS + MARGIN_MS)
        fail_msg("a request blocked on a lock answered after %.0f ms (ASSETD_DB_TIMEOUT_MS=%d)",
                 one.ms, DB_TIMEOUT_MS);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        if (!many[i].unavailable)
            fail_msg("blocked request %d answered %ld after %.0f ms (expected 503)", i,
                     many[i].status, many[i].ms);
        if (many[i].ms > worst)
            worst = many[i].ms;
    }
    print_message("statement timeout: one blocked request %.0f ms; %d at once: slowest %.0f ms; "
                  "/healthz meanwhile %.0f ms\n",
                  one.ms, N, worst, health_ms);
    if (health_status != 200 || health_ms > 1000)
        fail_msg("GET /healthz answered %ld after %.0f ms while requests were blocked on the "
                 "database",
                 health_status, health_ms);
    if (worst > 3 * DB_TIMEOUT_MS + MARGIN_MS)
        fail_msg("a blocked request took %.0f ms (ASSETD_DB_TIMEOUT_MS=%d)", worst, DB_TIMEOUT_MS);
    char got[16];
    tl_get_secret(srv, a.token, "locked", NULL, got, sizeof got);
    assert_string_equal(got, "locked");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_restart_under_load),
        cmocka_unit_test(test_requests_while_down),
        cmocka_unit_test(test_statement_timeout),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
