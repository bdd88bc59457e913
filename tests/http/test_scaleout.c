/* HTTP black-box tests: scale-out (issue 7). Two `assetd serve` instances on different ports share
 * one database and one master key, with no in-process sync workers, and two `assetd worker`
 * processes run the restores. Whatever instance a request goes to, the answer is the same: adds
 * through both, reads across them, one alias added through both at once, device state and user
 * authentication challenges seen by both, a restore created through one and polled through the
 * other; a principal remembered by one instance is checked against every change made through the
 * other (state, token rotation, uninstall, device removal). A worker that gets SIGTERM in the
 * middle of a job hands it back at once: the other worker finishes it long before the lease (30 s)
 * would have run out, and the stopped worker exits 0. */
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/testlib.h"

static tl_server *s1, *s2;
static char admin_kv[128];

static int setup(void **st)
{
    (void)st;
    char tok[64];
    if (sodium_init() < 0)
        return -1;
    /* One configuration for both instances: the same admin token (the database and the master
     * key are shared by testlib already). */
    snprintf(admin_kv, sizeof admin_kv, "ASSETD_ADMIN_TOKEN=%s", tl_random_token(tok));
    /* Both remember principals (on by default; set here so that these tests prove that a change
     * made through one instance is seen at once by the other whatever the default). */
    /* A job is cut into chunks by the instance that creates it (ASSETD_RESTORE_BATCH is read
     * there, not by the workers): small ones, so that the workers share a job and one can be
     * caught in the middle of it. */
    const char *const env[] = {"ASSETD_SYNC_WORKERS=0", "ASSETD_AUTH_CACHE_MS=3600000",
                               "ASSETD_RESTORE_BATCH=10", admin_kv, NULL};
    s1 = tl_server_start(env);
    s2 = tl_server_start(env);
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

/* Workers of the running test; the per-test teardown kills those a failed test left behind. */
static tl_proc *g_workers[2];

static int kill_leftover_workers(void **st)
{
    (void)st;
    for (int k = 0; k < 2; k++) {
        if (g_workers[k])
            tl_proc_kill9(g_workers[k]);
        g_workers[k] = NULL;
    }
    return 0;
}

static int stop_worker(int k)
{
    tl_proc *p = g_workers[k];
    g_workers[k] = NULL;
    return tl_proc_stop(p);
}

static void expect_secret(const tl_server *s, const char *token, const char *alias,
                          const char *extra, const char *want)
{
    char got[256];
    tl_get_secret(s, token, alias, extra, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s on %s: secret \"%s\", want \"%s\"", alias, s->base_url, got, want);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort a comma-joined list in place (adds from several threads interleave). */
static char *sort_list(char *list)
{
    char *items[4096], *save = NULL, copy[65536];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", list);
    for (char *t = strtok_r(copy, ",", &save); t && n < 4096; t = strtok_r(NULL, ",", &save))
        items[n++] = t;
    qsort(items, n, sizeof *items, cmp_str);
    char *p = list;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", items[i]);
    return list;
}

/* ---- concurrent adds ------------------------------------------------------------------------ */

typedef struct {
    const tl_server *s;
    const char *token;
    const char *prefix;
    int from, to;
    const char *sync_json;
    atomic_int *failures;
    char first_error[512];
} add_job;

static void *add_thread(void *arg)
{
    add_job *j = arg;
    char body[512], secret[96], b64[160];
    for (int i = j->from; i < j->to; i++) {
        snprintf(secret, sizeof secret, "%s-secret-%d", j->prefix, i);
        snprintf(body, sizeof body,
                 "{\"alias\":\"%s-%04d\",\"secret\":\"%s\",\"syncType\":%s,"
                 "\"accessibility\":\"%s\"}",
                 j->prefix, i, tl_b64(b64, sizeof b64, secret, strlen(secret)), j->sync_json,
                 i % 5 == 0 ? "DEVICE_UNLOCKED" : "DEVICE_POWERED_ON");
        tl_resp *r = tl_http(j->s, "POST", "/assets", j->token, body);
        if (r->status == 0) { /* once more after a transport error */
            tl_resp_free(r);
            r = tl_http(j->s, "POST", "/assets", j->token, body);
        }
        if (r->status != 201 && atomic_fetch_add(j->failures, 1) == 0)
            snprintf(j->first_error, sizeof j->first_error, "%s add %s-%04d: %ld %s",
                     j->s->base_url, j->prefix, i, r->status, r->body);
        tl_resp_free(r);
    }
    return NULL;
}

/* Adds prefix-0000 .. prefix-(n-1) for each (server, token, prefix), all at once, split over
 * `per` threads each. */
static void add_concurrently(int nsets, const tl_server *const *servers, const char *const *tokens,
                             const char *const *prefixes, int n, int per, const char *sync_json)
{
    atomic_int failures = 0;
    add_job jobs[16];
    pthread_t th[16];
    int nj = 0;
    assert_true(nsets * per <= 16);
    for (int s = 0; s < nsets; s++)
        for (int k = 0; k < per; k++) {
            jobs[nj] = (add_job){servers[s],        tokens[s], prefixes[s], n * k / per,
                                 n * (k + 1) / per, sync_json, &failures,   ""};
            assert_int_equal(pthread_create(&th[nj], NULL, add_thread, &jobs[nj]), 0);
            nj++;
        }
    for (int k = 0; k < nj; k++)
        pthread_join(th[k], NULL);
    if (atomic_load(&failures))
        for (int k = 0; k < nj; k++)
            if (jobs[k].first_error[0])
                fail_msg("%d adds failed; %s", atomic_load(&failures), jobs[k].first_error);
}

/* One alias added through both instances at the same moment. */
typedef struct {
    const tl_server *s;
    const char *token;
    const char *alias;
    const char *secret;
    pthread_barrier_t *go;
    long status;
} race_job;

static void *race_thread(void *arg)
{
    race_job *j = arg;
    char body[256], b64[96];
    snprintf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"%s\"}", j->alias,
             tl_b64(b64, sizeof b64, j->secret, strlen(j->secret)));
    pthread_barrier_wait(j->go);
    tl_resp *r = tl_http(j->s, "POST", "/assets", j->token, body);
    j->status = r->status;
    if (r->status == 409 &&
        (!tl_jstr(r->json, "name") || strcmp(tl_jstr(r->json, "name"), "DUPLICATED") != 0))
        j->status = -409;
    tl_resp_free(r);
    return NULL;
}

/* ---- devices with a user-auth key ------------------------------------------------------------ */

typedef struct {
    tl_device d;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
} auth_device;

static auth_device device_with_key(const tl_server *s, const char *name, const char *account)
{
    auth_device a;
    char pk64[64];
    memset(&a, 0, sizeof a);
    crypto_sign_keypair(a.pk, a.sk);
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", name, "accountId", account,
                             "userAuthPublicKey", tl_b64(pk64, sizeof pk64, a.pk, sizeof a.pk));
    tl_resp *r = tl_http_json(s, "POST", "/devices", s->admin_token, body);
    tl_expect_status(r, 201);
    snprintf(a.d.id, sizeof a.d.id, "%s", tl_jstr(r->json, "id"));
    snprintf(a.d.token, sizeof a.d.token, "%s", tl_jstr(r->json, "deviceToken"));
    tl_resp_free(r);
    return a;
}

