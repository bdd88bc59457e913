/* HTTP black-box tests of spec §12: restore preview, the per-record report, retry, and the
 * backup list/delete (issue 13).
 *
 * One account, OLD and NEW devices, and a table of assets in four stores (app A's own store,
 * its requireAttrEncrypted store, a group, app B) in mixed proportions, so that one restore
 * fails every rule of §7: OLD has no lock-screen password when backed up (password and
 * user_auth fail on OLD's side, for good), NEW is locked and cold (unlocked and first_unlock
 * fail on NEW's side, which a change of NEW's state lifts). */
#include <string.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=2", "ASSETD_RESTORE_BATCH=7", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* Kinds of record, in the order of the rules they fail ("ok" last). */
enum { K_PWD, K_UNL, K_AUTH, K_FU, K_OK, K_COUNT };
static const char *const RULE_OF[K_COUNT] = {"password", "unlocked", "user_auth", "first_unlock",
                                             NULL};
static const char *const ATTRS[K_COUNT] = {
    "\"accessibility\":\"DEVICE_POWERED_ON\",\"requirePasswordSet\":true",
    "\"accessibility\":\"DEVICE_UNLOCKED\"",
    "\"accessibility\":\"DEVICE_POWERED_ON\",\"authType\":\"ANY\"",
    "\"accessibility\":\"DEVICE_FIRST_UNLOCKED\"",
    "\"accessibility\":\"DEVICE_POWERED_ON\"",
};

enum { S_APP, S_ENC, S_GROUP, S_B, S_COUNT };
/* How many of each kind per store: mixed proportions. */
static const int COUNTS[S_COUNT][K_COUNT] = {
    {2, 3, 1, 4, 5}, {1, 2, 2, 1, 3}, {3, 1, 1, 2, 2}, {1, 1, 2, 1, 1}};

typedef struct {
    tl_device old_dev, new_dev;
    tl_app a_old, a_new, b_old, b_new;
    char group[80], app_a[80], app_b[80];
    char backup[64], restore[64];
    long kind_total[K_COUNT];
    long total;
} world;

static void alias_of(char *out, size_t n, int store, int kind, int i)
{
    snprintf(out, n, "s%d-k%d-%d", store, kind, i);
}

