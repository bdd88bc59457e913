/* Reliability: what a hostile or careless client could break, each found by probing the running
 * service from outside (issue "Reliability II"), each checked here over HTTP.
 *
 * - The audit never loses an event to input: refusals whose groupId is invalid UTF-8 or far too
 *   long, sent by one app while another app reads secrets, leave every event of both in
 *   GET /audit (the refused groupId recorded as a keyed hash).
 * - Uninstall is atomic against adds: adds racing an uninstall are either removed by it or
 *   refused (401); after reinstalling, the app has no non-persistent asset left.
 * - Ids have one canonical form: an uppercase device or backup id works as its lowercase form
 *   (backup of the device, same-device restore, a device token on its own id).
 * - Client mistakes (a parameter name that is not UTF-8 or 600 bytes long, an unknown JSON key
 *   of 300 multibyte characters) are 400 with a problem+json naming the field safely, never 503.
 * - SIGHUP, SIGUSR1 and SIGUSR2 neither kill nor stop `serve` or `worker`; SIGTERM still stops
 *   them cleanly. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=1", "ASSETD_LOG_REQUESTS=0", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- the audit under hostile refusals ---- */

#define READS 40
#define HOSTILE 20

typedef struct {
    const char *token;
    const char *const *paths; /* NULL-terminated; each sent `rounds` times */
    int rounds;
    int sent;
} sender;

static void *send_main(void *arg)
{
    sender *s = arg;
    for (int i = 0; i < s->rounds; i++)
        for (const char *const *p = s->paths; *p; p++) {
            tl_resp *r = tl_http(srv, "GET", *p, s->token, NULL);
            if (r->status != 0)
                s->sent++;
            tl_resp_free(r);
        }
    return NULL;
}

/* Events of the audit log for device id with this action (and outcome when not NULL), and
 * whether each owner starts with owner_prefix. */
