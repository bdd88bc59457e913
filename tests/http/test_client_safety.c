/* HTTP black-box tests: client safety, spec §13 (issue 14) — asset versions as strong ETags,
 * If-Match on PATCH and DELETE /assets/{alias} (412 and nothing written; the check and the write
 * one step, so two concurrent PATCHes with one If-Match give exactly one 200 and one 412),
 * If-None-Match: * on POST /assets, and Idempotency-Key on POST /assets, /backups, /restores:
 * a repeat is replayed (Idempotent-Replayed: true) and does nothing again, even 20 at once;
 * another request with the key is 409 IDEMPOTENCY_CONFLICT; a repeat while the first runs is 409
 * with Retry-After; expired and abandoned keys are taken again; malformed keys are 400. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=0", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* A request with up to two extra header lines (NULL: none). Thread-safe. */
static tl_resp *req(const char *method, const char *path, const char *token, const char *body,
                    const char *h1, const char *h2)
{
    char auth[256];
    const char *hdrs[3] = {h1, h1 ? h2 : NULL, NULL};
    tl_http_opts o = {.headers = hdrs};
    snprintf(auth, sizeof auth, "Bearer %s", token);
    return tl_http_raw(srv, method, path, auth, body, body ? strlen(body) : 0, &o);
}

/* The response's ETag (asserted present and strong: "<digits>"). */
static void etag_of(const tl_resp *r, char out[64])
{
    if (!tl_resp_header(r, "ETag", out, 64))
        fail_msg("%s -> %ld: no ETag header", r->request, r->status);
    size_t n = strlen(out);
    assert_true(n >= 3 && out[0] == '"' && out[n - 1] == '"');
    for (size_t i = 1; i + 1 < n; i++)
        assert_true(out[i] >= '0' && out[i] <= '9');
}

static long long etag_num(const char *etag)
{
    return strtoll(etag + 1, NULL, 10);
}

static bool replayed(const tl_resp *r)
{
    char v[32];
    return tl_resp_header(r, "Idempotent-Replayed", v, sizeof v) && strcmp(v, "true") == 0;
}

static void if_match(char out[128], const char *tags)
{
    snprintf(out, 128, "If-Match: %s", tags);
}

static void current_etag(const char *token, const char *alias, char out[64])
{
    char path[256];
    tl_resp *r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/assets/%s", alias), token, NULL);
    tl_expect_status(r, 200);
    etag_of(r, out);
    tl_resp_free(r);
}

/* ---- versions ------------------------------------------------------------------------------ */

static void test_etag_changes_on_every_write(void **st)
{
    (void)st;
    char e0[64], e1[64], e2[64], e3[64], h[128];
    tl_app a = tl_fresh_app(srv, "com.example.etag", NULL);
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token,
                         "{\"alias\":\"v\",\"secret\":\"czE=\",\"dataLabelNormal1\":\"n\"}");
    tl_expect_status(r, 201);
    etag_of(r, e0);
    tl_resp_free(r);
    /* GET gives the same tag, and secrets are still never cached. */
    r = tl_http(srv, "GET", "/assets/v", a.token, NULL);
    tl_expect_status(r, 200);
    etag_of(r, e1);
    assert_string_equal(e0, e1);
    char cc[64];
    assert_true(tl_resp_header(r, "Cache-Control", cc, sizeof cc));
    assert_string_equal(cc, "no-store");
    const char *t0 = tl_jstr(r->json, "updateTime");
    char time0[64];
    snprintf(time0, sizeof time0, "%s", t0 ? t0 : "");
    tl_resp_free(r);
    /* A local-label-only update keeps updateTime but not the version. */
    tl_sleep_ms(5);
    r = tl_http(srv, "PATCH", "/assets/v", a.token, "{\"dataLabelNormalLocal1\":\"x\"}");
    tl_expect_status(r, 200);
    etag_of(r, e2);
    assert_string_not_equal(e2, e1);
    assert_string_equal(tl_jstr(r->json, "updateTime"), time0);
    tl_resp_free(r);
    current_etag(a.token, "v", e3);
    assert_string_equal(e3, e2);
    /* OVERWRITE is a write too. */
    r = tl_http(srv, "POST", "/assets", a.token,
                "{\"alias\":\"v\",\"secret\":\"czI=\",\"conflictResolution\":\"OVERWRITE\"}");
    tl_expect_status(r, 200);
    etag_of(r, e3);
    assert_true(etag_num(e3) > etag_num(e2));
    tl_resp_free(r);
    /* Removed and added again: never an earlier tag. */
    if_match(h, e3);
    tl_resp_free(tl_expect_status(req("DELETE", "/assets/v", a.token, NULL, h, NULL), 204));
    r = tl_http(srv, "POST", "/assets", a.token, "{\"alias\":\"v\",\"secret\":\"czE=\"}");
    tl_expect_status(r, 201);
    etag_of(r, e1);
    assert_true(etag_num(e1) > etag_num(e3));
    tl_resp_free(r);
}