static void build(world *w)
{
    char account[64], body[600], b64[64];
    memset(w, 0, sizeof *w);
    tl_unique(account, sizeof account, "acct");
    tl_unique(w->group, sizeof w->group, "group.report");
    tl_unique(w->app_a, sizeof w->app_a, "com.example.a");
    tl_unique(w->app_b, sizeof w->app_b, "com.example.b");
    w->old_dev = tl_device_create(srv, "old", account);
    w->new_dev = tl_device_create(srv, "new", account);
    const char *groups[] = {w->group, NULL};
    w->a_old = tl_app_install(srv, w->old_dev.id, w->app_a, groups, false);
    w->a_new = tl_app_install(srv, w->new_dev.id, w->app_a, groups, false);
    w->b_old = tl_app_install(srv, w->old_dev.id, w->app_b, NULL, false);
    w->b_new = tl_app_install(srv, w->new_dev.id, w->app_b, NULL, false);
    tl_device_set_state(srv, w->old_dev.id, true, false, true); /* everything can be added */
    tl_b64(b64, sizeof b64, "s3cret", 6);
    for (int s = 0; s < S_COUNT; s++)
        for (int k = 0; k < K_COUNT; k++)
            for (int i = 0; i < COUNTS[s][k]; i++) {
                char alias[64], extra[160] = "";
                alias_of(alias, sizeof alias, s, k, i);
                if (s == S_ENC)
                    snprintf(extra, sizeof extra, ",\"requireAttrEncrypted\":true");
                if (s == S_GROUP)
                    snprintf(extra, sizeof extra, ",\"groupId\":\"%s\"", w->group);
                tl_pathf(body, sizeof body,
                         "{\"alias\":\"%s\",\"secret\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"],"
                         "%s%s}",
                         alias, b64, ATTRS[k], extra);
                json_decref(tl_asset_add(srv, s == S_B ? w->b_old.token : w->a_old.token, body));
                w->kind_total[k]++;
                w->total++;
            }
    /* Not taking part in a restore onto another device: never counted. */
    json_decref(tl_asset_addf(srv, w->a_old.token,
                              "{\"alias\":\"local\",\"secret\":\"%s\",\"syncType\":[]}", b64));
    json_decref(tl_asset_addf(
        srv, w->a_old.token,
        "{\"alias\":\"here\",\"secret\":\"%s\",\"syncType\":[\"THIS_DEVICE\"]}", b64));
    tl_device_set_state(srv, w->old_dev.id, false, false, true); /* OLD: no password */
    tl_device_set_state(srv, w->new_dev.id, true, true, false);  /* NEW: locked, cold */
    tl_resp *r = tl_http(srv, "POST", "/backups", w->old_dev.token,
                         tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", w->old_dev.id));
    tl_expect_status(r, 201);
    assert_int_equal(tl_jint(r->json, "recordCount"), w->total + 1); /* + THIS_DEVICE */
    snprintf(w->backup, sizeof w->backup, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

static long kinds(const world *w, const int *ks, int n)
{
    long t = 0;
    for (int i = 0; i < n; i++)
        t += w->kind_total[ks[i]];
    return t;
}

static json_t *wait_done(const char *token, const char *id)
{
    for (int i = 0; i < 40; i++) {
        tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/restores/%s?waitSeconds=5", id);
        tl_expect_status(r, 200);
        const char *st = tl_jstr(r->json, "status");
        if (strcmp(st, "done") == 0) {
            json_t *j = json_incref(r->json);
            tl_resp_free(r);
            return j;
        }
        assert_string_not_equal(st, "failed");
        tl_resp_free(r);
    }
    fail_msg("restore %s did not finish", id);
    return NULL;
}

static long failures_of(const json_t *j, const char *rule)
{
    return (long)json_integer_value(json_object_get(json_object_get(j, "failures"), rule));
}

static json_t *preview(const world *w, const char *token)
{
    char body[256];
    tl_resp *r =
        tl_http(srv, "POST", "/restores/preview", token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         w->backup, w->new_dev.id));
    tl_expect_status(r, 200);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    return j;
}

static long fix_of(const json_t *pv, const char *field, bool value)
{
    json_t *fixes = json_object_get(pv, "fixes"), *f;
    size_t i;
    json_array_foreach(fixes, i, f)
    {
        json_t *set = json_object_get(f, "set");
        json_t *v = json_object_get(set, field);
        if (v && json_object_size(set) == 1 && json_is_boolean(v) && json_boolean_value(v) == value)
            return (long)tl_jint(f, "wouldAccept");
    }
    return -1;
}

/* Every record of the listing at path (admin, paged by limit=4): count by outcome/rule. */
static long count_records(const char *token, const char *base, const char *filter, bool app,
                          json_t *collect)
{
    char path[700], enc[400];
    const char *cursor = NULL;
    long n = 0;
    tl_resp *r = NULL;
    for (int page = 0; page < 1000; page++) {
        tl_pathf(path, sizeof path, "%s?limit=4%s%s%s%s", base, *filter ? "&" : "", filter,
                 cursor ? "&cursor=" : "", cursor ? tl_urlenc(enc, sizeof enc, cursor) : "");
        tl_resp_free(r);
        r = tl_http(srv, "GET", path, token, NULL);
        tl_expect_status(r, 200);
        json_t *recs = json_object_get(r->json, "records"), *x;
        size_t i;
        assert_true(json_array_size(recs) <= 4);
        json_array_foreach(recs, i, x)
        {
            if (app) {
                assert_non_null(tl_jstr(x, "alias"));
                assert_null(json_object_get(x, "aliasHash"));
            } else {
                assert_null(json_object_get(x, "alias"));
                assert_int_equal(strlen(tl_jstr(x, "aliasHash")), 64);
                assert_true(json_is_object(json_object_get(x, "owner")));
            }
            const char *oc = tl_jstr(x, "outcome");
            json_t *rule = json_object_get(x, "rule");
            assert_true(strcmp(oc, "failed") == 0 ? json_is_string(rule) : json_is_null(rule));
            if (collect)
                json_array_append(collect, x);
            n++;
        }
        cursor = tl_jstr(r->json, "nextCursor");
        if (!cursor)
            break;
    }
    tl_resp_free(r);
    return n;
}

static void test_preview_restore_records_retry(void **st)
{
    (void)st;
    world w;
    build(&w);
    static const int ok_k[] = {K_OK}, fu_k[] = {K_OK, K_FU}, all_new[] = {K_OK, K_FU, K_UNL};
    long accept = kinds(&w, ok_k, 1), fail = w.total - accept;

    /* The preview, from the admin and from NEW's own token: the same numbers. */
    char body[256];
    tl_resp *r;
    json_t *pv = preview(&w, srv->admin_token);
    json_t *pv2 = preview(&w, w.new_dev.token);
    assert_true(json_equal(pv, pv2));
    json_decref(pv2);
    assert_int_equal(tl_jint(pv, "total"), w.total);
    assert_int_equal(tl_jint(pv, "wouldAccept"), accept);
    assert_int_equal(tl_jint(pv, "wouldFail"), fail);
    for (int k = 0; k < K_OK; k++)
        assert_int_equal(failures_of(pv, RULE_OF[k]), w.kind_total[k]);
    assert_int_equal(json_array_size(json_object_get(pv, "owners")), S_COUNT);
    assert_int_equal(fix_of(pv, "lockScreenPasswordSet", false), kinds(&w, all_new, 3));
    assert_int_equal(fix_of(pv, "screenLocked", false), kinds(&w, all_new, 3));
    assert_int_equal(fix_of(pv, "unlockedSinceBoot", true), kinds(&w, fu_k, 2));
    assert_int_equal(json_array_size(json_object_get(pv, "fixes")), 3);
    assert_non_null(tl_jstr(pv, "detail")); /* OLD's failures need a new backup */
    /* Onto OLD itself only THIS_DEVICE records take part: the one "here". */
    r = tl_http(srv, "POST", "/restores/preview", w.old_dev.token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         w.backup, w.old_dev.id));
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "total"), 1);
    assert_int_equal(tl_jint(r->json, "wouldAccept"), 1);
    tl_resp_free(r);
    /* It wrote nothing. */
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM restores WHERE backup_id = $1", w.backup, NULL), 0);

    /* The restore started right after it: the same numbers. */
    r = tl_http(srv, "POST", "/restores", srv->admin_token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         w.backup, w.new_dev.id));
    tl_expect_status(r, 202);
    snprintf(w.restore, sizeof w.restore, "%s", tl_jstr(r->json, "id"));
    assert_true(json_is_null(json_object_get(r->json, "retryOf")));
    tl_resp_free(r);
    json_t *job = wait_done(srv->admin_token, w.restore);
    assert_int_equal(tl_jint(job, "total"), tl_jint(pv, "total"));
    assert_int_equal(tl_jint(job, "accepted"), tl_jint(pv, "wouldAccept"));
    assert_int_equal(tl_jint(job, "failed"), tl_jint(pv, "wouldFail"));
    assert_true(json_equal(json_object_get(job, "failures"), json_object_get(pv, "failures")));
    json_decref(job);
    /* Per owner: the preview's owners are the sync results. */
    json_t *o;
    size_t i;
    json_array_foreach(json_object_get(pv, "owners"), i, o)
    {
        bool enc = tl_jbool(o, "requireAttrEncrypted");
        const char *app = tl_jstr(o, "appId");
        const char *token = app && strcmp(app, w.app_b) == 0 ? w.b_new.token : w.a_new.token;
        char q[200] = "";
        if (tl_jstr(o, "groupId"))
            snprintf(q, sizeof q, "?groupId=%s", tl_jstr(o, "groupId"));
        else if (enc)
            snprintf(q, sizeof q, "?requireAttrEncrypted=true");
        r = tl_httpf(srv, "GET", token, NULL, "/sync-result%s", q);
        tl_expect_status(r, 200);
        assert_int_equal(tl_jint(r->json, "totalCount"), tl_jint(o, "total"));
        assert_int_equal(tl_jint(r->json, "failedCount"), tl_jint(o, "failed"));
        tl_resp_free(r);
    }

    /* The report: every record once; admin and device see hashes, never aliases. */
    char base[128];
    tl_pathf(base, sizeof base, "/restores/%s/records", w.restore);
    json_t *all = json_array();
    assert_int_equal(count_records(srv->admin_token, base, "", false, all), w.total);
    assert_int_equal(count_records(w.new_dev.token, base, "outcome=failed", false, NULL), fail);
    assert_int_equal(count_records(srv->admin_token, base, "outcome=accepted", false, NULL),
                     accept);
    for (int k = 0; k < K_OK; k++) {
        char f[64];
        tl_pathf(f, sizeof f, "rule=%s", RULE_OF[k]);
        assert_int_equal(count_records(srv->admin_token, base, f, false, NULL), w.kind_total[k]);
    }
    /* aliasHash is the audit log's hash of the alias. */
    json_array_foreach(all, i, o)
    {
        assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE action = 'addAsset' "
                                     "AND device_id = $1 AND alias_hash = $2",
                                     w.old_dev.id, tl_jstr(o, "aliasHash"), NULL) > 0,
                         1);
    }
    json_decref(all);
    r = tl_http(srv, "GET", base, srv->admin_token, NULL);
    tl_expect_body_lacks(r, "s0-k");
    tl_resp_free(r);
    /* Who may not: an installation, another device; a forged cursor. */
    tl_req_problem(srv, "GET", base, w.a_new.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", base, w.old_dev.token, NULL, 403, "PERMISSION_DENIED");
    r = tl_httpf(srv, "GET", srv->admin_token, NULL, "%s?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                 base);
    tl_expect_problem(r, 400, "PARAM_VERIFICATION_FAILED");
    tl_resp_free(r);
    r = tl_httpf(srv, "GET", srv->admin_token, NULL, "%s?outcome=maybe", base);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "outcome");
    tl_resp_free(r);

    /* The app's view: its own aliases in the clear, nobody else's. */
    json_t *mine = json_array();
    long a_fail = 0;
    for (int k = 0; k < K_OK; k++)
        a_fail += COUNTS[S_APP][k];
    assert_int_equal(
        count_records(w.a_new.token, "/sync-result/records", "outcome=failed", true, mine), a_fail);
    json_array_foreach(mine, i, o) assert_int_equal(strncmp(tl_jstr(o, "alias"), "s0-", 3), 0);
    json_decref(mine);
    assert_int_equal(count_records(w.b_new.token, "/sync-result/records", "", true, NULL),
                     COUNTS[S_B][0] + COUNTS[S_B][1] + COUNTS[S_B][2] + COUNTS[S_B][3] +
                         COUNTS[S_B][4]);
    char gq[200];
    tl_pathf(gq, sizeof gq, "outcome=failed&groupId=%s", w.group);
    assert_int_equal(count_records(w.a_new.token, "/sync-result/records", gq, true, NULL),
                     COUNTS[S_GROUP][0] + COUNTS[S_GROUP][1] + COUNTS[S_GROUP][2] +
                         COUNTS[S_GROUP][3]);
    /* B may not read the group's, nor use A's cursor. */
    r = tl_httpf(srv, "GET", w.b_new.token, NULL, "/sync-result/records?%s", gq);
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/sync-result/records?limit=1", w.a_new.token, NULL);
    tl_expect_status(r, 200);
    char cur[200], enc[400];
    snprintf(cur, sizeof cur, "%s", tl_jstr(r->json, "nextCursor"));
    tl_resp_free(r);
    r = tl_httpf(srv, "GET", w.b_new.token, NULL, "/sync-result/records?limit=1&cursor=%s",
                 tl_urlenc(enc, sizeof enc, cur));
    tl_expect_problem(r, 400, "PARAM_VERIFICATION_FAILED");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/sync-result/records?limit=0", w.a_new.token, NULL);
    tl_expect_problem(r, 400, "PARAM_VERIFICATION_FAILED");
    tl_resp_free(r);

    /* Fix one: unlockedSinceBoot. The retry accepts exactly the predicted records. */
    tl_device_set_state(srv, w.new_dev.id, true, true, true);
    r = tl_httpf(srv, "POST", w.new_dev.token, NULL, "/restores/%s/retry", w.restore);
    tl_expect_status(r, 202);
    assert_string_equal(tl_jstr(r->json, "retryOf"), w.restore);
    char retry1[64];
    snprintf(retry1, sizeof retry1, "%s", tl_jstr(r->json, "id"));
    assert_int_equal(tl_jint(r->json, "total"), w.kind_total[K_UNL] + w.kind_total[K_FU]);
    tl_resp_free(r);
    job = wait_done(srv->admin_token, retry1);
    assert_int_equal(tl_jint(job, "accepted") + accept, fix_of(pv, "unlockedSinceBoot", true));
    assert_int_equal(failures_of(job, "unlocked"), w.kind_total[K_UNL]);
    json_decref(job);

    /* Fix two: screen unlocked; retrying the original again takes only what still fails. */
    tl_device_set_state(srv, w.new_dev.id, true, false, true);
    r = tl_httpf(srv, "POST", srv->admin_token, NULL, "/restores/%s/retry", w.restore);
    tl_expect_status(r, 202);
    char retry2[64];
    snprintf(retry2, sizeof retry2, "%s", tl_jstr(r->json, "id"));
    assert_int_equal(tl_jint(r->json, "total"), w.kind_total[K_UNL]);
    tl_resp_free(r);
    job = wait_done(srv->admin_token, retry2);
    assert_int_equal(tl_jint(job, "accepted"), w.kind_total[K_UNL]);
    assert_int_equal(tl_jint(job, "failed"), 0);
    json_decref(job);
    /* What remains fails on OLD: nothing to retry. */
    r = tl_httpf(srv, "POST", srv->admin_token, NULL, "/restores/%s/retry", retry2);
    tl_expect_problem(r, 404, "NOT_FOUND");
    tl_resp_free(r);

    /* Nothing doubled: NEW holds each accepted record once. */
    long on_new =
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", w.new_dev.id, NULL);
    assert_int_equal(on_new, kinds(&w, all_new, 3));
    /* Sync results: the original totals with the failures that remain. */
    r = tl_http(srv, "GET", "/sync-result", w.a_new.token, NULL);
    long a_total = 0;
    for (int k = 0; k < K_COUNT; k++)
        a_total += COUNTS[S_APP][k];
    assert_int_equal(tl_jint(r->json, "totalCount"), a_total);
    assert_int_equal(tl_jint(r->json, "failedCount"), COUNTS[S_APP][K_PWD] + COUNTS[S_APP][K_AUTH]);
    tl_resp_free(r);
    json_t *left = json_array();
    assert_int_equal(
        count_records(w.a_new.token, "/sync-result/records", "outcome=failed", true, left),
        COUNTS[S_APP][K_PWD] + COUNTS[S_APP][K_AUTH]);
    json_array_foreach(left, i, o)
    {
        const char *rule = tl_jstr(o, "rule");
        assert_true(strcmp(rule, "password") == 0 || strcmp(rule, "user_auth") == 0);
    }
    json_decref(left);
    /* ... and every record of the app, accepted ones included: those the retries decided, and
     * those they inherited from the original job (whose accepted records have no row). */
    assert_int_equal(count_records(w.a_new.token, "/sync-result/records", "", true, NULL), a_total);
    assert_int_equal(
        count_records(w.a_new.token, "/sync-result/records", "outcome=accepted", true, NULL),
        a_total - COUNTS[S_APP][K_PWD] - COUNTS[S_APP][K_AUTH]);
    /* The original job's report is unchanged; a retry's shows only what it decided. */
    assert_int_equal(count_records(srv->admin_token, base, "", false, NULL), w.total);
    tl_pathf(base, sizeof base, "/restores/%s/records", retry2);
    assert_int_equal(count_records(srv->admin_token, base, "", false, NULL), w.kind_total[K_UNL]);
    json_decref(pv);
}

