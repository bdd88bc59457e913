/* HTTP black-box tests: backup, restore and the sync result (issue 3). Spec §1, §2, §4 (device and
 * admin endpoints), §6, §7, §8.
 *
 * Each rule test builds an OLD and a NEW device of one account, puts a table of assets on OLD
 * (some in the app's own store, some in the requireAttrEncrypted store, some in a group), sets the
 * devices' states, backs OLD up, restores onto NEW (the server runs two in-process sync workers)
 * and checks everything the contract promises against the table: the job's counts and failures
 * per rule, which aliases exist on NEW (with the secret from the backup where the state lets it be
 * read), and the sync result of every store. */
#include <string.h>
#include <time.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=2", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *const RULES[] = {"password", "unlocked", "user_auth", "first_unlock"};
#define NRULES 4

typedef struct {
    bool pwd, locked, usb; /* lockScreenPasswordSet, screenLocked, unlockedSinceBoot */
} dstate;

static const dstate OPEN = {false, false, true};         /* the default state */
static const dstate PWD_OPEN = {true, false, true};      /* password, screen unlocked */
static const dstate PWD_LOCKED = {true, true, true};     /* locked, but unlocked since boot */
static const dstate PWD_COLD = {true, true, false};      /* locked, never unlocked since boot */
static const dstate NOPWD_SCREEN = {false, true, false}; /* no password: never effectively locked */

static void set_state(const char *device_id, dstate s)
{
    tl_device_set_state(srv, device_id, s.pwd, s.locked, s.usb);
}

/* §6, computed here independently of the service. */
static bool t_locked(dstate s)
{
    return s.pwd && s.locked;
}

static bool t_first_unlocked(dstate s)
{
    return !s.pwd || s.usb || !s.locked;
}

typedef enum { ACC_FIRST, ACC_POWERED, ACC_UNLOCKED } acc_t;
static const char *const ACC_NAME[] = {"DEVICE_FIRST_UNLOCKED", "DEVICE_POWERED_ON",
                                       "DEVICE_UNLOCKED"};

static bool t_accessible(acc_t acc, bool rp, dstate s)
{
    if (rp && !s.pwd)
        return false;
    if (acc == ACC_UNLOCKED && t_locked(s))
        return false;
    if (acc == ACC_FIRST && !t_first_unlocked(s))
        return false;
    return true;
}

static char *uniq(char *buf, size_t n, const char *prefix)
{
    return tl_unique(buf, n, prefix);
}