static void test_if_match(void **st)
{
    (void)st;
    char cur[64], h[128], weak[128], later[64], sec[64];
    tl_app a = tl_fresh_app(srv, "com.example.ifmatch", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"m\",\"secret\":\"b2xk\"}"));
    current_etag(a.token, "m", cur);
    /* Stale, weak (even of the current version), and unknown tags: 412, nothing written. */
    const char *stale[] = {"\"1\"", "\"999999999999\", \"abc\"", "W/", NULL};
    for (int i = 0; stale[i]; i++) {
        if (strcmp(stale[i], "W/") == 0)
            snprintf(weak, sizeof weak, "If-Match: W/%s", cur);
        else
            if_match(weak, stale[i]);
        tl_resp *r = req("PATCH", "/assets/m", a.token, "{\"secret\":\"bmV3\"}", weak, NULL);
        tl_expect_problem_field(r, 412, "PRECONDITION_FAILED", "If-Match");
        tl_resp_free(r);
        r = req("DELETE", "/assets/m", a.token, NULL, weak, NULL);
        tl_expect_problem(r, 412, "PRECONDITION_FAILED");
        tl_resp_free(r);
    }
    tl_get_secret(srv, a.token, "m", NULL, sec, sizeof sec);
    assert_string_equal(sec, "old");
    current_etag(a.token, "m", later);
    assert_string_equal(later, cur);
    /* Malformed: 400 naming the header, nothing written. */
    const char *bad[] = {"If-Match: 12", "If-Match: \"12", "If-Match: *, \"1\"", "If-Match: ,",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        tl_resp *r = req("PATCH", "/assets/m", a.token, "{\"secret\":\"bmV3\"}", bad[i], NULL);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "If-Match");
        tl_resp_free(r);
    }
    /* A list holding the current tag matches; so does "*". */
    snprintf(h, sizeof h, "If-Match: \"1\", W/\"2\",%s", cur);
    tl_resp *r = req("PATCH", "/assets/m", a.token, "{\"secret\":\"bmV3\"}", h, NULL);
    tl_expect_status(r, 200);
    etag_of(r, later);
    assert_string_not_equal(later, cur);
    tl_resp_free(r);
    tl_get_secret(srv, a.token, "m", NULL, sec, sizeof sec);
    assert_string_equal(sec, "new");
    r = req("PATCH", "/assets/m", a.token, "{\"dataLabelNormal2\":\"z\"}", "If-Match: *", NULL);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    /* No asset: If-Match cannot match (412); without it, 404 as before. */
    r = req("PATCH", "/assets/none", a.token, "{\"secret\":\"bmV3\"}", "If-Match: *", NULL);
    tl_expect_problem(r, 412, "PRECONDITION_FAILED");
    tl_resp_free(r);
    r = req("DELETE", "/assets/none", a.token, NULL, "If-Match: *", NULL);
    tl_expect_problem(r, 412, "PRECONDITION_FAILED");
    tl_resp_free(r);
    tl_req_problem(srv, "DELETE", "/assets/none", a.token, NULL, 404, "NOT_FOUND");
    /* DELETE with the current tag. */
    current_etag(a.token, "m", cur);
    if_match(h, cur);
    tl_resp_free(tl_expect_status(req("DELETE", "/assets/m", a.token, NULL, h, NULL), 204));
    tl_req_problem(srv, "GET", "/assets/m", a.token, NULL, 404, "NOT_FOUND");
}

typedef struct {
    const char *token, *hdr, *body;
    pthread_barrier_t *go;
    long status;
} racer;

static void *race_patch(void *arg)
{
    racer *x = arg;
    pthread_barrier_wait(x->go);
    tl_resp *r = req("PATCH", "/assets/race", x->token, x->body, x->hdr, NULL);
    x->status = r->status;
    tl_resp_free(r);
    return NULL;
}