static void test_preview_refusals(void **st)
{
    (void)st;
    char body[256];
    tl_device a = tl_device_create(srv, "a", "acct-x");
    tl_device b = tl_device_create(srv, "b", "acct-y");
    tl_resp *r = tl_http(srv, "POST", "/backups", srv->admin_token,
                         tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", a.id));
    tl_expect_status(r, 201);
    char backup[64];
    snprintf(backup, sizeof backup, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup, b.id);
    tl_req_problem(srv, "POST", "/restores/preview", srv->admin_token, body, 403,
                   "PERMISSION_DENIED");
    tl_pathf(body, sizeof body,
             "{\"backupId\":\"00000000-0000-4000-8000-000000000000\",\"targetDeviceId\":\"%s\"}",
             a.id);
    tl_req_problem(srv, "POST", "/restores/preview", srv->admin_token, body, 404, "NOT_FOUND");
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\",\"x\":1}", backup,
             a.id);
    tl_req_problem(srv, "POST", "/restores/preview", srv->admin_token, body, 400,
                   "INVALID_ARGUMENT");
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup, a.id);
    tl_req_problem(srv, "POST", "/restores/preview", b.token, body, 403, "PERMISSION_DENIED");
    /* Onto its own device, an empty backup: all zero, no fixes. */
    r = tl_http(srv, "POST", "/restores/preview", a.token, body);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "total"), 0);
    assert_int_equal(json_array_size(json_object_get(r->json, "fixes")), 0);
    tl_resp_free(r);
    /* Nothing to retry in a finished empty restore. */
    r = tl_http(srv, "POST", "/restores", a.token, body);
    tl_expect_status(r, 202);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    json_decref(wait_done(a.token, rid));
    r = tl_httpf(srv, "POST", a.token, NULL, "/restores/%s/retry", rid);
    tl_expect_problem(r, 404, "NOT_FOUND");
    tl_resp_free(r);
    r = tl_httpf(srv, "POST", b.token, NULL, "/restores/%s/retry", rid);
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
}