/* POST /backups {"deviceId"} as token: the backup's id; checks 201 and recordCount. */
static void make_backup(const char *token, const char *device_id, long record_count, char *id_out,
                        size_t id_n)
{
    char body[128];
    tl_resp *r = tl_http(srv, "POST", "/backups", token,
                         tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", device_id));
    tl_expect_status(r, 201);
    assert_non_null(tl_jstr(r->json, "id"));
    assert_string_equal(tl_jstr(r->json, "deviceId"), device_id);
    assert_non_null(tl_jstr(r->json, "createdAt"));
    assert_int_equal(tl_jint(r->json, "recordCount"), record_count);
    snprintf(id_out, id_n, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

/* POST /restores as token: the job's id; checks 202 and the job's first answer. */
static void make_restore(const char *token, const char *backup_id, const char *target, long total,
                         char *id_out, size_t id_n)
{
    char body[256];
    tl_resp *r =
        tl_http(srv, "POST", "/restores", token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         backup_id, target));
    tl_expect_status(r, 202);
    const char *status = tl_jstr(r->json, "status");
    assert_non_null(status);
    assert_true(strcmp(status, "queued") == 0 || strcmp(status, "running") == 0 ||
                strcmp(status, "done") == 0);
    assert_int_equal(tl_jint(r->json, "total"), total);
    assert_non_null(tl_jstr(r->json, "id"));
    snprintf(id_out, id_n, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

/* Poll GET /restores/{id} (as token) until it is done; returns its final JSON (decref it). */
static json_t *wait_restore(const char *token, const char *id)
{
    char path[128];
    double end = tl_now_ms() + tl_scaled_ms(20000);
    tl_pathf(path, sizeof path, "/restores/%s", id);
    for (;;) {
        tl_resp *r = tl_http(srv, "GET", path, token, NULL);
        tl_expect_status(r, 200);
        const char *status = tl_jstr(r->json, "status");
        assert_non_null(status);
        if (strcmp(status, "failed") == 0)
            fail_msg("restore %s failed: %s", id, r->body);
        if (strcmp(status, "done") == 0) {
            json_t *j = json_incref(r->json);
            tl_resp_free(r);
            return j;
        }
        tl_resp_free(r);
        if (tl_now_ms() > end)
            fail_msg("restore %s not done in time", id);
        tl_sleep_ms(10);
    }
}

/* The job's final counts are exactly these (fail[] in RULES order). */
static void expect_job(const json_t *j, const char *id, long total, long accepted,
                       const long fail[NRULES])
{
    long failed = 0;
    for (int i = 0; i < NRULES; i++)
        failed += fail[i];
    if (strcmp(tl_jstr(j, "status"), "done") != 0 || tl_jint(j, "total") != total ||
        tl_jint(j, "processed") != total || tl_jint(j, "accepted") != accepted ||
        tl_jint(j, "failed") != failed) {
        char *dump = json_dumps(j, 0);
        fail_msg("restore %s: want total=processed=%ld accepted=%ld failed=%ld, got %s", id, total,
                 accepted, failed, dump);
    }
    assert_string_equal(tl_jstr(j, "id"), id);
    json_t *f = json_object_get(j, "failures");
    assert_true(json_is_object(f));
    for (int i = 0; i < NRULES; i++) {
        json_t *v = json_object_get(f, RULES[i]);
        /* A rule that refused nothing reads 0 (or is absent). */
        long got = v ? (long)json_integer_value(v) : 0;
        if (v)
            assert_true(json_is_integer(v));
        if (got != fail[i]) {
            char *dump = json_dumps(j, 0);
            fail_msg("restore %s: failures.%s want %ld, got %s", id, RULES[i], fail[i], dump);
        }
    }
}

/* GET /sync-result?<query> as the installation: exactly these values (restore_id NULL: the
 * "no sync happened" answer). */
static void expect_sync_result(const char *token, const char *query, long total, long failed,
                               const char *restore_id)
{
    tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/sync-result%s%s", *query ? "?" : "", query);
    tl_expect_status(r, 200);
    assert_true(json_is_object(r->json));
    assert_int_equal(json_object_size(r->json), 5);
    if (!restore_id) {
        json_t *want = json_pack("{s:i, s:i, s:i, s:n, s:n}", "resultCode", 0, "totalCount", 0,
                                 "failedCount", 0, "restoreId", "finishedAt");
        if (!json_equal(want, r->json))
            fail_msg("GET /sync-result?%s: want no sync, got %s", query, r->body);
        json_decref(want);
        tl_resp_free(r);
        return;
    }
    if (tl_jint(r->json, "totalCount") != total || tl_jint(r->json, "failedCount") != failed ||
        tl_jint(r->json, "resultCode") != (failed ? 24000005 : 0) ||
        !tl_jstr(r->json, "restoreId") || strcmp(tl_jstr(r->json, "restoreId"), restore_id) != 0)
        fail_msg("GET /sync-result?%s: want total=%ld failed=%ld restoreId=%s, got %s", query,
                 total, failed, restore_id, r->body);
    const char *fin = tl_jstr(r->json, "finishedAt");
    assert_non_null(fin);
    /* RFC 3339 UTC */
    assert_true(strlen(fin) >= 20 && fin[4] == '-' && fin[10] == 'T' &&
                fin[strlen(fin) - 1] == 'Z');
    tl_resp_free(r);
}

/* ---- the rule scenarios ------------------------------------------------------------------- */

typedef enum { ST_APP, ST_ENC, ST_GROUP, ST_COUNT } store_t;

typedef struct {
    const char *alias;
    store_t store;
    acc_t acc;
    bool rp;            /* requirePasswordSet */
    bool any;           /* authType ANY */
    const char *expect; /* "ok" or the rule that refuses it */
} case_asset;

typedef struct {
    dstate old_add;    /* OLD while the assets are added */
    dstate old_backup; /* OLD when the backup is taken */
    dstate new_state;  /* NEW when the restore runs */
    const case_asset *assets;
    size_t n;
} scenario;

typedef struct {
    tl_device old_dev, new_dev;
    tl_app old_app, new_app;
    char group[80];
    char backup_id[64], restore_id[64];
    char secrets[32][96];
} scenario_run;

static const char *store_query(const scenario_run *sr, store_t st, char *buf, size_t n)
{
    char enc[256];
    if (st == ST_ENC)
        return tl_pathf(buf, n, "requireAttrEncrypted=true");
    if (st == ST_GROUP)
        return tl_pathf(buf, n, "groupId=%s", tl_urlenc(enc, sizeof enc, sr->group));
    buf[0] = 0;
    return buf;
}

static void add_case_asset(const scenario_run *sr, const case_asset *c, const char *secret)
{
    char b64[256], body[1024];
    const char *store = c->store == ST_ENC     ? ",\"requireAttrEncrypted\":true"
                        : c->store == ST_GROUP ? ",\"groupId\":\""
                                               : "";
    tl_pathf(
        body, sizeof body,
        "{\"alias\":\"%s\",\"secret\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"]%s%s%s%s%s%s%s%s,"
        "\"dataLabelNormal1\":\"n-%s\",\"dataLabelCritical1\":\"c-%s\"}",
        c->alias, tl_b64(b64, sizeof b64, secret, strlen(secret)), store,
        c->store == ST_GROUP ? sr->group : "", c->store == ST_GROUP ? "\"" : "",
        c->acc == ACC_FIRST ? "" : ",\"accessibility\":\"",
        c->acc == ACC_FIRST ? "" : ACC_NAME[c->acc], c->acc == ACC_FIRST ? "" : "\"",
        c->rp ? ",\"requirePasswordSet\":true" : "", c->any ? ",\"authType\":\"ANY\"" : "",
        c->alias, c->alias);
    json_decref(tl_asset_add(srv, sr->old_app.token, body));
}

/* Present on NEW with the backup's attributes; the secret is checked where NEW's state lets it
 * be read, and otherwise the read must be refused as §6 says. */
static void expect_present(const scenario_run *sr, const case_asset *c, const char *secret,
                           dstate new_state)
{
    char q[300], enc[300];
    store_query(sr, c->store, q, sizeof q);
    tl_resp *r = tl_httpf(srv, "GET", sr->new_app.token, NULL, "/assets/%s%s%s",
                          tl_urlenc(enc, sizeof enc, c->alias), *q ? "?" : "", q);
    if (r->status != 200)
        fail_msg("%s (%s) should be on NEW: %ld %s", c->alias, c->expect, r->status, r->body);
    assert_string_equal(tl_jstr(r->json, "accessibility"), ACC_NAME[c->acc]);
    assert_int_equal(tl_jbool(r->json, "requirePasswordSet"), c->rp);
    assert_string_equal(tl_jstr(r->json, "authType"), c->any ? "ANY" : "NONE");
    assert_int_equal(tl_jbool(r->json, "requireAttrEncrypted"), c->store == ST_ENC);
    if (c->store == ST_GROUP) {
        assert_string_equal(tl_jstr(r->json, "groupId"), sr->group);
    } else {
        json_t *g = json_object_get(r->json, "groupId");
        assert_true(!g || json_is_null(g));
    }
    char want[300];
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"),
                        tl_pathf(want, sizeof want, "n-%s", c->alias));
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical1"),
                        tl_pathf(want, sizeof want, "c-%s", c->alias));
    assert_null(json_object_get(r->json, "secret"));
    tl_resp_free(r);

    bool accessible = t_accessible(c->acc, c->rp, new_state);
    r = tl_httpf(srv, "GET", sr->new_app.token, NULL, "/assets/%s?returnType=ALL%s%s",
                 tl_urlenc(enc, sizeof enc, c->alias), *q ? "&" : "", q);
    if (c->any) {
        if (accessible)
            tl_expect_problem(r, 403, "ACCESS_DENIED");
        else
            assert_true(r->status == 403 || r->status == 409);
    } else if (!accessible) {
        tl_expect_problem(r, 409, "STATUS_MISMATCH");
    } else {
        char got[128];
        tl_expect_status(r, 200);
        long len = tl_b64_decode(got, sizeof got - 1, tl_jstr(r->json, "secret"));
        assert_true(len >= 0);
        got[len] = 0;
        assert_string_equal(got, secret);
    }
    tl_resp_free(r);
}

static void expect_absent(const scenario_run *sr, const case_asset *c)
{
    char q[300], enc[300];
    store_query(sr, c->store, q, sizeof q);
    tl_resp *r = tl_httpf(srv, "GET", sr->new_app.token, NULL, "/assets/%s%s%s",
                          tl_urlenc(enc, sizeof enc, c->alias), *q ? "?" : "", q);
    if (r->status != 404)
        fail_msg("%s (refused by %s) should not be on NEW: %ld %s", c->alias, c->expect, r->status,
                 r->body);
    tl_expect_problem(r, 404, "NOT_FOUND");
    tl_resp_free(r);
}

/* Runs a scenario end to end and checks everything against its table. */
static void run_scenario(const scenario *sc, scenario_run *sr)
{
    char account[64], app_id[80];
    memset(sr, 0, sizeof *sr);
    assert_true(sc->n <= 32);
    uniq(account, sizeof account, "acct");
    uniq(app_id, sizeof app_id, "com.example.rules");
    uniq(sr->group, sizeof sr->group, "group.rules");
    const char *groups[] = {sr->group, NULL};
    sr->old_dev = tl_device_create(srv, "old", account);
    sr->new_dev = tl_device_create(srv, "new", account);
    sr->old_app = tl_app_install(srv, sr->old_dev.id, app_id, groups, false);
    sr->new_app = tl_app_install(srv, sr->new_dev.id, app_id, groups, false);

    set_state(sr->old_dev.id, sc->old_add);
    for (size_t i = 0; i < sc->n; i++) {
        char rnd[40];
        snprintf(sr->secrets[i], sizeof sr->secrets[i], "secret of %s %s", sc->assets[i].alias,
                 tl_unique(rnd, sizeof rnd, "x"));
        add_case_asset(sr, &sc->assets[i], sr->secrets[i]);
    }
    set_state(sr->old_dev.id, sc->old_backup);
    make_backup(srv->admin_token, sr->old_dev.id, (long)sc->n, sr->backup_id, sizeof sr->backup_id);

    /* Nothing synced yet. */
    expect_sync_result(sr->new_app.token, "", 0, 0, NULL);

    set_state(sr->new_dev.id, sc->new_state);
    make_restore(srv->admin_token, sr->backup_id, sr->new_dev.id, (long)sc->n, sr->restore_id,
                 sizeof sr->restore_id);
    json_t *job = wait_restore(srv->admin_token, sr->restore_id);

    long fail[NRULES] = {0}, accepted = 0, st_total[ST_COUNT] = {0}, st_failed[ST_COUNT] = {0};
    for (size_t i = 0; i < sc->n; i++) {
        const case_asset *c = &sc->assets[i];
        st_total[c->store]++;
        if (strcmp(c->expect, "ok") == 0) {
            accepted++;
            continue;
        }
        st_failed[c->store]++;
        int k = 0;
        while (k < NRULES && strcmp(RULES[k], c->expect) != 0)
            k++;
        assert_true(k < NRULES);
        fail[k]++;
    }
    expect_job(job, sr->restore_id, (long)sc->n, accepted, fail);
    json_decref(job);

    for (size_t i = 0; i < sc->n; i++) {
        const case_asset *c = &sc->assets[i];
        if (strcmp(c->expect, "ok") == 0)
            expect_present(sr, c, sr->secrets[i], sc->new_state);
        else
            expect_absent(sr, c);
    }

    /* One sync result per store, kept separately. */
    for (int st = 0; st < ST_COUNT; st++) {
        char q[300];
        store_query(sr, (store_t)st, q, sizeof q);
        if (st_total[st])
            expect_sync_result(sr->new_app.token, q, st_total[st], st_failed[st], sr->restore_id);
        else
            expect_sync_result(sr->new_app.token, q, 0, 0, NULL);
    }
    char q[300];
    tl_pathf(q, sizeof q, "groupId=%s&requireAttrEncrypted=true", sr->group);
    expect_sync_result(sr->new_app.token, q, 0, 0, NULL);
    /* The restore touched NEW only: OLD has no sync result. */
    expect_sync_result(sr->old_app.token, "", 0, 0, NULL);
}

#define SCENARIO(o_add, o_bak, nw, arr)                                                            \
    ((scenario){(o_add), (o_bak), (nw), (arr), sizeof(arr) / sizeof(arr)[0]})

/* (a) requirePasswordSet: refused with `password` when NEW has no lock-screen password. */
static void test_rule_password_new_without_password(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"rp-powered", ST_APP, ACC_POWERED, true, false, "password"},
        {"rp-first", ST_APP, ACC_FIRST, true, false, "password"},
        {"rp-enc", ST_ENC, ACC_POWERED, true, false, "password"},
        {"rp-group-any", ST_GROUP, ACC_FIRST, true, true, "password"},
        {"plain", ST_APP, ACC_FIRST, false, false, "ok"},
        {"plain-unlocked", ST_APP, ACC_UNLOCKED, false, false, "ok"},
        {"plain-any", ST_APP, ACC_POWERED, false, true, "ok"},
        {"plain-enc", ST_ENC, ACC_FIRST, false, false, "ok"},
        {"plain-group", ST_GROUP, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_OPEN, OPEN, assets), &sr);
}

