/* Requests taken together (api/dispatch.c). Group reads of GET /assets/{alias}
 * (service/asset_get.h): reads queued together are looked up by one statement, and each still
 * gets exactly the answer it gets alone — the secret, 404, 403, 400, 401, a state that forbids
 * the secret — with its own audit row; a principal remembered by this instance is checked in that
 * statement against changes made through another instance (a state change, an uninstall).
 * Group removes of DELETE /assets/{alias} (service/asset_remove.h): removes queued together are
 * made by one statement, each with its own answer (204, 404, 412 for an If-Match, 400, 401) and
 * audit row, and only the assets asked for are gone. Group updates of PATCH /assets/{alias}
 * (service/asset_update.h) likewise, in one transaction, with If-Match checked on the locked
 * row. A group the database refuses changes nothing: updates then run each alone, removes are
 * answered with the error.
 *
 * The instance under test has one request worker, held busy while each burst is sent (a request
 * waiting for a row lock the test holds), so that the burst queues and is taken together; the
 * metrics show it was. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

static tl_server *s1, *s2;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_REQUEST_WORKERS=1", "ASSETD_SYNC_WORKERS=0",
                                      "ASSETD_AUTH_CACHE_MS=3600000", NULL};
    s1 = tl_server_start(env);
    s2 = tl_server_start(env + 1); /* the other instance: changes made elsewhere */
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    int a = tl_server_stop(s1), b = tl_server_stop(s2);
    assert_int_equal(a, 0);
    assert_int_equal(b, 0);
    return 0;
}

static long long metric(const char *name)
{
    tl_resp *r = tl_http(s1, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r->status, 200);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(r->body, key);
    assert_non_null(p);
    long long v = atoll(p + strlen(key));
    tl_resp_free(r);
    return v;
}

/* The one request worker held busy: a request that waits for a row lock this test holds (a
 * state change of a device of its own), so that the requests sent meanwhile queue and are taken
 * together once it is released. */
static PGconn *hold_conn;
static pthread_t holder;
static tl_device hold_dev;

static void *hold_run(void *arg)
{
    (void)arg;
    tl_device_set_state(s1, hold_dev.id, true, false, true);
    return NULL;
}

static void worker_hold(void)
{
    if (!hold_dev.id[0])
        hold_dev = tl_device_create(s1, "gr-hold", NULL);
    assert_non_null(hold_conn = PQconnectdb(getenv("TEST_DATABASE_URL")));
    assert_int_equal(PQstatus(hold_conn), CONNECTION_OK);
    const char *id[] = {hold_dev.id};
    PQclear(PQexec(hold_conn, "BEGIN"));
    PGresult *r = PQexecParams(hold_conn, "SELECT 1 FROM devices WHERE id = $1::uuid FOR UPDATE", 1,
                               NULL, id, NULL, NULL, 0);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    assert_int_equal(pthread_create(&holder, NULL, hold_run, NULL), 0);
    tl_sleep_ms(200); /* the state change is waiting for the lock */
}

static void worker_release(void)
{
    tl_sleep_ms(300); /* the requests started meanwhile are queued */
    PQclear(PQexec(hold_conn, "COMMIT"));
    PQfinish(hold_conn);
    hold_conn = NULL;
    pthread_join(holder, NULL);
}

enum { MAX_READS = 64 };

/* One read and its answer: status, the problem's name or the secret (base64) or "-". */
typedef struct {
    const char *token;
    char path[200];
    long status;
    char said[256];
} read_req;

static void read_once(read_req *q)
{
    tl_resp *r = tl_http(s1, "GET", q->path, q->token, NULL);
    q->status = r->status;
    const char *v = NULL;
    if (r->json)
        v = json_string_value(json_object_get(r->json, r->status >= 400 ? "name" : "secret"));
    if (r->status < 400 && r->json && !json_object_get(r->json, "alias"))
        v = "(no alias in the answer)";
    snprintf(q->said, sizeof q->said, "%s", v ? v : "-");
    tl_resp_free(r);
}

/* What every client thread of a burst waits on, so that all start at once. */
static pthread_barrier_t burst_go;

/* Runs fn(args + i * size) for i < n, each on its own client thread, all at once, queued behind
 * the held worker. */