static int count_events(const char *device_id, const char *action, const char *outcome,
                        const char *owner_prefix, int *bad_owner)
{
    char cursor[512] = "", path[1200], enc[1600];
    int n = 0;
    *bad_owner = 0;
    for (int page = 0; page < 10000; page++) {
        if (cursor[0])
            tl_pathf(path, sizeof path, "/audit?limit=1000&cursor=%s",
                     tl_urlenc(enc, sizeof enc, cursor));
        else
            tl_pathf(path, sizeof path, "/audit?limit=1000");
        tl_resp *r = tl_http(srv, "GET", path, srv->admin_token, NULL);
        tl_expect_status(r, 200);
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(r->json, "events"), i, ev)
        {
            const char *dev = tl_jstr(ev, "deviceId"), *act = tl_jstr(ev, "action"),
                       *out = tl_jstr(ev, "outcome"), *owner = tl_jstr(ev, "owner");
            if (!dev || strcmp(dev, device_id) != 0 || !act || strcmp(act, action) != 0)
                continue;
            if (outcome && (!out || strcmp(out, outcome) != 0))
                continue;
            n++;
            if (owner_prefix && (!owner || strncmp(owner, owner_prefix, strlen(owner_prefix))))
                ++*bad_owner;
        }
        const char *next = tl_jstr(r->json, "nextCursor");
        if (!next) {
            tl_resp_free(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        tl_resp_free(r);
    }
    return n;
}

static void test_audit_survives_hostile_refusals(void **st)
{
    (void)st;
    tl_device da, db;
    char id_a[64], id_b[64];
    tl_app a = tl_fresh_app(srv, tl_unique(id_a, sizeof id_a, "com.example.hostile"), &da);
    tl_app b = tl_fresh_app(srv, tl_unique(id_b, sizeof id_b, "com.example.victim"), &db);
    json_decref(tl_asset_add(srv, b.token, "{\"alias\":\"s1\",\"secret\":\"c2VjcmV0\"}"));

    /* Refused secret reads whose groupId no text column takes: not UTF-8, and 400 bytes. */
    static char long_group[600];
    strcpy(long_group, "/assets/k?returnType=ALL&groupId=");
    memset(long_group + strlen(long_group), 'g', 400);
    const char *const hostile[] = {"/assets/k?returnType=ALL&groupId=%ff",
                                   "/assets/k?returnType=ALL&groupId=%c3%28xxxxxx", long_group,
                                   NULL};
    const char *const reads[] = {"/assets/s1?returnType=ALL", NULL};
    sender sa = {a.token, hostile, HOSTILE, 0}, sb = {b.token, reads, READS, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, send_main, &sa);
    pthread_create(&tb, NULL, send_main, &sb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(sa.sent, 3 * HOSTILE);
    assert_int_equal(sb.sent, READS);

    /* The writer batches in the background: poll, bounded, until every event is there. */
    int got_a = 0, got_b = 0, bad_a = 0, bad_b = 0;
    for (double until = tl_now_ms() + 15000; tl_now_ms() < until;) {
        got_a = count_events(da.id, "getAsset", "INVALID_ARGUMENT", "group-hash:", &bad_a);
        got_b = count_events(db.id, "getAsset", "ok", "app:", &bad_b);
        if (got_a >= 3 * HOSTILE && got_b >= READS)
            break;
        tl_sleep_ms(200);
    }
    assert_int_equal(got_b, READS);
    assert_int_equal(got_a, 3 * HOSTILE);
    assert_int_equal(bad_a, 0); /* the refused groupId is recorded as a hash, never as text */
    assert_int_equal(bad_b, 0);
}

/* ---- uninstall racing adds ---- */

#define RACERS 8

typedef struct {
    int index, round;
    char auth[200];
    volatile int *stop;
    int added, refused, other;
    char other_detail[300];
} racer;

static void *race_main(void *arg)
{
    racer *r = arg;
    char body[200];
    for (int n = 0; !*r->stop && n < 100000; n++) {
        snprintf(body, sizeof body, "{\"alias\":\"race-%d-%d-%d\",\"secret\":\"cmFjZQ==\"}",
                 r->round, r->index, n);
        tl_resp *resp = tl_http_raw(srv, "POST", "/assets", r->auth, body, strlen(body), NULL);
        if (resp->status == 201) {
            r->added++;
        } else if (resp->status == 401) {
            r->refused++;
            tl_resp_free(resp);
            break; /* the token is gone: the uninstall committed */
        } else {
            if (!r->other++)
                snprintf(r->other_detail, sizeof r->other_detail, "%ld %.200s", resp->status,
                         resp->body);
        }
        tl_resp_free(resp);
    }
    return NULL;
}

static void test_uninstall_racing_adds_leaves_nothing(void **st)
{
    (void)st;
    tl_device d = tl_device_create(srv, NULL, NULL);
    char app[64];
    tl_unique(app, sizeof app, "com.example.race");
    for (int round = 0; round < 3; round++) {
        tl_app a = tl_app_install(srv, d.id, app, NULL, false);
        volatile int stop = 0;
        racer rs[RACERS];
        pthread_t th[RACERS];
        memset(rs, 0, sizeof rs);
        for (int i = 0; i < RACERS; i++) {
            rs[i].index = i;
            rs[i].round = round;
            rs[i].stop = &stop;
            snprintf(rs[i].auth, sizeof rs[i].auth, "Bearer %s", a.token);
            pthread_create(&th[i], NULL, race_main, &rs[i]);
        }
        tl_sleep_ms(150); /* adds in full flow */
        tl_app_uninstall(srv, d.id, app);
        tl_sleep_ms(300);
        stop = 1;
        int added = 0, refused = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            if (rs[i].other)
                fail_msg("racer %d: unexpected answer %s", i, rs[i].other_detail);
            added += rs[i].added;
            refused += rs[i].refused;
        }
        assert_true(added > 0);            /* the race happened: adds before the uninstall */
        assert_int_equal(refused, RACERS); /* and every racer was cut off by it */
        /* Reinstalled, the app finds none of its non-persistent assets. */
        tl_app again = tl_app_install(srv, d.id, app, NULL, false);
        char out[256];
        tl_list(srv, again.token, "", out, sizeof out);
        assert_string_equal(out, "404");
        assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                     "owner = $2",
                                     d.id, app, NULL),
                         0);
        tl_app_uninstall(srv, d.id, app);
    }
}

/* ---- one canonical form of every id ---- */

static void upper(char *out, const char *in)
{
    size_t i = 0;
    for (; in[i]; i++)
        out[i] = (in[i] >= 'a' && in[i] <= 'f') ? (char)(in[i] - 'a' + 'A') : in[i];
    out[i] = 0;
}