/* (a) ... and when OLD had none at backup time (it had one when the assets were added). The
 * `password` rule comes before `user_auth` and `unlocked`. */
static void test_rule_password_old_without_password(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"rp-1", ST_APP, ACC_FIRST, true, false, "password"},
        {"rp-any", ST_APP, ACC_POWERED, true, true, "password"},
        {"rp-unlocked-group", ST_GROUP, ACC_UNLOCKED, true, false, "password"},
        {"rp-enc", ST_ENC, ACC_FIRST, true, false, "password"},
        {"ok-1", ST_APP, ACC_FIRST, false, false, "ok"},
        {"ok-enc", ST_ENC, ACC_POWERED, false, false, "ok"},
        {"ok-group", ST_GROUP, ACC_UNLOCKED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, OPEN, PWD_OPEN, assets), &sr);
}

/* (a) control: with a password on both, requirePasswordSet assets move. */
static void test_rule_password_both_with_password(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"rp-1", ST_APP, ACC_FIRST, true, false, "ok"},
        {"rp-enc", ST_ENC, ACC_UNLOCKED, true, false, "ok"},
        {"rp-group", ST_GROUP, ACC_POWERED, true, true, "ok"},
        {"plain", ST_APP, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_OPEN, PWD_OPEN, assets), &sr);
}

/* (b) DEVICE_UNLOCKED: refused with `unlocked` when OLD was locked at backup time. */
static void test_rule_unlocked_old_locked(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"u-1", ST_APP, ACC_UNLOCKED, false, false, "unlocked"},
        {"u-enc", ST_ENC, ACC_UNLOCKED, false, false, "unlocked"},
        {"u-group-any", ST_GROUP, ACC_UNLOCKED, false, true, "unlocked"},
        {"f-1", ST_APP, ACC_FIRST, false, false, "ok"},
        {"p-1", ST_APP, ACC_POWERED, false, false, "ok"},
        {"p-any", ST_APP, ACC_POWERED, false, true, "ok"},
        {"f-group", ST_GROUP, ACC_FIRST, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_LOCKED, OPEN, assets), &sr);
}

/* (b) ... and when NEW is locked when the restore runs (`password` passes, `unlocked` fails). */
static void test_rule_unlocked_new_locked(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"u-1", ST_APP, ACC_UNLOCKED, false, false, "unlocked"},
        {"u-rp", ST_APP, ACC_UNLOCKED, true, false, "unlocked"},
        {"u-enc", ST_ENC, ACC_UNLOCKED, false, false, "unlocked"},
        {"u-group", ST_GROUP, ACC_UNLOCKED, false, false, "unlocked"},
        {"f-1", ST_APP, ACC_FIRST, false, false, "ok"},
        {"p-rp", ST_APP, ACC_POWERED, true, false, "ok"},
        {"f-enc", ST_ENC, ACC_FIRST, false, false, "ok"},
        {"p-group", ST_GROUP, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_OPEN, PWD_LOCKED, assets), &sr);
}

/* (b) control: a locked screen without a lock-screen password is not *locked* (§6). */
static void test_rule_unlocked_screen_without_password(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"u-1", ST_APP, ACC_UNLOCKED, false, false, "ok"},
        {"u-enc", ST_ENC, ACC_UNLOCKED, false, false, "ok"},
        {"f-group", ST_GROUP, ACC_FIRST, false, false, "ok"},
        {"p-1", ST_APP, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(NOPWD_SCREEN, NOPWD_SCREEN, NOPWD_SCREEN, assets), &sr);
}

/* (c) authType ANY: refused with `user_auth` when OLD had no lock-screen password at backup
 * time, whatever NEW's state. */
static void test_rule_user_auth(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"a-1", ST_APP, ACC_FIRST, false, true, "user_auth"},
        {"a-enc", ST_ENC, ACC_POWERED, false, true, "user_auth"},
        {"a-group-unlocked", ST_GROUP, ACC_UNLOCKED, false, true, "user_auth"},
        {"n-1", ST_APP, ACC_FIRST, false, false, "ok"},
        {"n-unlocked", ST_APP, ACC_UNLOCKED, false, false, "ok"},
        {"n-group", ST_GROUP, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, OPEN, PWD_OPEN, assets), &sr);
}

/* (c) control: with a password on OLD, ANY assets move even to a NEW without one. */
static void test_rule_user_auth_old_with_password(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"a-1", ST_APP, ACC_FIRST, false, true, "ok"},
        {"a-enc", ST_ENC, ACC_POWERED, false, true, "ok"},
        {"a-group", ST_GROUP, ACC_UNLOCKED, false, true, "ok"},
        {"n-1", ST_APP, ACC_FIRST, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(OPEN, PWD_OPEN, OPEN, assets), &sr);
}

/* first_unlock: DEVICE_FIRST_UNLOCKED refused when NEW has a password, a locked screen and has
 * not been unlocked since boot. DEVICE_UNLOCKED assets are refused by `unlocked` first. */