static void burst(void *(*fn)(void *), void *args, size_t size, int n)
{
    pthread_t th[MAX_READS];
    assert_true(n <= MAX_READS);
    pthread_barrier_init(&burst_go, NULL, (unsigned)n);
    worker_hold();
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size), 0);
    worker_release();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&burst_go);
}

typedef struct {
    read_req *q;
    int rounds;
} reader;

static void *reader_run(void *arg)
{
    reader *t = arg;
    pthread_barrier_wait(&burst_go);
    for (int round = 0; round < t->rounds; round++)
        read_once(t->q);
    return NULL;
}

/* Every read of reqs[0..n) by its own client thread, all at once (the first round queued behind
 * a held worker), `rounds` times over. */
static void read_all_at_once(read_req *reqs, int n, int rounds)
{
    reader rs[MAX_READS];
    for (int i = 0; i < n; i++)
        rs[i] = (reader){&reqs[i], rounds};
    burst(reader_run, rs, sizeof rs[0], n);
}

/* Reads of many callers with every kind of answer, made one by one and then all at once: the
 * same answers, and the reads were looked up together. */
static void test_each_read_answered_as_alone(void **st)
{
    (void)st;
    char b64[64];
    tl_device d[2] = {tl_device_create(s1, "gr-1", NULL), tl_device_create(s1, "gr-2", NULL)};
    static const char *const groups[] = {"gr.shared", NULL};
    tl_app a[3] = {tl_app_install(s1, d[0].id, "com.example.gr0", groups, false),
                   tl_app_install(s1, d[0].id, "com.example.gr1", NULL, false),
                   tl_app_install(s1, d[1].id, "com.example.gr0", NULL, false)};
    for (int i = 0; i < 3; i++)
        json_decref(tl_asset_addf(s1, a[i].token, "{\"alias\":\"x\",\"secret\":\"%s\"}",
                                  tl_b64(b64, sizeof b64, a[i].app_id, strlen(a[i].app_id))));
    json_decref(tl_asset_addf(s1, a[0].token,
                              "{\"alias\":\"grouped\",\"groupId\":\"gr.shared\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "in the group", 12)));
    json_decref(tl_asset_addf(s1, a[0].token,
                              "{\"alias\":\"needs-auth\",\"authType\":\"ANY\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "auth", 4)));
    static const struct {
        int app; /* -1: no token; -2: a token nobody has */
        const char *path;
    } reads[] = {
        {0, "/assets/x?returnType=ALL"},
        {1, "/assets/x?returnType=ALL"},
        {2, "/assets/x?returnType=ALL"},
        {0, "/assets/x"},
        {0, "/assets/missing?returnType=ALL"},
        {0, "/assets/grouped?returnType=ALL"},
        {0, "/assets/grouped?groupId=gr.shared&returnType=ALL"},
        {1, "/assets/grouped?groupId=gr.shared&returnType=ALL"},
        {0, "/assets/needs-auth?returnType=ALL"},
        {0, "/assets/needs-auth"},
        {0, "/assets/x?returnType=SOMETIMES"},
        {0, "/assets/x?limit=3"},
        {2, "/assets/%E2%82%AC?returnType=ALL"},
        {-1, "/assets/x?returnType=ALL"},
        {-2, "/assets/x?returnType=ALL"},
        {1, "/assets/x?returnType=ALL"},
    };
    enum { N = sizeof reads / sizeof reads[0] };
    static read_req alone[N], together[N];
    for (int i = 0; i < N; i++) {
        const char *token = reads[i].app >= 0    ? a[reads[i].app].token
                            : reads[i].app == -1 ? NULL
                                                 : "not-a-token-anybody-has";
        alone[i] = (read_req){.token = token};
        snprintf(alone[i].path, sizeof alone[i].path, "%s", reads[i].path);
        read_once(&alone[i]);
        together[i] = alone[i];
        together[i].status = 0;
    }
    /* The expected answers, made alone, are what the contract says. */
    assert_int_equal(alone[0].status, 200);
    assert_string_equal(alone[0].said, tl_b64(b64, sizeof b64, a[0].app_id, strlen(a[0].app_id)));
    assert_string_equal(alone[2].said, tl_b64(b64, sizeof b64, a[2].app_id, strlen(a[2].app_id)));
    assert_int_equal(alone[4].status, 404);
    assert_int_equal(alone[6].status, 200);
    assert_int_equal(alone[7].status, 403);
    assert_int_equal(alone[8].status, 403);
    assert_int_equal(alone[10].status, 400);
    assert_int_equal(alone[13].status, 401);
    assert_int_equal(alone[14].status, 401);

    long long stmts0 = metric("assetd_get_group_statements_total");
    long long reads0 = metric("assetd_get_group_reads_total");
    read_all_at_once(together, N, 8);
    for (int i = 0; i < N; i++)
        if (together[i].status != alone[i].status || strcmp(together[i].said, alone[i].said))
            fail_msg("%s (app %d): alone %ld %s, together %ld %s", reads[i].path, reads[i].app,
                     alone[i].status, alone[i].said, together[i].status, together[i].said);
    long long stmts = metric("assetd_get_group_statements_total") - stmts0;
    long long grouped = metric("assetd_get_group_reads_total") - reads0;
    if (stmts == 0 || grouped <= stmts)
        fail_msg("%d concurrent readers: %lld reads in %lld group statements: none shared one", N,
                 grouped, stmts);

    /* Each secret read together recorded itself, as a read alone does: 8 rounds of the 3 reads
     * of app 0's "x" with its secret that succeeded, plus the one made alone. */
    long long rows = 0;
    for (int k = 0; k < 200 && rows < 9; k++, tl_sleep_ms(25))
        rows = tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action = "
                           "'getAsset' AND owner = 'app:com.example.gr0' AND outcome = 'ok'",
                           d[0].id, NULL);
    assert_int_equal(rows, 9);
}

/* Changes made through the other instance are seen by reads in a group of this one, whose
 * principals it remembers: a locked screen forbids the secret, an uninstall refuses the token.
 * Each reader has a token of its own, remembered before the change: a read that happens to run
 * alone refreshes only its own, so the others find theirs stale in the group's statement. */
static void test_remembered_principals_checked_in_the_group(void **st)
{
    (void)st;
    enum { APPS = 10, N = APPS + 2 };
    char b64[64], out[64], app_id[64];
    tl_device d = tl_device_create(s1, "gr-state", NULL);
    static tl_app apps[APPS + 1];
    for (int i = 0; i <= APPS; i++) {
        snprintf(app_id, sizeof app_id, "com.example.grstate%d", i);
        apps[i] = tl_app_install(s1, d.id, app_id, NULL, false);
        json_decref(tl_asset_addf(s1, apps[i].token,
                                  "{\"alias\":\"u\",\"accessibility\":\"%s\",\"secret\":\"%s\"}",
                                  i < APPS ? "DEVICE_UNLOCKED" : "DEVICE_POWERED_ON",
                                  tl_b64(b64, sizeof b64, "unlocked only", 13)));
        assert_string_equal(tl_get_secret(s1, apps[i].token, "u", NULL, out, sizeof out),
                            "unlocked only");
    }
    /* Reads N-2 and N-1 are of an app the changes leave alone. */
    static read_req reqs[N];
    for (int i = 0; i < N; i++) {
        reqs[i] = (read_req){.token = apps[i < APPS ? i : APPS].token};
        snprintf(reqs[i].path, sizeof reqs[i].path, "/assets/u?returnType=ALL");
    }

    tl_device_set_state(s2, d.id, true, true, true); /* the screen locked */
    long long stmts0 = metric("assetd_get_group_statements_total");
    read_all_at_once(reqs, N, 1);
    for (int i = 0; i < N; i++)
        if (i < APPS ? reqs[i].status != 409 || strcmp(reqs[i].said, "STATUS_MISMATCH")
                     : reqs[i].status != 200)
            fail_msg("locked, read %d: %ld %s", i, reqs[i].status, reqs[i].said);
    assert_true(metric("assetd_get_group_statements_total") > stmts0);

    tl_device_set_state(s2, d.id, true, false, true);
    for (int i = 0; i < N; i++)
        read_once(&reqs[i]); /* remembered afresh, unlocked */
    for (int i = 0; i < APPS; i++) {
        snprintf(app_id, sizeof app_id, "com.example.grstate%d", i);
        tl_app_uninstall(s2, d.id, app_id);
    }
    stmts0 = metric("assetd_get_group_statements_total");
    read_all_at_once(reqs, N, 1);
    for (int i = 0; i < N; i++)
        if (reqs[i].status != (i < APPS ? 401 : 200))
            fail_msg("uninstalled, read %d: %ld %s", i, reqs[i].status, reqs[i].said);
    assert_true(metric("assetd_get_group_statements_total") > stmts0);
}

/* One request (a DELETE or a PATCH with body) of a client thread, with an If-Match or none,
 * started with the others at once: its status. */
typedef struct {
    const char *method, *token, *if_match, *body;
    char path[200];
    long status;
} write_req;

static void *write_run(void *arg)
{
    write_req *q = arg;
    pthread_barrier_wait(&burst_go);
    char hdr[96], auth[200];
    snprintf(hdr, sizeof hdr, "If-Match: %s", q->if_match ? q->if_match : "");
    snprintf(auth, sizeof auth, "Bearer %s", q->token ? q->token : "");
    const char *headers[] = {q->if_match ? hdr : NULL, NULL};
    tl_http_opts opts = {.headers = headers};
    tl_resp *r = tl_http_raw(s1, q->method, q->path, q->token ? auth : NULL, q->body,
                             q->body ? strlen(q->body) : 0, &opts);
    q->status = r->status;
    tl_resp_free(r);
    return NULL;
}

/* Every request of reqs[0..n) at once, queued behind the held worker. */
static void write_all_at_once(write_req *reqs, int n)
{
    burst(write_run, reqs, sizeof reqs[0], n);
}

/* Removes of many callers at once: each its own answer and audit row, only what was asked gone. */
static void test_removes_together(void **st)
{
    (void)st;
    char b64[64];
    tl_device d = tl_device_create(s1, "gr-remove", NULL);
    static const char *const groups[] = {"gr.remove", NULL};
    tl_app a = tl_app_install(s1, d.id, "com.example.grrm0", groups, false);
    tl_app b = tl_app_install(s1, d.id, "com.example.grrm1", NULL, false);
    const char *aliases[] = {"r0", "r1", "r2", "r3", "r4", "r5", "kept", "twice"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        json_decref(tl_asset_addf(s1, a.token, "{\"alias\":\"%s\",\"secret\":\"%s\"}", aliases[i],
                                  tl_b64(b64, sizeof b64, "x", 1)));
    json_decref(tl_asset_addf(s1, b.token, "{\"alias\":\"kept\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "y", 1)));
    json_decref(tl_asset_addf(s1, a.token,
                              "{\"alias\":\"g\",\"groupId\":\"gr.remove\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "z", 1)));
    json_t *v = tl_asset_addf(s1, a.token, "{\"alias\":\"versioned\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "w", 1));
    char etag[40];
    /* a tag that is not the asset's: its If-Match fails */
    snprintf(etag, sizeof etag, "\"%lld\"",
             (long long)json_integer_value(json_object_get(v, "version")) + 1000000);
    json_decref(v);
    static const struct {
        int who; /* 0: a, 1: b, -1: no token */
        const char *path, *if_match;
        long want; /* 0: 204 or 404, one of the two for "twice" */
    } rm[] = {
        {0, "/assets/r0", NULL, 204},
        {0, "/assets/r1", NULL, 204},
        {0, "/assets/r2", NULL, 204},
        {0, "/assets/r3", NULL, 204},
        {0, "/assets/r4", NULL, 204},
        {0, "/assets/r5", NULL, 204},
        {0, "/assets/missing", NULL, 404},
        {1, "/assets/r0", NULL, 404},
        {1, "/assets/kept", NULL, 204},
        {0, "/assets/g?groupId=gr.remove", NULL, 204},
        {0, "/assets/g", NULL, 404},
        {0, "/assets/versioned", "wrong", 412},
        {0, "/assets/twice", NULL, 0},
        {0, "/assets/twice", NULL, 0},
        {0, "/assets/x?returnType=ALL", NULL, 400},
        {-1, "/assets/kept", NULL, 401},
    };
    enum { N = sizeof rm / sizeof rm[0] };
    static write_req reqs[N];
    long long stmts0 = metric("assetd_remove_group_statements_total");
    long long removes0 = metric("assetd_remove_group_removes_total");
    for (int i = 0; i < N; i++) {
        reqs[i] = (write_req){.method = "DELETE",
                              .token = rm[i].who == 0   ? a.token
                                       : rm[i].who == 1 ? b.token
                                                        : NULL,
                              .if_match = rm[i].if_match ? etag : NULL};
        snprintf(reqs[i].path, sizeof reqs[i].path, "%s", rm[i].path);
    }
    write_all_at_once(reqs, N);
    int twice_removed = 0;
    for (int i = 0; i < N; i++) {
        if (rm[i].want == 0 && (reqs[i].status == 204 || reqs[i].status == 404)) {
            twice_removed += reqs[i].status == 204;
            continue;
        }
        if (reqs[i].status != rm[i].want)
            fail_msg("DELETE %s (caller %d): %ld, not %ld", rm[i].path, rm[i].who, reqs[i].status,
                     rm[i].want);
    }
    assert_int_equal(twice_removed, 1);
    long long stmts = metric("assetd_remove_group_statements_total") - stmts0;
    long long grouped = metric("assetd_remove_group_removes_total") - removes0;
    if (stmts == 0 || grouped <= stmts)
        fail_msg("%d concurrent removes: %lld in %lld group statements: none shared one", N,
                 grouped, stmts);
    /* What is left: a's "kept" and "versioned" (its If-Match failed), nothing of b. */
    char list[256];
    assert_string_equal(tl_list(s1, a.token, "", list, sizeof list), "kept,versioned");
    assert_string_equal(tl_list(s1, b.token, "", list, sizeof list), "404");
    /* One deleteAsset row with outcome ok per asset removed (9), in the removes' statements. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action "
                                 "= 'deleteAsset' AND outcome = 'ok'",
                                 d.id, NULL),
                     9);
}

/* The asset's ETag ("<version>") as its owner reads it. */
static void etag_of(const char *token, const char *alias, char out[64])
{
    tl_resp *r = tl_httpf(s1, "GET", token, NULL, "/assets/%s", alias);
    assert_int_equal(r->status, 200);
    assert_true(tl_resp_header(r, "ETag", out, 64));
    tl_resp_free(r);
}

/* Updates of many callers at once: each its own answer and audit row; what they set is there,
 * secrets re-sealed; an If-Match is checked on the locked row (a tag that is not the asset's:
 * 412; two with the current one: one 200, one 412). */
static void test_updates_together(void **st)
{
    (void)st;
    char b64[64], out[64];
    tl_device d = tl_device_create(s1, "gr-update", NULL);
    static const char *const groups[] = {"gr.update", NULL};
    tl_app a = tl_app_install(s1, d.id, "com.example.grup0", groups, false);
    tl_app b = tl_app_install(s1, d.id, "com.example.grup1", NULL, false);
    const char *aliases[] = {"u0", "u1", "u2", "u3", "u4", "u5", "v", "w0", "w1", "w2", "w3"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        json_decref(tl_asset_addf(s1, a.token, "{\"alias\":\"%s\",\"secret\":\"%s\"}", aliases[i],
                                  tl_b64(b64, sizeof b64, "old", 3)));
    json_decref(tl_asset_addf(s1, a.token,
                              "{\"alias\":\"g\",\"groupId\":\"gr.update\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, "old", 3)));
    char now[64], wrong[64], after[64];
    etag_of(a.token, "v", now);
    snprintf(wrong, sizeof wrong, "\"%lld\"", atoll(now + 1) + 1000000);
    static char bodies[6][128];
    for (int i = 0; i < 6; i++) {
        char secret[16];
        snprintf(secret, sizeof secret, "new-%d", i);
        snprintf(bodies[i], sizeof bodies[i], "{\"secret\":\"%s\",\"dataLabelNormal1\":\"n-%d\"}",
                 tl_b64(b64, sizeof b64, secret, strlen(secret)), i);
    }
    const char *label = "{\"dataLabelNormal2\":\"set\"}";
    const struct {
        int who; /* 0: a, 1: b, -1: no token */
        const char *path, *body, *if_match;
        long want; /* 0: one of the two "v" with the current tag gets 200, the other 412 */
    } up[] = {
        {0, "/assets/u0", bodies[0], NULL, 200},
        {0, "/assets/u1", bodies[1], NULL, 200},
        {0, "/assets/u2", bodies[2], NULL, 200},
        {0, "/assets/u3", bodies[3], NULL, 200},
        {0, "/assets/u4", bodies[4], NULL, 200},
        {0, "/assets/u5", bodies[5], NULL, 200},
        {0, "/assets/missing", label, NULL, 404},
        {1, "/assets/u0", label, NULL, 404},
        {0, "/assets/g?groupId=gr.update", label, NULL, 200},
        {0, "/assets/w0", label, wrong, 412},
        {0, "/assets/w1", label, wrong, 412},
        {0, "/assets/w2", label, wrong, 412},
        {0, "/assets/w3", label, wrong, 412},
        {0, "/assets/v", label, now, 0},
        {0, "/assets/v", label, now, 0},
        {0, "/assets/u0", "{\"secret\":5}", NULL, 400},
        {-1, "/assets/u1", label, NULL, 401},
    };
    enum { N = sizeof up / sizeof up[0] };
    static write_req reqs[N];
    long long tx0 = metric("assetd_update_group_transactions_total");
    long long updates0 = metric("assetd_update_group_updates_total");
    for (int i = 0; i < N; i++) {
        reqs[i] = (write_req){.method = "PATCH",
                              .token = up[i].who == 0   ? a.token
                                       : up[i].who == 1 ? b.token
                                                        : NULL,
                              .if_match = up[i].if_match,
                              .body = up[i].body};
        snprintf(reqs[i].path, sizeof reqs[i].path, "%s", up[i].path);
    }
    write_all_at_once(reqs, N);
    int same_tag_ok = 0, same_tag_refused = 0;
    for (int i = 0; i < N; i++) {
        if (up[i].want == 0) {
            same_tag_ok += reqs[i].status == 200;
            same_tag_refused += reqs[i].status == 412;
            continue;
        }
        if (reqs[i].status != up[i].want)
            fail_msg("PATCH %s (caller %d): %ld, not %ld", up[i].path, up[i].who, reqs[i].status,
                     up[i].want);
    }
    if (same_tag_ok != 1 || same_tag_refused != 1)
        fail_msg("two PATCH with the current tag: %d got 200, %d got 412", same_tag_ok,
                 same_tag_refused);
    long long tx = metric("assetd_update_group_transactions_total") - tx0;
    long long grouped = metric("assetd_update_group_updates_total") - updates0;
    if (tx == 0 || grouped <= tx)
        fail_msg("%d concurrent updates: %lld in %lld group transactions: none shared one", N,
                 grouped, tx);
    /* What they set is there: each secret re-sealed, each label. */
    for (int i = 0; i < 6; i++) {
        char want[16], list[64], q[64];
        snprintf(want, sizeof want, "new-%d", i);
        assert_string_equal(tl_get_secret(s1, a.token, aliases[i], NULL, out, sizeof out), want);
        snprintf(q, sizeof q, "dataLabelNormal1=n-%d", i);
        assert_string_equal(tl_list(s1, a.token, q, list, sizeof list), aliases[i]);
    }
    char list[64];
    assert_string_equal(
        tl_list(s1, a.token, "dataLabelNormal2=set&groupId=gr.update", list, sizeof list), "g");
    assert_string_equal(tl_get_secret(s1, a.token, "v", NULL, out, sizeof out), "old");
    etag_of(a.token, "v", after);
    assert_string_not_equal(after, now);
    /* One updateAsset row with outcome ok per update made (8), in the updates' transactions. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action "
                                 "= 'updateAsset' AND outcome = 'ok'",
                                 d.id, NULL),
                     8);
}

/* A group whose statement the database refuses, here by a trigger that refuses any statement
 * changing more than one asset of one device (as a constraint that one row breaks would): the
 * group's transaction rolls back whole, audit rows included. Updates then run each alone and all
 * succeed; removes are answered together with the error and nothing is removed. */
static void refuse_many(const char *event, const char *table)
{
    char q[512];
    PQclear(tl_db_exec("CREATE OR REPLACE FUNCTION test_refuse_many() RETURNS trigger "
                       "LANGUAGE plpgsql AS $$ BEGIN IF (SELECT count(*) FROM changed) > 1 THEN "
                       "RAISE EXCEPTION 'test: % assets in one statement', "
                       "(SELECT count(*) FROM changed); END IF; RETURN NULL; END $$",
                       NULL));
    snprintf(q, sizeof q,
             "CREATE TRIGGER test_refuse_many AFTER %s ON assets REFERENCING %s TABLE AS changed "
             "FOR EACH STATEMENT EXECUTE FUNCTION test_refuse_many()",
             event, table);
    PQclear(tl_db_exec(q, NULL));
}

static void allow_many(void)
{
    PQclear(tl_db_exec("DROP TRIGGER test_refuse_many ON assets", NULL));
    PQclear(tl_db_exec("DROP FUNCTION test_refuse_many()", NULL));
}

static void test_refused_group_changes_nothing_of_its_own(void **st)
{
    (void)st;
    char b64[64], out[64];
    tl_device d = tl_device_create(s1, "gr-refused", NULL);
    tl_app a = tl_app_install(s1, d.id, "com.example.grref", NULL, false);
    enum { N = 6 };
    for (int i = 0; i < N; i++)
        json_decref(tl_asset_addf(s1, a.token, "{\"alias\":\"f%d\",\"secret\":\"%s\"}", i,
                                  tl_b64(b64, sizeof b64, "old", 3)));
    static char bodies[N][96];
    static write_req reqs[N];

    /* Updates: the group refused, each again alone. */
    refuse_many("UPDATE", "NEW");
    long long tx0 = metric("assetd_update_group_transactions_total");
    for (int i = 0; i < N; i++) {
        char secret[16];
        snprintf(secret, sizeof secret, "new-%d", i);
        snprintf(bodies[i], sizeof bodies[i], "{\"secret\":\"%s\"}",
                 tl_b64(b64, sizeof b64, secret, strlen(secret)));
        reqs[i] = (write_req){.method = "PATCH", .token = a.token, .body = bodies[i]};
        snprintf(reqs[i].path, sizeof reqs[i].path, "/assets/f%d", i);
    }
    write_all_at_once(reqs, N);
    allow_many();
    for (int i = 0; i < N; i++)
        if (reqs[i].status != 200)
            fail_msg("PATCH f%d after its group was refused: %ld, not 200", i, reqs[i].status);
    if (metric("assetd_update_group_transactions_total") == tx0)
        fail_msg("the %d updates were never tried together", N);
    for (int i = 0; i < N; i++) {
        char want[16], alias[16];
        snprintf(want, sizeof want, "new-%d", i);
        snprintf(alias, sizeof alias, "f%d", i);
        assert_string_equal(tl_get_secret(s1, a.token, alias, NULL, out, sizeof out), want);
    }
    /* one row per update made, none of the refused group's */
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action "
                                 "= 'updateAsset' AND outcome = 'ok'",
                                 d.id, NULL),
                     N);

    /* Removes: the group refused, every remove answered with the error, nothing gone. */
    refuse_many("DELETE", "OLD");
    long long rm0 = metric("assetd_remove_group_statements_total");
    for (int i = 0; i < N; i++) {
        reqs[i] = (write_req){.method = "DELETE", .token = a.token};
        snprintf(reqs[i].path, sizeof reqs[i].path, "/assets/f%d", i);
    }
    write_all_at_once(reqs, N);
    allow_many();
    if (metric("assetd_remove_group_statements_total") == rm0)
        fail_msg("the %d removes were never tried together", N);
    for (int i = 0; i < N; i++)
        if (reqs[i].status < 500)
            fail_msg("DELETE f%d in a refused group: %ld, not the database's error", i,
                     reqs[i].status);
    char list[64];
    assert_string_equal(tl_list(s1, a.token, "", list, sizeof list), "f0,f1,f2,f3,f4,f5");
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action "
                                 "= 'deleteAsset' AND outcome = 'ok'",
                                 d.id, NULL),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_read_answered_as_alone),
        cmocka_unit_test(test_remembered_principals_checked_in_the_group),
        cmocka_unit_test(test_removes_together),
        cmocka_unit_test(test_updates_together),
        cmocka_unit_test(test_refused_group_changes_nothing_of_its_own),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