static void test_if_match_race(void **st)
{
    (void)st;
    char cur[64], h[128], sec[64];
    tl_app a = tl_fresh_app(srv, "com.example.race", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"race\",\"secret\":\"MA==\"}"));
    for (int round = 0; round < 10; round++) {
        pthread_barrier_t go;
        pthread_t th[2];
        racer x[2];
        current_etag(a.token, "race", cur);
        if_match(h, cur);
        pthread_barrier_init(&go, NULL, 2);
        for (int i = 0; i < 2; i++) {
            x[i] =
                (racer){a.token, h, i ? "{\"secret\":\"Qg==\"}" : "{\"secret\":\"QQ==\"}", &go, 0};
            pthread_create(&th[i], NULL, race_patch, &x[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        if (!((x[0].status == 200 && x[1].status == 412) ||
              (x[0].status == 412 && x[1].status == 200)))
            fail_msg("round %d: statuses %ld and %ld, want one 200 and one 412", round, x[0].status,
                     x[1].status);
        /* The winner's secret is the one stored. */
        tl_get_secret(srv, a.token, "race", NULL, sec, sizeof sec);
        assert_string_equal(sec, x[0].status == 200 ? "A" : "B");
    }
}

static void test_if_none_match(void **st)
{
    (void)st;
    char sec[64];
    tl_app a = tl_fresh_app(srv, "com.example.inm", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"k\",\"secret\":\"b2xk\"}"));
    /* Whatever conflictResolution says, THROW_ERROR. */
    tl_resp *r = req("POST", "/assets", a.token,
                     "{\"alias\":\"k\",\"secret\":\"bmV3\",\"conflictResolution\":\"OVERWRITE\"}",
                     "If-None-Match: *", NULL);
    tl_expect_problem(r, 409, "DUPLICATED");
    tl_resp_free(r);
    tl_get_secret(srv, a.token, "k", NULL, sec, sizeof sec);
    assert_string_equal(sec, "old");
    r = req("POST", "/assets", a.token,
            "{\"alias\":\"k2\",\"secret\":\"bmV3\",\"conflictResolution\":\"OVERWRITE\"}",
            "If-None-Match: *", NULL);
    tl_expect_status(r, 201);
    tl_resp_free(r);
    r = req("POST", "/assets", a.token, "{\"alias\":\"k3\",\"secret\":\"bmV3\"}",
            "If-None-Match: \"5\"", NULL);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "If-None-Match");
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/k3", a.token, NULL, 404, "NOT_FOUND");
}

/* ---- idempotency --------------------------------------------------------------------------- */

static long long installation_id(const char *device_id)
{
    return tl_db_count("SELECT id FROM installations WHERE device_id = $1", device_id, NULL);
}

static void test_idem_add_replay_and_conflict(void **st)
{
    (void)st;
    tl_device d;
    char first[4096], etag1[64], etag2[64];
    tl_app a = tl_fresh_app(srv, "com.example.idem", &d);
    const char *body = "{\"alias\":\"i1\",\"secret\":\"czE=\"}";
    tl_resp *r = req("POST", "/assets", a.token, body, "Idempotency-Key: add-1", NULL);
    tl_expect_status(r, 201);
    assert_false(replayed(r));
    etag_of(r, etag1);
    snprintf(first, sizeof first, "%s", r->body);
    tl_resp_free(r);
    for (int i = 0; i < 2; i++) {
        r = req("POST", "/assets", a.token, body, "Idempotency-Key: add-1", NULL);
        tl_expect_status(r, 201);
        assert_true(replayed(r));
        assert_string_equal(r->body, first);
        etag_of(r, etag2);
        assert_string_equal(etag2, etag1);
        tl_resp_free(r);
    }
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL),
                     1);
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                                 "action = 'addAsset'",
                                 d.id, NULL),
                     1);
    /* The same key with another request. */
    r = req("POST", "/assets", a.token, "{\"alias\":\"i2\",\"secret\":\"czE=\"}",
            "Idempotency-Key: add-1", NULL);
    tl_expect_problem_field(r, 409, "IDEMPOTENCY_CONFLICT", "Idempotency-Key");
    assert_false(replayed(r));
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/i2", a.token, NULL, 404, "NOT_FOUND");
    /* Keys are per principal: another installation's key of the same text is its own. */
    tl_app b = tl_app_install(srv, d.id, "com.example.idem2", NULL, false);
    r = req("POST", "/assets", b.token, body, "Idempotency-Key: add-1", NULL);
    tl_expect_status(r, 201);
    assert_false(replayed(r));
    tl_resp_free(r);
    /* A 4xx answer is kept too: the repeat is replayed, not run. */
    r = req("POST", "/assets", a.token, "{\"alias\":\"i3\"}", "Idempotency-Key: add-bad", NULL);
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    tl_resp_free(r);
    r = req("POST", "/assets", a.token, "{\"alias\":\"i3\"}", "Idempotency-Key: add-bad", NULL);
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    assert_true(replayed(r));
    tl_resp_free(r);
}