static void test_rule_first_unlock_new(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"f-1", ST_APP, ACC_FIRST, false, false, "first_unlock"},
        {"f-enc", ST_ENC, ACC_FIRST, false, false, "first_unlock"},
        {"f-group-any", ST_GROUP, ACC_FIRST, false, true, "first_unlock"},
        {"u-1", ST_APP, ACC_UNLOCKED, false, false, "unlocked"},
        {"p-1", ST_APP, ACC_POWERED, false, false, "ok"},
        {"p-group-rp", ST_GROUP, ACC_POWERED, true, false, "ok"},
        {"p-enc", ST_ENC, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_OPEN, PWD_COLD, assets), &sr);
}

/* first_unlock on OLD's side: OLD was not first-unlocked when the backup was taken. */
static void test_rule_first_unlock_old(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"f-1", ST_APP, ACC_FIRST, false, false, "first_unlock"},
        {"f-group", ST_GROUP, ACC_FIRST, false, false, "first_unlock"},
        {"u-enc", ST_ENC, ACC_UNLOCKED, false, false, "unlocked"},
        {"p-1", ST_APP, ACC_POWERED, false, false, "ok"},
        {"p-any", ST_APP, ACC_POWERED, false, true, "ok"},
        {"p-enc", ST_ENC, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, PWD_COLD, OPEN, assets), &sr);
}

/* Several rules fail at once: the first of §7's table is the one counted. OLD has no password
 * at backup time, NEW is locked and not unlocked since boot: every rule can fail. */
static void test_rule_order(void **st)
{
    (void)st;
    static const case_asset assets[] = {
        {"rp-unl-any", ST_APP, ACC_UNLOCKED, true, true, "password"},
        {"rp-first", ST_ENC, ACC_FIRST, true, false, "password"},
        {"unl-any", ST_APP, ACC_UNLOCKED, false, true, "unlocked"},
        {"unl-any-group", ST_GROUP, ACC_UNLOCKED, false, true, "unlocked"},
        {"first-any", ST_APP, ACC_FIRST, false, true, "user_auth"},
        {"first-any-enc", ST_ENC, ACC_FIRST, false, true, "user_auth"},
        {"powered-any", ST_GROUP, ACC_POWERED, false, true, "user_auth"},
        {"first", ST_APP, ACC_FIRST, false, false, "first_unlock"},
        {"powered", ST_APP, ACC_POWERED, false, false, "ok"},
        {"powered-enc", ST_ENC, ACC_POWERED, false, false, "ok"},
    };
    scenario_run sr;
    run_scenario(&SCENARIO(PWD_OPEN, OPEN, PWD_COLD, assets), &sr);
}

/* ---- participation, permissions, validation ----------------------------------------------- */

static void add_synced(const char *token, const char *alias, const char *secret,
                       const char *sync_type)
{
    char b64[256];
    json_decref(tl_asset_addf(srv, token, "{\"alias\":\"%s\",\"secret\":\"%s\",\"syncType\":%s}",
                              alias, tl_b64(b64, sizeof b64, secret, strlen(secret)), sync_type));
}

static void expect_secret(const char *token, const char *alias, const char *want)
{
    char got[256];
    tl_get_secret(srv, token, alias, NULL, got, sizeof got);
    assert_string_equal(got, want);
}

static void expect_no_asset(const char *token, const char *alias)
{
    char enc[300];
    tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/assets/%s", tl_urlenc(enc, sizeof enc, alias));
    if (r->status != 404)
        fail_msg("%s should be absent: %ld %s", alias, r->status, r->body);
    tl_expect_problem(r, 404, "NOT_FOUND");
    tl_resp_free(r);
}

static long restores_for(const char *backup_id, const char *target)
{
    return (long)tl_db_count("SELECT count(*) FROM restores WHERE backup_id = $1 AND "
                             "target_device_id = $2",
                             backup_id, target, NULL);
}

static void test_participation_other_device(void **st)
{
    (void)st;
    char account[64], app_id[80], bid[64], rid[64];
    uniq(account, sizeof account, "acct");
    uniq(app_id, sizeof app_id, "com.example.part");
    tl_device old_dev = tl_device_create(srv, "old", account);
    tl_device new_dev = tl_device_create(srv, "new", account);
    tl_app old_app = tl_app_install(srv, old_dev.id, app_id, NULL, false);
    tl_app new_app = tl_app_install(srv, new_dev.id, app_id, NULL, false);
    add_synced(old_app.token, "td", "s-td", "[\"TRUSTED_DEVICE\"]");
    add_synced(old_app.token, "td-this", "s-td-this", "[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"]");
    add_synced(old_app.token, "td-ta", "s-td-ta", "[\"TRUSTED_DEVICE\",\"TRUSTED_ACCOUNT\"]");
    add_synced(old_app.token, "this", "s-this", "[\"THIS_DEVICE\"]");
    add_synced(old_app.token, "never", "s-never", "[]");
    add_synced(old_app.token, "default-never", "s-default", "[]");
    add_synced(old_app.token, "ta-only", "s-ta", "[\"TRUSTED_ACCOUNT\"]");
    /* In the backup: every asset whose syncType has TRUSTED_DEVICE or THIS_DEVICE. */
    make_backup(srv->admin_token, old_dev.id, 4, bid, sizeof bid);
    make_restore(srv->admin_token, bid, new_dev.id, 3, rid, sizeof rid);
    json_t *job = wait_restore(srv->admin_token, rid);
    static const long none[NRULES] = {0};
    expect_job(job, rid, 3, 3, none);
    json_decref(job);
    expect_secret(new_app.token, "td", "s-td");
    expect_secret(new_app.token, "td-this", "s-td-this");
    expect_secret(new_app.token, "td-ta", "s-td-ta");
    expect_no_asset(new_app.token, "this");
    expect_no_asset(new_app.token, "never");
    expect_no_asset(new_app.token, "default-never");
    expect_no_asset(new_app.token, "ta-only");
    char list[256];
    assert_string_equal(tl_list(srv, new_app.token, "", list, sizeof list), "td,td-this,td-ta");
    expect_sync_result(new_app.token, "", 3, 0, rid);
    /* syncType is kept. */
    tl_resp *r = tl_http(srv, "GET", "/assets/td-this", new_app.token, NULL);
    tl_expect_status(r, 200);
    json_t *want = json_pack("[s,s]", "THIS_DEVICE", "TRUSTED_DEVICE");
    assert_true(json_equal(json_object_get(r->json, "syncType"), want));
    json_decref(want);
    tl_resp_free(r);
}

static void test_participation_same_device(void **st)
{
    (void)st;
    char app_id[80], bid[64], rid[64], path[300];
    uniq(app_id, sizeof app_id, "com.example.self");
    /* No accountId at all: a restore onto the device itself needs none. */
    tl_device dev = tl_device_create(srv, "self", NULL);
    tl_app app = tl_app_install(srv, dev.id, app_id, NULL, false);
    add_synced(app.token, "this", "s-this", "[\"THIS_DEVICE\"]");
    add_synced(app.token, "this-td", "s-this-td", "[\"TRUSTED_DEVICE\",\"THIS_DEVICE\"]");
    add_synced(app.token, "td", "s-td", "[\"TRUSTED_DEVICE\"]");
    add_synced(app.token, "never", "s-never", "[]");
    make_backup(dev.token, dev.id, 3, bid, sizeof bid);
    /* Lose two of them and change a third after the backup. */
    tl_req_status(srv, "DELETE", "/assets/this", app.token, NULL, 204);
    tl_req_status(srv, "DELETE", "/assets/td", app.token, NULL, 204);
    char b64[64];
    tl_pathf(path, sizeof path, "{\"secret\":\"%s\"}", tl_b64(b64, sizeof b64, "changed", 7));
    tl_req_status(srv, "PATCH", "/assets/this-td", app.token, path, 200);
    expect_secret(app.token, "this-td", "changed");

    /* The device restores onto itself with its own token: THIS_DEVICE records take part. */
    make_restore(dev.token, bid, dev.id, 2, rid, sizeof rid);
    json_t *job = wait_restore(dev.token, rid);
    static const long none[NRULES] = {0};
    expect_job(job, rid, 2, 2, none);
    json_decref(job);
    expect_secret(app.token, "this", "s-this");
    expect_secret(app.token, "this-td", "s-this-td"); /* the backup's secret wins */
    expect_no_asset(app.token, "td");                 /* TRUSTED_DEVICE only: not this move */
    expect_secret(app.token, "never", "s-never");     /* never in a backup, untouched */
    expect_sync_result(app.token, "", 2, 0, rid);
}