/* base64 Ed25519 signature over challenge || appId. */
static char *sign_challenge(char *out, size_t n, const auth_device *dev, const char *challenge_b64,
                            const char *app_id)
{
    unsigned char msg[32 + 300], sig[crypto_sign_BYTES];
    size_t app_len = strlen(app_id);
    assert_true(app_len <= 300);
    assert_int_equal(tl_b64_decode(msg, 32, challenge_b64), 32);
    memcpy(msg + 32, app_id, app_len);
    crypto_sign_detached(sig, NULL, msg, 32 + app_len, dev->sk);
    return tl_b64(out, n, sig, sizeof sig);
}

/* ---- restores ------------------------------------------------------------------------------ */

static void backup_of(const tl_server *s, const char *device_id, long count, char *id, size_t n)
{
    char body[128], auth[128];
    tl_http_opts o = {.timeout_ms = tl_scaled_ms(60000)};
    tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", device_id);
    tl_resp *r =
        tl_http_raw(s, "POST", "/backups", tl_pathf(auth, sizeof auth, "Bearer %s", s->admin_token),
                    body, strlen(body), &o);
    tl_expect_status(r, 201);
    assert_int_equal(tl_jint(r->json, "recordCount"), count);
    snprintf(id, n, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

static void restore_onto(const tl_server *s, const char *backup_id, const char *target, long total,
                         char *id, size_t n)
{
    char body[256];
    tl_resp *r =
        tl_http(s, "POST", "/restores", s->admin_token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         backup_id, target));
    tl_expect_status(r, 202);
    assert_int_equal(tl_jint(r->json, "total"), total);
    snprintf(id, n, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

static json_t *get_restore(const tl_server *s, const char *token, const char *id)
{
    char path[128];
    tl_resp *r = tl_http(s, "GET", tl_pathf(path, sizeof path, "/restores/%s", id), token, NULL);
    tl_expect_status(r, 200);
    if (strcmp(tl_jstr(r->json, "status"), "failed") == 0)
        fail_msg("restore %s failed: %s", id, r->body);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    return j;
}

static json_t *wait_done(const tl_server *s, const char *token, const char *id, int timeout_ms)
{
    double end = tl_now_ms() + timeout_ms;
    for (;;) {
        json_t *j = get_restore(s, token, id);
        if (strcmp(tl_jstr(j, "status"), "done") == 0)
            return j;
        if (tl_now_ms() > end) {
            char *d = json_dumps(j, 0);
            fail_msg("restore %s not done in %d ms: %s", id, timeout_ms, d);
        }
        json_decref(j);
        tl_sleep_ms(10);
    }
}

static void expect_counts(const json_t *j, long total, long accepted, long unlocked)
{
    json_t *f = json_object_get(j, "failures");
    if (tl_jint(j, "total") != total || tl_jint(j, "processed") != total ||
        tl_jint(j, "accepted") != accepted || tl_jint(j, "failed") != total - accepted ||
        tl_jint(f, "unlocked") != unlocked || tl_jint(f, "password") != 0 ||
        tl_jint(f, "user_auth") != 0 || tl_jint(f, "first_unlock") != 0) {
        char *d = json_dumps(j, 0);
        fail_msg("want total=processed=%ld accepted=%ld unlocked=%ld, got %s", total, accepted,
                 unlocked, d);
    }
}

static void expect_sync_result(const tl_server *s, const char *token, long total, long failed,
                               const char *restore_id)
{
    tl_resp *r = tl_http(s, "GET", "/sync-result", token, NULL);
    tl_expect_status(r, 200);
    if (tl_jint(r->json, "totalCount") != total || tl_jint(r->json, "failedCount") != failed ||
        tl_jint(r->json, "resultCode") != (failed ? 24000005 : 0) ||
        !tl_jstr(r->json, "restoreId") || strcmp(tl_jstr(r->json, "restoreId"), restore_id) != 0 ||
        !tl_jstr(r->json, "finishedAt"))
        fail_msg("%s GET /sync-result: want total=%ld failed=%ld restoreId=%s, got %s", s->base_url,
                 total, failed, restore_id, r->body);
    tl_resp_free(r);
}

static const char *const WORKER_ENV[] = {"ASSETD_LEASE_SECONDS=30", "ASSETD_RESTORE_BATCH=50",
                                         NULL};

/* ---- the tests --------------------------------------------------------------------------------
 */

#define N_EACH 150

static void test_two_instances_one_database(void **st)
{
    (void)st;
    char acct[64], list[8192], want[8192], path[512];
    tl_unique(acct, sizeof acct, "acct-scale");
    assert_int_not_equal(s1->port, s2->port);
    auth_device old_dev = device_with_key(s1, "old", acct);
    tl_device new_dev = tl_device_create(s2, "new", acct);
    /* App A on OLD through instance 1, app B through instance 2; on NEW the other way round. */
    tl_app old_a = tl_app_install(s1, old_dev.d.id, "com.example.scale-a", NULL, false);
    tl_app old_b = tl_app_install(s2, old_dev.d.id, "com.example.scale-b", NULL, false);
    tl_app new_a = tl_app_install(s2, new_dev.id, "com.example.scale-a", NULL, false);
    tl_app new_b = tl_app_install(s1, new_dev.id, "com.example.scale-b", NULL, false);
    /* Installed through one instance, known to the other: a second install is a duplicate. */
    tl_req_problem(s2, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", old_dev.d.id),
                   s2->admin_token, "{\"appId\":\"com.example.scale-a\"}", 409, "DUPLICATED");

    /* Interleaved adds: A through instance 1 while B goes through instance 2. */
    const tl_server *servers[] = {s1, s2};
    const char *tokens[] = {old_a.token, old_b.token};
    const char *prefixes[] = {"a", "b"};
    add_concurrently(2, servers, tokens, prefixes, N_EACH, 2, "[\"TRUSTED_DEVICE\"]");

    /* Reads across instances: each app's assets (in any order: the adds ran in parallel), through
     * the other instance and through its own. */
    char *p = want;
    for (int i = 0; i < N_EACH; i++)
        p += sprintf(p, "%sa-%04d", i ? "," : "", i);
    assert_string_equal(sort_list(tl_list(s2, old_a.token, "", list, sizeof list)), want);
    assert_string_equal(sort_list(tl_list(s1, old_a.token, "", list, sizeof list)), want);
    p = want;
    for (int i = 0; i < N_EACH; i++)
        p += sprintf(p, "%sb-%04d", i ? "," : "", i);
    assert_string_equal(sort_list(tl_list(s1, old_b.token, "", list, sizeof list)), want);
    for (int i = 0; i < N_EACH; i += 7) {
        char alias[32], secret[64];
        snprintf(alias, sizeof alias, "a-%04d", i);
        snprintf(secret, sizeof secret, "a-secret-%d", i);
        expect_secret(s2, old_a.token, alias, NULL, secret);
        snprintf(alias, sizeof alias, "b-%04d", i);
        snprintf(secret, sizeof secret, "b-secret-%d", i);
        expect_secret(s1, old_b.token, alias, NULL, secret);
    }
    /* An app never sees the other's assets, through either instance. */
    tl_req_problem(s1, "GET", "/assets/a-0001", old_b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(s2, "GET", "/assets/b-0001", old_a.token, NULL, 404, "NOT_FOUND");

    /* One alias added through both instances at the same moment: exactly one wins. */
    pthread_barrier_t go;
    for (int k = 0; k < 20; k++) {
        char alias[32];
        snprintf(alias, sizeof alias, "race-%02d", k);
        pthread_barrier_init(&go, NULL, 2);
        race_job r1 = {s1, old_a.token, alias, "via-one", &go, 0};
        race_job r2 = {s2, old_a.token, alias, "via-two", &go, 0};
        pthread_t t1, t2;
        assert_int_equal(pthread_create(&t1, NULL, race_thread, &r1), 0);
        assert_int_equal(pthread_create(&t2, NULL, race_thread, &r2), 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&go);
        if (!((r1.status == 201 && r2.status == 409) || (r1.status == 409 && r2.status == 201)))
            fail_msg("%s added through both instances at once: %ld and %ld (want one 201 and one "
                     "409 DUPLICATED)",
                     alias, r1.status, r2.status);
        expect_secret(s1, old_a.token, alias, NULL, r1.status == 201 ? "via-one" : "via-two");
        expect_secret(s2, old_a.token, alias, NULL, r1.status == 201 ? "via-one" : "via-two");
    }

    tl_device_set_state(s1, old_dev.d.id, true, false, true);

    /* A user-authentication challenge made through one instance is good on the other, and ended
     * through the other it is ended for both. */
    char b64[128], body[1024], sig[128], challenge[64];
    json_decref(tl_asset_addf(s1, old_a.token,
                              "{\"alias\":\"gated\",\"secret\":\"%s\",\"authType\":\"ANY\","
                              "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              tl_b64(b64, sizeof b64, "gated-secret", 12)));
    tl_resp *r = tl_http(s1, "POST", "/assets/pre-query", old_a.token, "{\"alias\":\"gated\"}");
    tl_expect_status(r, 200);
    snprintf(challenge, sizeof challenge, "%s", tl_jstr(r->json, "challenge"));
    tl_resp_free(r);
    sign_challenge(sig, sizeof sig, &old_dev, challenge, old_a.app_id);
    tl_pathf(body, sizeof body,
             "{\"alias\":\"gated\",\"authChallenge\":\"%s\",\"authToken\":\"%s\"}", challenge, sig);
    r = tl_http(s2, "POST", "/assets/query", old_a.token, body);
    tl_expect_status(r, 200);
    json_t *arr = json_object_get(r->json, "assets");
    assert_int_equal(json_array_size(arr), 1);
    char got[64];
    long len = tl_b64_decode(got, sizeof got - 1, tl_jstr(json_array_get(arr, 0), "secret"));
    assert_int_equal(len, 12);
    got[len] = 0;
    assert_string_equal(got, "gated-secret");
    tl_resp_free(r);
    tl_req_status(s1, "POST", "/assets/query", old_a.token, body, 200);
    char end_body[128];
    tl_pathf(end_body, sizeof end_body, "{\"authChallenge\":\"%s\"}", challenge);
    tl_req_status(s2, "POST", "/assets/post-query", old_a.token, end_body, 204);
    tl_req_problem(s1, "POST", "/assets/query", old_a.token, body, 403, "ACCESS_DENIED");
    tl_req_problem(s2, "POST", "/assets/query", old_a.token, body, 403, "ACCESS_DENIED");

    /* Backup and restore: created through instance 1, polled through instance 2, run by two
     * worker processes. OLD is locked when the backup is taken, so the DEVICE_UNLOCKED fifth of
     * the assets is refused. */
    g_workers[0] = tl_worker_start(s1, WORKER_ENV);
    g_workers[1] = tl_worker_start(s2, WORKER_ENV);
    tl_device_set_state(s1, old_dev.d.id, true, true, true);
    /* In the backup: both apps' assets and "gated" (the race-* ones have syncType []). */
    long records = 2 * N_EACH + 1, unlocked = 2 * ((N_EACH + 4) / 5);
    char bid[64], rid[64];
    backup_of(s1, old_dev.d.id, records, bid, sizeof bid);
    restore_onto(s1, bid, new_dev.id, records, rid, sizeof rid);
    json_t *j = wait_done(s2, new_dev.token, rid, tl_scaled_ms(30000));
    expect_counts(j, records, records - unlocked, unlocked);
    json_decref(j);
    j = get_restore(s2, s2->admin_token, rid);
    expect_counts(j, records, records - unlocked, unlocked);
    json_decref(j);
    j = get_restore(s1, new_dev.token, rid);
    expect_counts(j, records, records - unlocked, unlocked);
    json_decref(j);

    /* NEW, through both instances. */
    for (int i = 0; i < N_EACH; i++) {
        char alias[32], secret[64];
        const tl_server *s = i % 2 ? s1 : s2;
        for (int app = 0; app < 2; app++) {
            const char *tok = app ? new_b.token : new_a.token;
            snprintf(alias, sizeof alias, "%s-%04d", app ? "b" : "a", i);
            if (i % 5 == 0) {
                tl_resp *q = tl_httpf(s, "GET", tok, NULL, "/assets/%s", alias);
                tl_expect_problem(q, 404, "NOT_FOUND");
                tl_resp_free(q);
            } else if (i % 3 == 0) {
                snprintf(secret, sizeof secret, "%s-secret-%d", app ? "b" : "a", i);
                expect_secret(s, tok, alias, NULL, secret);
            }
        }
    }
    expect_sync_result(s1, new_a.token, N_EACH + 1, (N_EACH + 4) / 5, rid);
    expect_sync_result(s2, new_a.token, N_EACH + 1, (N_EACH + 4) / 5, rid);
    expect_sync_result(s2, new_b.token, N_EACH, (N_EACH + 4) / 5, rid);
    expect_sync_result(s1, new_b.token, N_EACH, (N_EACH + 4) / 5, rid);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", new_dev.id, NULL),
        records - unlocked);
    assert_int_equal(stop_worker(0), 0);
    assert_int_equal(stop_worker(1), 0);
}

/* A committed change made through one instance holds at once on the other (§6, §2, §9: a 2xx
 * answer means committed). Each read through the other instance is first made while the old
 * state holds, so that anything that instance might remember is fresh. */
static void test_state_across_instances(void **st)
{
    (void)st;
    char b64[64];
    tl_device dev = tl_device_create(s1, "state", NULL);
    tl_app a = tl_app_install(s1, dev.id, "com.example.state-a", NULL, false);
    json_decref(tl_asset_addf(s1, a.token,
                              "{\"alias\":\"unl\",\"secret\":\"%s\",\"accessibility\":"
                              "\"DEVICE_UNLOCKED\"}",
                              tl_b64(b64, sizeof b64, "unl-secret", 10)));
    json_decref(tl_asset_addf(s1, a.token,
                              "{\"alias\":\"on\",\"secret\":\"%s\",\"accessibility\":"
                              "\"DEVICE_POWERED_ON\"}",
                              tl_b64(b64, sizeof b64, "on-secret", 9)));
    tl_device_set_state(s1, dev.id, true, false, true);

    /* Locked through instance 2: instance 1 refuses the secret right away. */
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
    tl_device_set_state(s2, dev.id, true, true, true);
    tl_req_problem(s2, "GET", "/assets/unl?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_req_problem(s1, "GET", "/assets/unl?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    expect_secret(s1, a.token, "on", NULL, "on-secret"); /* DEVICE_POWERED_ON: always */
    /* Unlocked through instance 1: instance 2 hands it out again right away. */
    tl_device_set_state(s1, dev.id, true, false, true);
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
    expect_secret(s2, a.token, "unl", NULL, "unl-secret");
}

/* An uninstall through one instance revokes the installation's token on the other at once. */
static void test_revocation_across_instances(void **st)
{
    (void)st;
    tl_device dev = tl_device_create(s1, "revoke", NULL);
    tl_app a = tl_app_install(s1, dev.id, "com.example.revoke-a", NULL, false);
    tl_app b = tl_app_install(s1, dev.id, "com.example.revoke-b", NULL, false);
    tl_req_status(s1, "GET", "/sync-result", b.token, NULL, 200);
    tl_req_status(s2, "GET", "/sync-result", b.token, NULL, 200);
    tl_app_uninstall(s2, dev.id, b.app_id);
    tl_req_problem(s2, "GET", "/sync-result", b.token, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(s1, "GET", "/sync-result", b.token, NULL, 401, "PERMISSION_DENIED");
    tl_req_status(s1, "GET", "/sync-result", a.token, NULL, 200);
}

/* POST /devices/{id}/apps/{app}/token as admin through s: the new token into out (128). */
static void rotate_app_token(const tl_server *s, const char *device_id, const char *app_id,
                             char *out)
{
    char path[512];
    tl_resp *r = tl_http(
        s, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps/%s/token", device_id, app_id),
        s->admin_token, NULL);
    tl_expect_status(r, 200);
    assert_non_null(tl_jstr(r->json, "token"));
    snprintf(out, 128, "%s", tl_jstr(r->json, "token"));
    tl_resp_free(r);
}

/* An installation with one asset "k" (secret "<app>-secret"), its principal remembered by s1. */
static tl_app warm_app(const tl_device *dev, const char *app_id)
{
    char b64[128], secret[128];
    tl_app a = tl_app_install(s1, dev->id, app_id, NULL, false);
    snprintf(secret, sizeof secret, "%s-secret", app_id);
    json_decref(tl_asset_addf(s1, a.token, "{\"alias\":\"k\",\"secret\":\"%s\"}",
                              tl_b64(b64, sizeof b64, secret, strlen(secret))));
    expect_secret(s1, a.token, "k", NULL, secret);
    return a;
}

/* Instance 1 remembers each principal below (its last request used it), then the change is made
 * through instance 2, and the very next request through instance 1 must see it (§6, §2, §13):
 * on the reads of GET /assets/{alias} and GET /assets, whose one statement checks the remembered
 * principal, on the 404 and 400 answers they give without a row, and on the other routes. */
static void test_remembered_principals_across_instances(void **st)
{
    (void)st;
    char b64[64], path[256], newtok[128];
    tl_device dev = tl_device_create(s1, "remembered", NULL);
    tl_app a = tl_app_install(s1, dev.id, "com.example.rem-a", NULL, false);
    json_decref(tl_asset_addf(s1, a.token,
                              "{\"alias\":\"unl\",\"secret\":\"%s\",\"accessibility\":"
                              "\"DEVICE_UNLOCKED\"}",
                              tl_b64(b64, sizeof b64, "unl-secret", 10)));
    tl_device_set_state(s1, dev.id, true, false, true);

    /* Screen locked through 2: 1 refuses the secret, the list and an add that needs it unlocked;
     * unlocked through 2: 1 hands it out again. */
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
    tl_device_set_state(s2, dev.id, true, true, true);
    tl_req_problem(s1, "GET", "/assets/unl?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_device_set_state(s2, dev.id, true, false, true);
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
    tl_device_set_state(s2, dev.id, true, true, true);
    tl_req_problem(s1, "GET", "/assets?alias=unl&returnType=ALL", a.token, NULL, 409,
                   "STATUS_MISMATCH");
    tl_device_set_state(s2, dev.id, true, false, true);
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
    tl_device_set_state(s2, dev.id, true, true, true);
    tl_req_problem(s1, "POST", "/assets", a.token,
                   "{\"alias\":\"unl2\",\"secret\":\"c2Vj\",\"accessibility\":"
                   "\"DEVICE_UNLOCKED\"}",
                   409, "STATUS_MISMATCH");
    tl_device_set_state(s2, dev.id, true, false, true);
    /* 1 remembers the screen locked: the add it would refuse on that goes through. */
    tl_req_status(s1, "POST", "/assets", a.token,
                  "{\"alias\":\"unl2\",\"secret\":\"c2Vj\",\"accessibility\":"
                  "\"DEVICE_UNLOCKED\"}",
                  201);
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");

    /* The app's token rotated through 2: the old one is 401 on 1, the new one works there. */
    tl_app b = warm_app(&dev, "com.example.rem-b");
    rotate_app_token(s2, dev.id, b.app_id, newtok);
    tl_req_problem(s1, "GET", "/assets/k?returnType=ALL", b.token, NULL, 401, "PERMISSION_DENIED");
    expect_secret(s1, newtok, "k", NULL, "com.example.rem-b-secret");

    /* Uninstalled through 2: 401 on 1 for a read that finds the asset, one that would be 404, a
     * list, a malformed request (400 otherwise) and an add. */
    const char *const reqs[][2] = {{"GET", "/assets/k?returnType=ALL"},
                                   {"GET", "/assets/missing"},
                                   {"GET", "/assets?returnType=ALL"},
                                   {"GET", "/assets/k?returnType=SOME"},
                                   {"POST", "/assets"}};
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        char app_id[64];
        snprintf(app_id, sizeof app_id, "com.example.rem-u%zu", i);
        tl_app u = warm_app(&dev, app_id);
        tl_app_uninstall(s2, dev.id, u.app_id);
        tl_req_problem(s1, reqs[i][0], reqs[i][1], u.token,
                       strcmp(reqs[i][0], "POST") == 0 ? "{\"alias\":\"n\",\"secret\":\"c2Vj\"}"
                                                       : NULL,
                       401, "PERMISSION_DENIED");
    }

    /* The device removed through 2: its app's and its own tokens are 401 on 1. */
    tl_device gone = tl_device_create(s1, "remembered-gone", NULL);
    tl_app g = warm_app(&gone, "com.example.rem-g");
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", gone.id), gone.token, NULL,
                  200);
    tl_req_status(s2, "DELETE", tl_pathf(path, sizeof path, "/devices/%s", gone.id),
                  s2->admin_token, NULL, 204);
    tl_req_problem(s1, "GET", "/assets/k?returnType=ALL", g.token, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", gone.id), gone.token, NULL,
                   401, "PERMISSION_DENIED");

    /* The device's own token rotated through 2: the old one is 401 on 1, also on a route that
     * refuses device tokens (403 while the token is valid). */
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", dev.id), dev.token, NULL,
                  200);
    tl_req_problem(s1, "GET", "/assets/k", dev.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_status(s2, "POST", tl_pathf(path, sizeof path, "/devices/%s/token", dev.id),
                  s2->admin_token, NULL, 200);
    tl_req_problem(s1, "GET", "/assets/k", dev.token, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", dev.id), dev.token, NULL,
                   401, "PERMISSION_DENIED");
    /* And the apps on it carry on. */
    expect_secret(s1, a.token, "unl", NULL, "unl-secret");
}

/* pid of "<host>:<pid>:<thread>", or 0. */
static pid_t lease_pid(const char *owner)
{
    const char *last = strrchr(owner, ':');
    if (!last || last == owner)
        return 0;
    const char *p = last - 1;
    while (p > owner && *p != ':')
        p--;
    return *p == ':' ? (pid_t)atol(p + 1) : 0;
}

static char *lease_owner(const char *rid)
{
    char *o = tl_db_dump("SELECT coalesce(lease_owner, '') FROM restores WHERE id = $1", rid, NULL);
    o[strcspn(o, "\n")] = 0;
    return o;
}

#define N_TERM 800

static void test_sigterm_hands_the_job_back(void **st)
{
    (void)st;
    char acct[64];
    tl_unique(acct, sizeof acct, "acct-term");
    tl_device old_dev = tl_device_create(s1, "old", acct);
    tl_app a1 = tl_app_install(s1, old_dev.id, "com.example.term-a", NULL, false);
    tl_app a2 = tl_app_install(s2, old_dev.id, "com.example.term-b", NULL, false);
    const tl_server *servers[] = {s1, s2};
    const char *tokens[] = {a1.token, a2.token};
    const char *prefixes[] = {"t", "u"};
    add_concurrently(2, servers, tokens, prefixes, N_TERM, 4, "[\"TRUSTED_DEVICE\"]");
    long total = 2 * N_TERM;
    char bid[64];
    backup_of(s2, old_dev.id, total, bid, sizeof bid);

    /* Small batches, so that the job is long enough to be caught in the middle. */
    static const char *const env[] = {"ASSETD_LEASE_SECONDS=30", "ASSETD_RESTORE_BATCH=10", NULL};
    g_workers[0] = tl_worker_start(s1, env);
    g_workers[1] = tl_worker_start(s2, env);

    /* The job might, on a fast machine, finish before the test sees it running: then again onto
     * a fresh device. */
    for (int attempt = 1;; attempt++) {
        char rid[64];
        tl_device new_dev = tl_device_create(s2, "new", acct);
        restore_onto(s1, bid, new_dev.id, total, rid, sizeof rid);
        double end = tl_now_ms() + tl_scaled_ms(30000);
        pid_t holder = 0;
        long processed = 0;
        bool finished_early = false;
        while (!holder) {
            json_t *j = get_restore(s2, s2->admin_token, rid);
            processed = (long)tl_jint(j, "processed");
            finished_early = strcmp(tl_jstr(j, "status"), "done") == 0;
            json_decref(j);
            if (finished_early)
                break;
            if (processed > 0) {
                char *o = lease_owner(rid);
                holder = lease_pid(o);
                free(o);
            }
            if (tl_now_ms() > end)
                fail_msg("the restore made no progress");
            if (!holder)
                tl_sleep_ms(2);
        }
        if (finished_early) {
            assert_true(attempt < 5);
            fprintf(stderr, "# attempt %d: the job finished before it was caught; again\n",
                    attempt);
            continue;
        }
        int victim = holder == g_workers[0]->pid ? 0 : holder == g_workers[1]->pid ? 1 : -1;
        if (victim < 0)
            fail_msg("the lease holder %d is none of the workers", (int)holder);
        int other = 1 - victim;
        double t_term = tl_now_ms();
        tl_proc_signal(g_workers[victim], SIGTERM);

        /* It stops promptly and cleanly... */
        int status = tl_proc_wait(g_workers[victim], tl_scaled_ms(10000));
        if (status != 0) {
            tl_proc_print_log(g_workers[victim], 50);
            fail_msg("the worker exited with %d after SIGTERM (-1: still running)", status);
        }
        double t_exit = tl_now_ms();
        assert_int_equal(stop_worker(victim), 0);
        json_t *j = get_restore(s2, s2->admin_token, rid);
        bool done_by_victim = strcmp(tl_jstr(j, "status"), "done") == 0;
        long at_exit = (long)tl_jint(j, "processed");
        json_decref(j);
        if (done_by_victim) {
            /* The job was finished (by either worker) before the victim exited: nothing was
             * handed back. Again, with the victim replaced. */
            assert_true(attempt < 5);
            g_workers[victim] = tl_worker_start(victim ? s2 : s1, env);
            continue;
        }
        /* ... having handed the job back: no lease on it, or the other worker's. */
        char *o = lease_owner(rid);
        pid_t now_holder = lease_pid(o);
        if (o[0] && now_holder != g_workers[other]->pid)
            fail_msg("after the worker's exit the lease is still \"%s\"", o);
        free(o);

        /* The other worker finishes it, well before a 30 s lease could have run out. */
        double limit = tl_is_asan() ? 20000 : 10000;
        j = wait_done(s1, new_dev.token, rid, (int)limit);
        double took = tl_now_ms() - t_term;
        fprintf(stderr,
                "# SIGTERM at processed=%ld of %ld (%ld at exit): worker exited after %.2f s, "
                "job done %.2f s after the SIGTERM (attempt %d)\n",
                processed, total, at_exit, (t_exit - t_term) / 1e3, took / 1e3, attempt);
        assert_true(took < limit);
        /* Both devices in the default state: every record is accepted, exactly once. */
        expect_counts(j, total, total, 0);
        json_decref(j);
        assert_int_equal(
            tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", new_dev.id, NULL),
            total);
        assert_true(tl_proc_running(g_workers[other]));
        break;
    }
    for (int k = 0; k < 2; k++)
        if (g_workers[k])
            assert_int_equal(stop_worker(k), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_instances_one_database, kill_leftover_workers),
        cmocka_unit_test_teardown(test_sigterm_hands_the_job_back, kill_leftover_workers),
        cmocka_unit_test(test_state_across_instances),
        cmocka_unit_test(test_revocation_across_instances),
        cmocka_unit_test(test_remembered_principals_across_instances),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