static void test_backup_list_delete(void **st)
{
    (void)st;
    char body[128], ids[3][64];
    tl_device d = tl_device_create(srv, "lister", NULL);
    tl_device other = tl_device_create(srv, "other", NULL);
    tl_app app = tl_app_install(srv, d.id, "com.example.lister", NULL, false);
    json_decref(tl_asset_addf(
        srv, app.token, "{\"alias\":\"x\",\"secret\":\"AQID\",\"syncType\":[\"THIS_DEVICE\"]}"));
    for (int i = 0; i < 3; i++) {
        tl_resp *r = tl_http(srv, "POST", "/backups", d.token,
                             tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id));
        tl_expect_status(r, 201);
        snprintf(ids[i], sizeof ids[i], "%s", tl_jstr(r->json, "id"));
        tl_resp_free(r);
    }
    /* Newest first, one per page. */
    char path[600], enc[300];
    const char *cursor = NULL;
    tl_resp *r = NULL;
    for (int i = 2; i >= 0; i--) {
        tl_pathf(path, sizeof path, "/backups?deviceId=%s&limit=1%s%s", d.id,
                 cursor ? "&cursor=" : "", cursor ? tl_urlenc(enc, sizeof enc, cursor) : "");
        tl_resp_free(r);
        r = tl_http(srv, "GET", path, d.token, NULL);
        tl_expect_status(r, 200);
        json_t *b = json_array_get(json_object_get(r->json, "backups"), 0);
        assert_string_equal(tl_jstr(b, "id"), ids[i]);
        assert_int_equal(tl_jint(b, "recordCount"), 1);
        cursor = tl_jstr(r->json, "nextCursor");
        if (i)
            assert_non_null(cursor);
        else
            assert_null(cursor);
    }
    tl_resp_free(r);
    tl_pathf(path, sizeof path, "/backups?deviceId=%s", d.id);
    tl_req_problem(srv, "GET", path, other.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/backups", srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/backups?deviceId=nope", srv->admin_token, NULL, 400,
                   "INVALID_ARGUMENT");

    /* Delete: 204, gone (rows too), again 404; another device may not. */
    tl_pathf(path, sizeof path, "/backups/%s", ids[1]);
    tl_req_problem(srv, "DELETE", path, other.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_status(srv, "DELETE", path, d.token, NULL, 204);
    tl_req_problem(srv, "GET", path, srv->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE", path, srv->admin_token, NULL, 404, "NOT_FOUND");
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM backup_records WHERE backup_id = $1", ids[1], NULL), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM backups WHERE id = $1", ids[1], NULL), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE action = 'deleteBackup' "
                                 "AND device_id = $1 AND outcome = 'ok'",
                                 d.id, NULL),
                     1);
    /* A deleted backup cannot be restored or previewed. */
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", ids[1], d.id);
    tl_req_problem(srv, "POST", "/restores", d.token, body, 404, "NOT_FOUND");
    tl_req_problem(srv, "POST", "/restores/preview", d.token, body, 404, "NOT_FOUND");
    tl_pathf(path, sizeof path, "/backups?deviceId=%s", d.id);
    r = tl_http(srv, "GET", path, srv->admin_token, NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "backups")), 2);
    tl_resp_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_restore_records_retry),
        cmocka_unit_test(test_preview_refusals),
        cmocka_unit_test(test_backup_list_delete),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