static void test_restore_permissions_and_validation(void **st)
{
    (void)st;
    char acct[64], acct2[64], bid[64], bid_noacct[64], rid[64], body[512], path[128];
    uniq(acct, sizeof acct, "acct");
    uniq(acct2, sizeof acct2, "acct");
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(srv, "new", acct);
    tl_device new2 = tl_device_create(srv, "new2", acct);
    tl_device foreign = tl_device_create(srv, "foreign", acct2);
    tl_device lone = tl_device_create(srv, "lone", NULL);
    tl_device lone2 = tl_device_create(srv, "lone2", NULL);
    tl_app app = tl_app_install(srv, old_dev.id, "com.example.perm", NULL, false);
    tl_app lone_app = tl_app_install(srv, lone.id, "com.example.perm", NULL, false);
    add_synced(app.token, "x", "s-x", "[\"TRUSTED_DEVICE\"]");
    add_synced(lone_app.token, "x", "s-x", "[\"TRUSTED_DEVICE\",\"THIS_DEVICE\"]");
    make_backup(srv->admin_token, old_dev.id, 1, bid, sizeof bid);
    make_backup(lone.token, lone.id, 1, bid_noacct, sizeof bid_noacct);

#define RESTORE_BODY(b, t)                                                                         \
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", (b), (t))
    /* Another account, or no account on one side: 403 and no job. */
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(bid, foreign.id), 403,
                   "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid, foreign.id), 0);
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(bid, lone.id), 403,
                   "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid, lone.id), 0);
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(bid_noacct, lone2.id),
                   403, "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid_noacct, lone2.id), 0);
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(bid_noacct, new_dev.id),
                   403, "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid_noacct, new_dev.id), 0);
    /* The foreign device's own token cannot pull it either. */
    tl_req_problem(srv, "POST", "/restores", foreign.token, RESTORE_BODY(bid, foreign.id), 403,
                   "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid, foreign.id), 0);

    /* A device token restores onto itself only. */
    tl_req_problem(srv, "POST", "/restores", new_dev.token, RESTORE_BODY(bid, new2.id), 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/restores", old_dev.token, RESTORE_BODY(bid, new_dev.id), 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/restores", app.token, RESTORE_BODY(bid, old_dev.id), 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/restores", NULL, RESTORE_BODY(bid, new_dev.id), 401,
                   "PERMISSION_DENIED");
    assert_int_equal(restores_for(bid, new2.id), 0);
    assert_int_equal(restores_for(bid, new_dev.id), 0);
    make_restore(new_dev.token, bid, new_dev.id, 1, rid, sizeof rid);
    json_decref(wait_restore(new_dev.token, rid));
    assert_int_equal(restores_for(bid, new_dev.id), 1);
    /* The same account, the admin: fine (and a second job from the same backup is fine). */
    make_restore(srv->admin_token, bid, new2.id, 1, rid, sizeof rid);
    json_decref(wait_restore(srv->admin_token, rid));

    /* Unknown backup or target: 404. */
    static const char *const nobody = "00000000-0000-4000-8000-000000000000";
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(nobody, new_dev.id),
                   404, "NOT_FOUND");
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, RESTORE_BODY(bid, nobody), 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "POST", "/backups", srv->admin_token,
                   tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", nobody), 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/restores/%s", nobody),
                   srv->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/backups/%s", nobody), srv->admin_token,
                   NULL, 404, "NOT_FOUND");

    /* Malformed: 400 naming the field, nothing created. */
    long before = (long)tl_db_count("SELECT count(*) FROM restores", NULL);
    struct {
        const char *body, *field;
    } bad[] = {
        {"{\"backupId\":\"not-a-uuid\",\"targetDeviceId\":\"%s\"}", "backupId"},
        {"{\"backupId\":\"%s\",\"targetDeviceId\":\"1234\"}", "targetDeviceId"},
        {"{\"backupId\":\"%s\"}", "targetDeviceId"},
        {"{\"backupId\":7,\"targetDeviceId\":\"%s\"}", "backupId"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_pathf(body, sizeof body, bad[i].body, i == 1 || i == 2 ? bid : new_dev.id);
        tl_resp *r = tl_http(srv, "POST", "/restores", srv->admin_token, body);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", bad[i].field);
        tl_resp_free(r);
    }
    tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\",\"priority\":1}",
             bid, new_dev.id);
    tl_resp *r = tl_http(srv, "POST", "/restores", srv->admin_token, body);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "priority");
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/backups", srv->admin_token,
                tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\",\"full\":true}", old_dev.id));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "full");
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/backups", srv->admin_token, "{\"deviceId\":\"abc\"}");
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "deviceId");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/restores/not-a-uuid", srv->admin_token, NULL);
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/backups/12345678-1234-1234-1234-12345678901", srv->admin_token, NULL);
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    tl_resp_free(r);
    assert_int_equal(tl_db_count("SELECT count(*) FROM restores", NULL), before);
#undef RESTORE_BODY
}

/* ---- no plaintext in backups, local labels ------------------------------------------------ */

static void hex_of(char *out, const char *s)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[(unsigned char)s[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)s[i] & 15];
    }
    out[2 * n] = 0;
}

/* The text does not hold s, nor its hex, nor its base64. */
static void expect_not_in(const char *text, const char *s, const char *what)
{
    char hex[512], b64[512];
    hex_of(hex, s);
    tl_b64(b64, sizeof b64, s, strlen(s));
    /* Leave off the padding, and a tail that depends on what follows. */
    b64[(strlen(s) / 3) * 4] = 0;
    if (strstr(text, s))
        fail_msg("%s \"%s\" is in the backup in plaintext", what, s);
    if (strstr(text, hex))
        fail_msg("%s \"%s\" is in the backup as hex", what, s);
    if (strstr(text, b64))
        fail_msg("%s \"%s\" is in the backup as base64", what, s);
}