static void test_idem_bad_keys(void **st)
{
    (void)st;
    char long_key[300], h[320];
    tl_app a = tl_fresh_app(srv, "com.example.idembad", NULL);
    memset(long_key, 'k', 256);
    long_key[256] = 0;
    snprintf(h, sizeof h, "Idempotency-Key: %s", long_key);
    const char *bad[] = {h, "Idempotency-Key: a b", "Idempotency-Key: caf\xc3\xa9", NULL};
    for (int i = 0; bad[i]; i++) {
        tl_resp *r =
            req("POST", "/assets", a.token, "{\"alias\":\"x\",\"secret\":\"czE=\"}", bad[i], NULL);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "Idempotency-Key");
        tl_resp_free(r);
    }
    tl_req_problem(srv, "GET", "/assets/x", a.token, NULL, 404, "NOT_FOUND");
    /* 255 characters are fine. */
    long_key[255] = 0;
    snprintf(h, sizeof h, "Idempotency-Key: %s", long_key);
    tl_resp_free(tl_expect_status(
        req("POST", "/assets", a.token, "{\"alias\":\"x\",\"secret\":\"czE=\"}", h, NULL), 201));
}

static void test_idem_in_flight_expired_abandoned(void **st)
{
    (void)st;
    tl_device d;
    char who[64], id[32];
    tl_app a = tl_fresh_app(srv, "com.example.idemflight", &d);
    snprintf(id, sizeof id, "%lld", installation_id(d.id));
    snprintf(who, sizeof who, "installation:%s", id);
    /* A first request still running (its claim is live). */
    PQclear(tl_db_exec("INSERT INTO idempotency_keys (principal, key, request_hash, lease_until, "
                       "expires_at) VALUES ($1, 'busy', '\\x00', now() + interval '1 hour', "
                       "now() + interval '1 day')",
                       who, NULL));
    tl_resp *r = req("POST", "/assets", a.token, "{\"alias\":\"f\",\"secret\":\"czE=\"}",
                     "Idempotency-Key: busy", NULL);
    tl_expect_problem(r, 409, "IDEMPOTENCY_CONFLICT");
    assert_true(r->retry_after[0] != 0);
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/f", a.token, NULL, 404, "NOT_FOUND");
    /* A first request that died (its claim ran out): the key is taken again and runs. */
    PQclear(tl_db_exec("UPDATE idempotency_keys SET lease_until = now() - interval '1 second' "
                       "WHERE principal = $1 AND key = 'busy'",
                       who, NULL));
    r = req("POST", "/assets", a.token, "{\"alias\":\"f\",\"secret\":\"czE=\"}",
            "Idempotency-Key: busy", NULL);
    tl_expect_status(r, 201);
    assert_false(replayed(r));
    tl_resp_free(r);
    /* A kept answer older than 24 hours: gone, the key is new again; other expired keys are
     * purged on the way. */
    PQclear(tl_db_exec("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
                       "WHERE principal = $1 AND key = 'busy'",
                       who, NULL));
    PQclear(tl_db_exec("INSERT INTO idempotency_keys (principal, key, request_hash, status, "
                       "lease_until, expires_at) VALUES ('installation:0', 'old', '\\x00', 201, "
                       "now() - interval '2 days', now() - interval '1 day')",
                       NULL));
    r = req("POST", "/assets", a.token, "{\"alias\":\"g\",\"secret\":\"czE=\"}",
            "Idempotency-Key: busy", NULL);
    tl_expect_status(r, 201);
    assert_false(replayed(r));
    tl_resp_free(r);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM idempotency_keys WHERE expires_at < now()", NULL), 0);
}

typedef struct {
    const char *method, *path, *token, *body, *key;
    pthread_barrier_t *go;
    long status;
    bool replayed;
    char body_out[1024];
    char retry_after[64];
} storm;