static void test_uppercase_ids_are_the_same_ids(void **st)
{
    (void)st;
    char acct[64], app[64], dev_up[64], backup_up[64], body[400];
    tl_unique(acct, sizeof acct, "acct-upper");
    tl_device d = tl_device_create(srv, "upper", acct);
    tl_app a =
        tl_app_install(srv, d.id, tl_unique(app, sizeof app, "com.example.upper"), NULL, false);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"u1\",\"secret\":\"dXBwZXI=\",\"syncType\":[\"THIS_DEVICE\"]}"));
    upper(dev_up, d.id);
    assert_string_not_equal(dev_up, d.id);

    /* The device's own token on its own id, written in uppercase. */
    tl_resp *r = tl_httpf(srv, "GET", d.token, NULL, "/devices/%s", dev_up);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "id"), d.id);
    tl_resp_free(r);

    /* A backup of the device named in uppercase: its records open (no DATA_CORRUPTED). */
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", dev_up);
    r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    tl_expect_status(r, 201);
    assert_string_equal(tl_jstr(r->json, "deviceId"), d.id);
    assert_int_equal(tl_jint(r->json, "recordCount"), 1);
    upper(backup_up, tl_jstr(r->json, "id"));
    tl_resp_free(r);

    /* A same-device restore named in uppercase is a same-device restore: THIS_DEVICE records
     * take part. */
    char id[64];
    tl_restore_create(srv, srv->admin_token, backup_up, dev_up, id);
    json_t *done = tl_restore_wait(srv, srv->admin_token, id, 20000);
    assert_non_null(done);
    assert_string_equal(tl_jstr(done, "status"), "done");
    assert_int_equal(tl_jint(done, "total"), 1);
    assert_int_equal(tl_jint(done, "accepted"), 1);
    json_decref(done);
}

/* ---- client mistakes are 400, named safely ---- */

/* A problem whose detail is valid JSON text (tl_expect_problem parses it) and short. */
static void expect_clear_400(tl_resp *r, const char *name)
{
    tl_expect_problem(r, 400, name);
    assert_true(strlen(tl_jstr(r->json, "detail")) < 512);
    tl_resp_free(r);
}

static void test_client_mistakes_are_400(void **st)
{
    (void)st;
    tl_device d;
    char app[64], path[2000], body[2000];
    tl_app a = tl_fresh_app(srv, tl_unique(app, sizeof app, "com.example.mistakes"), &d);

    expect_clear_400(tl_http(srv, "GET", "/assets?%ff=1", a.token, NULL), "INVALID_ARGUMENT");
    char name[700];
    memset(name, 'p', 600);
    name[600] = 0;
    tl_pathf(path, sizeof path, "/assets?%s=1", name);
    expect_clear_400(tl_http(srv, "GET", path, a.token, NULL), "INVALID_ARGUMENT");
    expect_clear_400(tl_http(srv, "GET", "/sync-result?%ff=1", a.token, NULL),
                     "PARAM_VERIFICATION_FAILED");
    tl_pathf(path, sizeof path, "/sync-result?%s=1", name);
    expect_clear_400(tl_http(srv, "GET", path, a.token, NULL), "PARAM_VERIFICATION_FAILED");

    /* An unknown key of 300 two-byte characters: cut on a character boundary, if at all. */
    char key[700] = "";
    for (int i = 0; i < 300; i++)
        strcat(key, "\xc3\xa9");
    snprintf(body, sizeof body, "{\"alias\":\"m1\",\"secret\":\"bTE=\",\"%s\":1}", key);
    expect_clear_400(tl_http(srv, "POST", "/assets", a.token, body), "INVALID_ARGUMENT");
    snprintf(body, sizeof body, "{\"alias\":\"m1\",\"%s\":1}", key);
    expect_clear_400(tl_http(srv, "POST", "/assets/pre-query", a.token, body), "INVALID_ARGUMENT");
    snprintf(body, sizeof body, "{\"name\":\"n\",\"%s\":1}", key);
    expect_clear_400(tl_http(srv, "POST", "/devices", srv->admin_token, body), "INVALID_ARGUMENT");
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL),
                     0);
}

/* ---- signals ---- */

static void test_hup_and_usr_signals_do_not_stop(void **st)
{
    (void)st;
    tl_server *s2 = tl_server_start(NULL);
    tl_proc *w = tl_worker_start(s2, NULL);
    tl_sleep_ms(300);
    const int sigs[] = {SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        tl_proc_signal(s2->proc, sigs[i]);
        tl_proc_signal(w, sigs[i]);
    }
    tl_sleep_ms(300);
    assert_true(tl_proc_running(s2->proc));
    assert_true(tl_proc_running(w));
    tl_req_status(s2, "GET", "/healthz", NULL, NULL, 200);
    tl_req_status(s2, "GET", "/readyz", NULL, NULL, 200);
    assert_true(tl_proc_log_count(s2->proc, "signal ignored") > 0);
    assert_true(tl_proc_log_count(w, "signal ignored") > 0);
    assert_int_equal(tl_proc_stop(w), 0);
    assert_int_equal(tl_server_stop(s2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_survives_hostile_refusals),
        cmocka_unit_test(test_uninstall_racing_adds_leaves_nothing),
        cmocka_unit_test(test_uppercase_ids_are_the_same_ids),
        cmocka_unit_test(test_client_mistakes_are_400),
        cmocka_unit_test(test_hup_and_usr_signals_do_not_stop),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