static void test_backup_holds_no_plaintext(void **st)
{
    (void)st;
    char acct[64], app_id[80], bid[64], rid[64], rnd[40], b64[256];
    char secret_plain[96], secret_enc[96], enc_label[96], enc_crit[96], local_plain[96],
        local_enc[96];
    uniq(acct, sizeof acct, "acct");
    uniq(app_id, sizeof app_id, "com.example.seal");
    snprintf(secret_plain, sizeof secret_plain, "TopSecretPlain-%s",
             tl_unique(rnd, sizeof rnd, "q"));
    snprintf(secret_enc, sizeof secret_enc, "TopSecretEnc-%s", tl_unique(rnd, sizeof rnd, "q"));
    snprintf(enc_label, sizeof enc_label, "EncryptedLabel-%s", tl_unique(rnd, sizeof rnd, "q"));
    snprintf(enc_crit, sizeof enc_crit, "EncryptedCritical-%s", tl_unique(rnd, sizeof rnd, "q"));
    snprintf(local_plain, sizeof local_plain, "LocalLabel-%s", tl_unique(rnd, sizeof rnd, "q"));
    snprintf(local_enc, sizeof local_enc, "LocalEncLabel-%s", tl_unique(rnd, sizeof rnd, "q"));
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(srv, "new", acct);
    tl_app old_app = tl_app_install(srv, old_dev.id, app_id, NULL, false);
    tl_app new_app = tl_app_install(srv, new_dev.id, app_id, NULL, false);
    json_decref(tl_asset_addf(
        srv, old_app.token,
        "{\"alias\":\"plain-asset\",\"secret\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"],"
        "\"dataLabelNormal1\":\"normal-one\",\"dataLabelCritical2\":\"critical-two\","
        "\"dataLabelNormalLocal1\":\"%s\",\"dataLabelNormalLocal4\":\"local-four\"}",
        tl_b64(b64, sizeof b64, secret_plain, strlen(secret_plain)), local_plain));
    json_decref(tl_asset_addf(
        srv, old_app.token,
        "{\"alias\":\"enc-asset\",\"secret\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"],"
        "\"requireAttrEncrypted\":true,\"dataLabelNormal3\":\"%s\",\"dataLabelCritical1\":\"%s\","
        "\"dataLabelNormalLocal2\":\"%s\"}",
        tl_b64(b64, sizeof b64, secret_enc, strlen(secret_enc)), enc_label, enc_crit, local_enc));
    make_backup(srv->admin_token, old_dev.id, 2, bid, sizeof bid);

    char *dump = tl_db_dump("SELECT r::text FROM backup_records r WHERE backup_id = $1 "
                            "UNION ALL SELECT b::text FROM backups b WHERE id = $1",
                            bid, NULL);
    /* The query saw the records (the aliases are not secret). */
    assert_non_null(strstr(dump, "plain-asset"));
    assert_non_null(strstr(dump, "enc-asset"));
    expect_not_in(dump, secret_plain, "a secret");
    expect_not_in(dump, secret_enc, "a secret");
    expect_not_in(dump, enc_label, "an encrypted label");
    expect_not_in(dump, enc_crit, "an encrypted label");
    expect_not_in(dump, local_plain, "a local label");
    expect_not_in(dump, local_enc, "a local label");
    free(dump);

    make_restore(srv->admin_token, bid, new_dev.id, 2, rid, sizeof rid);
    json_t *job = wait_restore(srv->admin_token, rid);
    static const long none[NRULES] = {0};
    expect_job(job, rid, 2, 2, none);
    json_decref(job);

    /* Normal and critical labels moved, local ones did not. */
    tl_resp *r = tl_http(srv, "GET", "/assets/plain-asset", new_app.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "normal-one");
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical2"), "critical-two");
    for (int i = 1; i <= 4; i++) {
        char k[32];
        snprintf(k, sizeof k, "dataLabelNormalLocal%d", i);
        json_t *v = json_object_get(r->json, k);
        assert_true(!v || json_is_null(v));
    }
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/enc-asset?requireAttrEncrypted=true", new_app.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal3"), enc_label);
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical1"), enc_crit);
    json_t *v = json_object_get(r->json, "dataLabelNormalLocal2");
    assert_true(!v || json_is_null(v));
    tl_resp_free(r);
    /* The labels on OLD are still there (the backup does not change OLD). */
    r = tl_http(srv, "GET", "/assets/plain-asset", old_app.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal1"), local_plain);
    tl_resp_free(r);

    char got[128], q[300], enc[300];
    expect_secret(new_app.token, "plain-asset", secret_plain);
    tl_get_secret(srv, new_app.token, "enc-asset", "requireAttrEncrypted=true", got, sizeof got);
    assert_string_equal(got, secret_enc);
    /* The encrypted labels are filterable on NEW (blind index made with NEW's key). */
    assert_string_equal(
        tl_list(srv, new_app.token,
                tl_pathf(q, sizeof q, "requireAttrEncrypted=true&dataLabelNormal3=%s",
                         tl_urlenc(enc, sizeof enc, enc_label)),
                got, sizeof got),
        "enc-asset");
    assert_string_equal(
        tl_list(srv, old_app.token, "dataLabelNormalLocal4=local-four", got, sizeof got),
        "plain-asset");
    assert_string_equal(
        tl_list(srv, new_app.token, "dataLabelNormalLocal4=local-four", got, sizeof got), "404");
    /* ... and the store on NEW holds the encrypted labels in no readable form either. */
    dump = tl_db_dump("SELECT a::text FROM assets a WHERE device_id = $1", new_dev.id, NULL);
    assert_non_null(strstr(dump, "enc-asset"));
    expect_not_in(dump, enc_label, "an encrypted label");
    expect_not_in(dump, secret_enc, "a secret");
    expect_not_in(dump, secret_plain, "a secret");
    free(dump);
}

/* ---- conflicts, replaced sync results ------------------------------------------------------ */