static void *storm_one(void *arg)
{
    storm *x = arg;
    char h[128];
    snprintf(h, sizeof h, "Idempotency-Key: %s", x->key);
    pthread_barrier_wait(x->go);
    tl_resp *r = req(x->method, x->path, x->token, x->body, h, NULL);
    x->status = r->status;
    x->replayed = replayed(r);
    snprintf(x->body_out, sizeof x->body_out, "%s", r->body);
    snprintf(x->retry_after, sizeof x->retry_after, "%s", r->retry_after);
    tl_resp_free(r);
    return NULL;
}

/* n identical requests at once: each is the first (once), a replay of it, or 409 with
 * Retry-After while it runs. Returns the first's body in first. */
static void run_storm(const char *method, const char *path, const char *token, const char *body,
                      const char *key, long want, char first[1024])
{
    enum { N = 20 };
    pthread_t th[N];
    storm x[N];
    pthread_barrier_t go;
    int originals = 0;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        x[i] = (storm){
            .method = method, .path = path, .token = token, .body = body, .key = key, .go = &go};
        pthread_create(&th[i], NULL, storm_one, &x[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    first[0] = 0;
    for (int i = 0; i < N; i++)
        if (x[i].status == want && !x[i].replayed) {
            originals++;
            snprintf(first, 1024, "%s", x[i].body_out);
        }
    if (originals != 1)
        fail_msg("%s %s: %d answers ran the request, want exactly 1", method, path, originals);
    for (int i = 0; i < N; i++) {
        if (x[i].status == want) {
            if (strcmp(x[i].body_out, first) != 0)
                fail_msg("a replay differs: %s vs %s", x[i].body_out, first);
        } else if (x[i].status != 409 || !strstr(x[i].body_out, "IDEMPOTENCY_CONFLICT") ||
                   !x[i].retry_after[0]) {
            fail_msg("%s %s: status %ld (%s), want %ld or 409 IDEMPOTENCY_CONFLICT with "
                     "Retry-After",
                     method, path, x[i].status, x[i].body_out, want);
        }
    }
}

static void test_idem_storm_assets(void **st)
{
    (void)st;
    tl_device d;
    char first[1024];
    tl_app a = tl_fresh_app(srv, "com.example.storm", &d);
    run_storm("POST", "/assets", a.token, "{\"alias\":\"s\",\"secret\":\"czE=\"}", "storm-asset",
              201, first);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL),
                     1);
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                                 "action = 'addAsset'",
                                 d.id, NULL),
                     1);
}

static void test_idem_storm_restores(void **st)
{
    (void)st;
    tl_device d;
    char body[256], first[1024], again[1024], h[64];
    tl_app a = tl_fresh_app(srv, "com.example.stormr", &d);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"r\",\"secret\":\"czE=\",\"syncType\":[\"THIS_DEVICE\"]}"));
    /* The backup: once, whatever the repeats. */
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id);
    tl_resp *r = req("POST", "/backups", srv->admin_token, body, "Idempotency-Key: bk-1", NULL);
    tl_expect_status(r, 201);
    const char *bid = tl_jstr(r->json, "id");
    assert_non_null(bid);
    char backup_id[64];
    snprintf(backup_id, sizeof backup_id, "%s", bid);
    snprintf(first, sizeof first, "%s", r->body);
    tl_resp_free(r);
    r = req("POST", "/backups", srv->admin_token, body, "Idempotency-Key: bk-1", NULL);
    tl_expect_status(r, 201);
    assert_true(replayed(r));
    assert_string_equal(r->body, first);
    tl_resp_free(r);
    assert_int_equal(tl_db_count("SELECT count(*) FROM backups WHERE device_id = $1", d.id, NULL),
                     1);
    /* 20 identical restores at once: one job. */
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id, d.id);
    run_storm("POST", "/restores", srv->admin_token, body, "storm-restore", 202, first);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM restores WHERE backup_id = $1", backup_id, NULL), 1);
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                                 "action = 'createRestore'",
                                 d.id, NULL),
                     1);
    /* And once more afterwards: the same answer, replayed. */
    snprintf(h, sizeof h, "Idempotency-Key: storm-restore");
    r = req("POST", "/restores", srv->admin_token, body, h, NULL);
    tl_expect_status(r, 202);
    assert_true(replayed(r));
    snprintf(again, sizeof again, "%s", r->body);
    assert_string_equal(again, first);
    tl_resp_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_changes_on_every_write),
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_if_match_race),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_idem_add_replay_and_conflict),
        cmocka_unit_test(test_idem_bad_keys),
        cmocka_unit_test(test_idem_in_flight_expired_abandoned),
        cmocka_unit_test(test_idem_storm_assets),
        cmocka_unit_test(test_idem_storm_restores),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