static void test_conflicts_and_replaced_sync_result(void **st)
{
    (void)st;
    char acct[64], app_a[80], app_b[80], group[80], bid1[64], rid1[64], bid2[64], rid2[64];
    uniq(acct, sizeof acct, "acct");
    uniq(app_a, sizeof app_a, "com.example.conflict-a");
    uniq(app_b, sizeof app_b, "com.example.conflict-b");
    uniq(group, sizeof group, "group.conflict");
    const char *groups[] = {group, NULL};
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(srv, "new", acct);
    tl_app old_a = tl_app_install(srv, old_dev.id, app_a, groups, false);
    tl_app new_a = tl_app_install(srv, new_dev.id, app_a, groups, false);
    tl_app new_b = tl_app_install(srv, new_dev.id, app_b, NULL, false);
    char b64[64], gq[200], genc[200];
    tl_pathf(gq, sizeof gq, "groupId=%s", tl_urlenc(genc, sizeof genc, group));

    set_state(old_dev.id, PWD_OPEN);
    add_synced(old_a.token, "same", "from-backup", "[\"TRUSTED_DEVICE\"]");
    add_synced(old_a.token, "only-old", "old-only", "[\"TRUSTED_DEVICE\"]");
    json_decref(tl_asset_addf(srv, old_a.token,
                              "{\"alias\":\"g-1\",\"secret\":\"%s\",\"groupId\":\"%s\","
                              "\"syncType\":[\"TRUSTED_DEVICE\"],\"requirePasswordSet\":true}",
                              tl_b64(b64, sizeof b64, "group-secret", 12), group));

    /* NEW already has "same" for A (other attributes and secret), in A's encrypted store, and
     * for B; and an asset of A the backup does not have. */
    json_decref(tl_asset_addf(srv, new_a.token,
                              "{\"alias\":\"same\",\"secret\":\"%s\",\"accessibility\":"
                              "\"DEVICE_POWERED_ON\",\"dataLabelNormal1\":\"on-new\"}",
                              tl_b64(b64, sizeof b64, "on-new", 6)));
    json_decref(tl_asset_addf(
        srv, new_a.token, "{\"alias\":\"same\",\"secret\":\"%s\",\"requireAttrEncrypted\":true}",
        tl_b64(b64, sizeof b64, "enc-on-new", 10)));
    add_synced(new_b.token, "same", "b-on-new", "[]");
    add_synced(new_a.token, "only-new", "new-only", "[]");

    set_state(new_dev.id, PWD_OPEN);
    make_backup(srv->admin_token, old_dev.id, 3, bid1, sizeof bid1);
    make_restore(srv->admin_token, bid1, new_dev.id, 3, rid1, sizeof rid1);
    json_t *job = wait_restore(srv->admin_token, rid1);
    static const long none[NRULES] = {0};
    expect_job(job, rid1, 3, 3, none);
    json_decref(job);

    expect_secret(new_a.token, "same", "from-backup");
    tl_resp *r = tl_http(srv, "GET", "/assets/same", new_a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "accessibility"), "DEVICE_FIRST_UNLOCKED");
    json_t *lbl = json_object_get(r->json, "dataLabelNormal1");
    assert_true(!lbl || json_is_null(lbl)); /* the restored record replaced the whole asset */
    tl_resp_free(r);
    expect_secret(new_a.token, "only-old", "old-only");
    expect_secret(new_a.token, "only-new", "new-only");
    char got[128];
    tl_get_secret(srv, new_a.token, "same", "requireAttrEncrypted=true", got, sizeof got);
    assert_string_equal(got, "enc-on-new");
    tl_get_secret(srv, new_a.token, "g-1", gq, got, sizeof got);
    assert_string_equal(got, "group-secret");
    expect_secret(new_b.token, "same", "b-on-new");
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", new_dev.id, NULL), 6);
    expect_sync_result(new_a.token, "", 2, 0, rid1);
    expect_sync_result(new_a.token, gq, 1, 0, rid1);
    expect_sync_result(new_b.token, "", 0, 0, NULL);

    /* A second backup: only A's own store (the group's asset is gone), and OLD's password gone.
     * Its restore replaces A's result and leaves the group's, which it had no record of. */
    tl_req_status(srv, "DELETE", "/assets/only-old", old_a.token, NULL, 204);
    json_decref(tl_asset_addf(srv, old_a.token,
                              "{\"alias\":\"rp\",\"secret\":\"%s\",\"requirePasswordSet\":true,"
                              "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              tl_b64(b64, sizeof b64, "rp", 2)));
    char path[300];
    tl_pathf(path, sizeof path, "/assets/g-1?%s", gq);
    tl_req_status(srv, "DELETE", path, old_a.token, NULL, 204);
    tl_pathf(path, sizeof path, "{\"secret\":\"%s\"}", tl_b64(b64, sizeof b64, "second", 6));
    tl_req_status(srv, "PATCH", "/assets/same", old_a.token, path, 200);
    set_state(old_dev.id, OPEN);
    make_backup(srv->admin_token, old_dev.id, 2, bid2, sizeof bid2);
    make_restore(srv->admin_token, bid2, new_dev.id, 2, rid2, sizeof rid2);
    job = wait_restore(srv->admin_token, rid2);
    static const long one_pwd[NRULES] = {1, 0, 0, 0};
    expect_job(job, rid2, 2, 1, one_pwd);
    json_decref(job);
    expect_secret(new_a.token, "same", "second");
    expect_no_asset(new_a.token, "rp");
    expect_secret(new_a.token, "only-old", "old-only"); /* a restore never removes */
    expect_sync_result(new_a.token, "", 2, 1, rid2);
    /* The group had no record in the second restore: its result is still the first one. */
    expect_sync_result(new_a.token, gq, 1, 0, rid1);
}

/* ---- GET /sync-result ----------------------------------------------------------------------- */

static void test_sync_result_without_sync_and_bad_params(void **st)
{
    (void)st;
    char group[80], other_group[80], app_id[80], q[400], enc[300];
    uniq(group, sizeof group, "group.sr");
    uniq(other_group, sizeof other_group, "group.sr-other");
    uniq(app_id, sizeof app_id, "com.example.sr");
    const char *groups[] = {group, NULL};
    tl_device dev = tl_device_create(srv, NULL, NULL);
    tl_app app = tl_app_install(srv, dev.id, app_id, groups, false);

    /* The exact answer when nothing was synced. */
    tl_resp *r = tl_http(srv, "GET", "/sync-result", app.token, NULL);
    tl_expect_status(r, 200);
    assert_true(strncmp(r->content_type, "application/json", 16) == 0);
    json_t *want = json_loads("{\"resultCode\":0,\"totalCount\":0,\"failedCount\":0,"
                              "\"restoreId\":null,\"finishedAt\":null}",
                              0, NULL);
    assert_true(json_equal(want, r->json));
    tl_resp_free(r);
    const char *fine[] = {"requireAttrEncrypted=true", "requireAttrEncrypted=false", NULL, NULL};
    tl_pathf(q, sizeof q, "groupId=%s&requireAttrEncrypted=true",
             tl_urlenc(enc, sizeof enc, group));
    fine[2] = q;
    for (int i = 0; fine[i]; i++) {
        r = tl_httpf(srv, "GET", app.token, NULL, "/sync-result?%s", fine[i]);
        tl_expect_status(r, 200);
        if (!json_equal(want, r->json))
            fail_msg("GET /sync-result?%s: %s", fine[i], r->body);
        tl_resp_free(r);
    }
    json_decref(want);

    /* Any bad parameter: 400 PARAM_VERIFICATION_FAILED. */
    char long_group[200];
    memset(long_group, 'g', 128);
    long_group[128] = 0;
    char tmp[300];
    const char *bad[] = {
        "foo=1",
        "requireAttrEncrypted=yes",
        "requireAttrEncrypted=",
        "requireAttrEncrypted=TRUE",
        "requireAttrEncrypted=true&requireAttrEncrypted=true",
        "groupId=short",
        "groupId=",
        tl_pathf(tmp, sizeof tmp, "groupId=%s", long_group),
        "returnType=ALL",
        "alias=x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_httpf(srv, "GET", app.token, NULL, "/sync-result?%s", bad[i]);
        if (r->status != 400)
            fail_msg("GET /sync-result?%s: want 400, got %ld %s", bad[i], r->status, r->body);
        tl_expect_problem(r, 400, "PARAM_VERIFICATION_FAILED");
        tl_resp_free(r);
    }
    /* A group the app is not in: 403. */
    r = tl_httpf(srv, "GET", app.token, NULL, "/sync-result?groupId=%s",
                 tl_urlenc(enc, sizeof enc, other_group));
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    /* Only installations ask for their sync result. */
    tl_req_problem(srv, "GET", "/sync-result", NULL, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/sync-result", dev.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/sync-result", srv->admin_token, NULL, 403, "PERMISSION_DENIED");
}

/* ---- tenant isolation ------------------------------------------------------------------------ */

static void test_tenant_isolation(void **st)
{
    (void)st;
    char acct[64], app_a[80], app_b[80], group[80], bid[64], rid[64], b64[64], gq[300], genc[300];
    uniq(acct, sizeof acct, "acct");
    uniq(app_a, sizeof app_a, "com.example.iso-a");
    uniq(app_b, sizeof app_b, "com.example.iso-b");
    uniq(group, sizeof group, "group.iso");
    tl_pathf(gq, sizeof gq, "groupId=%s", tl_urlenc(genc, sizeof genc, group));
    const char *groups[] = {group, NULL};
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(srv, "new", acct);
    tl_device other = tl_device_create(srv, "other", acct);
    tl_app old_a = tl_app_install(srv, old_dev.id, app_a, groups, false);
    tl_app old_b = tl_app_install(srv, old_dev.id, app_b, NULL, false);
    tl_app new_a = tl_app_install(srv, new_dev.id, app_a, groups, false);
    tl_app new_b = tl_app_install(srv, new_dev.id, app_b, NULL, false);
    tl_app other_a = tl_app_install(srv, other.id, app_a, groups, false);

    add_synced(old_a.token, "a-1", "sa-1", "[\"TRUSTED_DEVICE\"]");
    add_synced(old_a.token, "a-2", "sa-2", "[\"TRUSTED_DEVICE\"]");
    json_decref(tl_asset_addf(srv, old_a.token,
                              "{\"alias\":\"a-unl\",\"secret\":\"%s\",\"accessibility\":"
                              "\"DEVICE_UNLOCKED\",\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              tl_b64(b64, sizeof b64, "x", 1)));
    json_decref(tl_asset_addf(srv, old_a.token,
                              "{\"alias\":\"g-1\",\"secret\":\"%s\",\"groupId\":\"%s\","
                              "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              tl_b64(b64, sizeof b64, "sg-1", 4), group));
    add_synced(old_b.token, "b-local", "sb", "[]");
    /* B's asset with A's alias on NEW before the restore. */
    add_synced(new_b.token, "a-1", "b-own", "[]");

    set_state(old_dev.id, PWD_LOCKED); /* a-unl is refused */
    make_backup(srv->admin_token, old_dev.id, 4, bid, sizeof bid);
    make_restore(srv->admin_token, bid, new_dev.id, 4, rid, sizeof rid);
    json_t *job = wait_restore(srv->admin_token, rid);
    static const long one_unl[NRULES] = {0, 1, 0, 0};
    expect_job(job, rid, 4, 3, one_unl);
    json_decref(job);

    /* A sees its result; B, on the same device, sees none and none of A's assets. */
    expect_sync_result(new_a.token, "", 3, 1, rid);
    expect_sync_result(new_a.token, gq, 1, 0, rid);
    expect_sync_result(new_b.token, "", 0, 0, NULL);
    expect_sync_result(new_b.token, "requireAttrEncrypted=true", 0, 0, NULL);
    tl_resp *r = tl_httpf(srv, "GET", new_b.token, NULL, "/sync-result?%s", gq);
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    expect_secret(new_a.token, "a-1", "sa-1");
    expect_secret(new_b.token, "a-1", "b-own");
    expect_no_asset(new_b.token, "a-2");
    char list[256];
    assert_string_equal(tl_list(srv, new_b.token, "", list, sizeof list), "a-1");
    assert_string_equal(tl_list(srv, new_a.token, "", list, sizeof list), "a-1,a-2");
    /* Another device of the account: nothing. */
    expect_sync_result(other_a.token, "", 0, 0, NULL);
    expect_sync_result(other_a.token, gq, 0, 0, NULL);
    expect_no_asset(other_a.token, "a-1");
    assert_string_equal(tl_list(srv, other_a.token, "", list, sizeof list), "404");
    /* OLD's results are untouched too. */
    expect_sync_result(old_a.token, "", 0, 0, NULL);

    /* In the database: NEW holds exactly its own asset plus the accepted records, each for the
     * owner it had on OLD; OLD and the other device are unchanged. */
    char *rows = tl_db_dump("SELECT owner_kind, owner, attr_enc, alias FROM assets "
                            "WHERE device_id = $1 ORDER BY owner_kind, owner, alias",
                            new_dev.id, NULL);
    char want[1024];
    tl_pathf(want, sizeof want, "0\t%s\tf\ta-1\n0\t%s\tf\ta-2\n0\t%s\tf\ta-1\n1\t%s\tf\tg-1\n",
             app_a, app_a, app_b, group);
    assert_string_equal(rows, want);
    free(rows);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", old_dev.id, NULL), 5);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", other.id, NULL), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM sync_results WHERE device_id <> $1 AND "
                                 "restore_id = $2",
                                 new_dev.id, rid, NULL),
                     0);
}

/* ---- GET /backups/{id}, GET /restores/{id} --------------------------------------------------- */

static void test_backup_and_restore_get_authorization(void **st)
{
    (void)st;
    char acct[64], bid[64], rid[64], path[128];
    uniq(acct, sizeof acct, "acct");
    tl_device old_dev = tl_device_create(srv, "old", acct);
    tl_device new_dev = tl_device_create(srv, "new", acct);
    tl_device stranger = tl_device_create(srv, "stranger", acct);
    tl_app app = tl_app_install(srv, old_dev.id, "com.example.get", NULL, false);
    tl_app new_app = tl_app_install(srv, new_dev.id, "com.example.get", NULL, false);
    add_synced(app.token, "k", "v", "[\"TRUSTED_DEVICE\"]");
    add_synced(app.token, "k2", "v2", "[\"THIS_DEVICE\"]");
    make_backup(old_dev.token, old_dev.id, 2, bid, sizeof bid);
    /* A device backs up only itself. */
    char body[128];
    tl_req_problem(srv, "POST", "/backups", new_dev.token,
                   tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", old_dev.id), 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/backups", app.token, body, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/backups", NULL, body, 401, "PERMISSION_DENIED");

    tl_pathf(path, sizeof path, "/backups/%s", bid);
    const char *ok[] = {srv->admin_token, old_dev.token};
    for (int i = 0; i < 2; i++) {
        tl_resp *r = tl_http(srv, "GET", path, ok[i], NULL);
        tl_expect_status(r, 200);
        assert_string_equal(tl_jstr(r->json, "id"), bid);
        assert_string_equal(tl_jstr(r->json, "deviceId"), old_dev.id);
        assert_int_equal(tl_jint(r->json, "recordCount"), 2);
        assert_non_null(tl_jstr(r->json, "createdAt"));
        tl_resp_free(r);
    }
    tl_req_problem(srv, "GET", path, new_dev.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, stranger.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, app.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, NULL, NULL, 401, "PERMISSION_DENIED");

    make_restore(srv->admin_token, bid, new_dev.id, 1, rid, sizeof rid);
    json_decref(wait_restore(srv->admin_token, rid));
    tl_pathf(path, sizeof path, "/restores/%s", rid);
    const char *ok2[] = {srv->admin_token, new_dev.token};
    for (int i = 0; i < 2; i++) {
        tl_resp *r = tl_http(srv, "GET", path, ok2[i], NULL);
        tl_expect_status(r, 200);
        assert_string_equal(tl_jstr(r->json, "id"), rid);
        assert_string_equal(tl_jstr(r->json, "status"), "done");
        assert_int_equal(tl_jint(r->json, "total"), 1);
        assert_int_equal(tl_jint(r->json, "accepted"), 1);
        tl_resp_free(r);
    }
    /* The backup's device is not the target: it may not read the job. */
    tl_req_problem(srv, "GET", path, old_dev.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, stranger.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, new_app.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", path, NULL, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/restores/6f0e2c8a-3b7d-4c1e-9a5f-0d2b4e6a8c10", srv->admin_token,
                   NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/backups/6f0e2c8a-3b7d-4c1e-9a5f-0d2b4e6a8c10", srv->admin_token,
                   NULL, 404, "NOT_FOUND");
    /* Query parameters are not taken. */
    tl_pathf(path, sizeof path, "/restores/%s?x=1", rid);
    tl_req_problem(srv, "GET", path, srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_password_new_without_password),
        cmocka_unit_test(test_rule_password_old_without_password),
        cmocka_unit_test(test_rule_password_both_with_password),
        cmocka_unit_test(test_rule_unlocked_old_locked),
        cmocka_unit_test(test_rule_unlocked_new_locked),
        cmocka_unit_test(test_rule_unlocked_screen_without_password),
        cmocka_unit_test(test_rule_user_auth),
        cmocka_unit_test(test_rule_user_auth_old_with_password),
        cmocka_unit_test(test_rule_first_unlock_new),
        cmocka_unit_test(test_rule_first_unlock_old),
        cmocka_unit_test(test_rule_order),
        cmocka_unit_test(test_participation_other_device),
        cmocka_unit_test(test_participation_same_device),
        cmocka_unit_test(test_restore_permissions_and_validation),
        cmocka_unit_test(test_backup_holds_no_plaintext),
        cmocka_unit_test(test_conflicts_and_replaced_sync_result),
        cmocka_unit_test(test_sync_result_without_sync_and_bad_params),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_backup_and_restore_get_authorization),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
