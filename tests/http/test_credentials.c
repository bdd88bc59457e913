/* HTTP black-box tests: credentials, spec §13 (issue 14) — token rotation and device removal,
 * seen through two `assetd serve` instances on one database (as test_scaleout.c): after a
 * rotation or a removal made through one instance, every old token is 401 on every route of
 * both at once (both remember principals, ASSETD_AUTH_CACHE_MS: the first with the value set here,
 * the second with the default; each checks a remembered principal on every request). Rotation keeps the assets and ends the
 * installation's live challenges. Removal destroys the device's data keys (no key row left that
 * could open anything of it), its assets, challenges, sync results and installations; its queued
 * restores end failed; restores onto it are 404; its backup still restores onto another device of
 * the account (unless deleteBackups=true, refused while a restore onto another device uses it); the
 * audit log keeps its history. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

static tl_server *s1, *s2;
static char admin_kv[128];

static int setup(void **st)
{
    (void)st;
    char tok[64];
    if (sodium_init() < 0)
        return -1;
    snprintf(admin_kv, sizeof admin_kv, "ASSETD_ADMIN_TOKEN=%s", tl_random_token(tok));
    /* s1 caches principals: a rotation or removal made through it must still be seen at once. */
    const char *const env1[] = {"ASSETD_SYNC_WORKERS=0", "ASSETD_AUTH_CACHE_MS=60000", admin_kv,
                                NULL};
    const char *const env2[] = {"ASSETD_SYNC_WORKERS=0", admin_kv, NULL};
    s1 = tl_server_start(env1);
    s2 = tl_server_start(env2);
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

/* Every route an installation token may use, and every route a device token may use (for
 * device_id), answers 401 to token on both instances. */
static void expect_app_token_dead(const char *token)
{
    static const char *const routes[][3] = {
        {"POST", "/assets", "{\"alias\":\"z\",\"secret\":\"czE=\"}"},
        {"GET", "/assets", NULL},
        {"DELETE", "/assets?alias=z", NULL},
        {"GET", "/assets/a1", NULL},
        {"PATCH", "/assets/a1", "{\"secret\":\"czE=\"}"},
        {"DELETE", "/assets/a1", NULL},
        {"POST", "/assets/pre-query", "{\"alias\":\"a1\"}"},
        {"POST", "/assets/query",
         "{\"alias\":\"a1\",\"authChallenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
         "\"authToken\":\"AA==\"}"},
        {"POST", "/assets/post-query",
         "{\"authChallenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}"},
        {"GET", "/sync-result", NULL},
    };
    const tl_server *both[] = {s1, s2};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
            tl_resp *r = tl_http(both[k], routes[i][0], routes[i][1], token, routes[i][2]);
            if (r->status != 401)
                print_error("on instance %d:\n", k + 1);
            tl_resp_free(tl_expect_problem(r, 401, "PERMISSION_DENIED"));
        }
}

static void expect_device_token_dead(const char *token, const char *device_id)
{
    char p[7][200], backup[128], restore[160];
    snprintf(p[0], sizeof p[0], "/devices/%s", device_id);
    snprintf(p[1], sizeof p[1], "/devices/%s/state", device_id);
    snprintf(p[2], sizeof p[2], "/devices/%s/apps", device_id);
    snprintf(p[3], sizeof p[3], "/devices/%s/token", device_id);
    snprintf(p[4], sizeof p[4], "/devices/%s/user-auth-key", device_id);
    snprintf(p[5], sizeof p[5], "/devices/%s/apps/com.example.x", device_id);
    snprintf(p[6], sizeof p[6], "/devices/%s/apps/com.example.x/token", device_id);
    snprintf(backup, sizeof backup, "{\"deviceId\":\"%s\"}", device_id);
    snprintf(restore, sizeof restore,
             "{\"backupId\":\"00000000-0000-4000-8000-000000000000\",\"targetDeviceId\":\"%s\"}",
             device_id);
    const char *const routes[][3] = {
        {"GET", p[0], NULL},
        {"PUT", p[1],
         "{\"lockScreenPasswordSet\":false,\"screenLocked\":false,\"unlockedSinceBoot\":true}"},
        {"POST", p[2], "{\"appId\":\"com.example.x\"}"},
        {"POST", p[3], NULL},
        {"PUT", p[4], "{\"userAuthPublicKey\":null}"},
        {"DELETE", p[5], NULL},
        {"POST", p[6], NULL},
        {"POST", "/backups", backup},
        {"GET", "/backups/00000000-0000-4000-8000-000000000000", NULL},
        {"POST", "/restores", restore},
        {"GET", "/restores/00000000-0000-4000-8000-000000000000", NULL},
        {"GET", "/assets", NULL},
    };
    const tl_server *both[] = {s1, s2};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            tl_req_problem(both[k], routes[i][0], routes[i][1], token, routes[i][2], 401,
                           "PERMISSION_DENIED");
}

static void expect_secret(const tl_server *s, const char *token, const char *alias,
                          const char *want)
{
    char got[128];
    tl_get_secret(s, token, alias, NULL, got, sizeof got);
    assert_string_equal(got, want);
}

/* A live challenge of the device's only installation, straight into the table. */
static void add_challenge(const char *device_id)
{
    PQclear(tl_db_exec("INSERT INTO challenges (challenge, installation_id, asset_seqs, "
                       "expires_at) SELECT decode(md5(random()::text || id::text), 'hex'), id, "
                       "'{}', now() + interval '1 minute' FROM installations "
                       "WHERE device_id = $1",
                       device_id, NULL));
}

static void wait_audit(const char *device_id, const char *action, long long want)
{
    double until = tl_now_ms() + tl_scaled_ms(10000);
    long long n = 0;
    while ((n = tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action = $2 "
                            "AND outcome = 'ok'",
                            device_id, action, NULL)) < want &&
           tl_now_ms() < until)
        tl_sleep_ms(50);
    assert_int_equal(n, want);
}

static void test_rotate_app_token(void **st)
{
    (void)st;
    tl_device d;
    char path[256], newtok[128];
    tl_app a = tl_fresh_app(s1, "com.example.rot", &d);
    json_decref(tl_asset_add(s1, a.token, "{\"alias\":\"a1\",\"secret\":\"b2xk\"}"));
    /* Warm s1's cache with the old token. */
    expect_secret(s1, a.token, "a1", "old");
    add_challenge(d.id);
    assert_int_equal(tl_db_count("SELECT count(*) FROM challenges c JOIN installations i ON "
                                 "i.id = c.installation_id WHERE i.device_id = $1",
                                 d.id, NULL),
                     1);
    tl_resp *r = tl_http(
        s1, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.rot/token", d.id),
        s1->admin_token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "appId"), "com.example.rot");
    assert_non_null(tl_jstr(r->json, "token"));
    snprintf(newtok, sizeof newtok, "%s", tl_jstr(r->json, "token"));
    assert_string_not_equal(newtok, a.token);
    tl_resp_free(r);
    expect_app_token_dead(a.token);
    /* Assets untouched, on both instances; challenges ended. */
    expect_secret(s1, newtok, "a1", "old");
    expect_secret(s2, newtok, "a1", "old");
    assert_int_equal(tl_db_count("SELECT count(*) FROM challenges c JOIN installations i ON "
                                 "i.id = c.installation_id WHERE i.device_id = $1",
                                 d.id, NULL),
                     0);
    /* The device itself may rotate its apps' tokens; unknown app or device: 404. (Changes made
     * through the other instance: test_scaleout.c.) */
    r = tl_http(s1, "POST", path, d.token, NULL);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    expect_app_token_dead(newtok);
    tl_req_problem(s1, "POST",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.none/token", d.id),
                   s1->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(s1, "POST",
                   "/devices/00000000-0000-4000-8000-000000000000/apps/com.example.rot/token",
                   s1->admin_token, NULL, 404, "NOT_FOUND");
    /* Another device's token may not. */
    tl_device other = tl_device_create(s1, NULL, NULL);
    tl_req_problem(s1, "POST",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.rot/token", d.id),
                   other.token, NULL, 403, "PERMISSION_DENIED");
    /* The audit log has the calls (written in the background: wait for them). */
    wait_audit(d.id, "rotateAppToken", 2);
}

static void test_rotate_device_token(void **st)
{
    (void)st;
    char path[256], newtok[128];
    tl_device d = tl_device_create(s1, NULL, NULL);
    /* Warm s1's cache. */
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), d.token, NULL, 200);
    tl_resp *r =
        tl_http(s1, "POST", tl_pathf(path, sizeof path, "/devices/%s/token", d.id), d.token, NULL);
    tl_expect_status(r, 200);
    assert_non_null(tl_jstr(r->json, "deviceToken"));
    snprintf(newtok, sizeof newtok, "%s", tl_jstr(r->json, "deviceToken"));
    tl_resp_free(r);
    expect_device_token_dead(d.token, d.id);
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), newtok, NULL, 200);
    tl_req_status(s2, "GET", path, newtok, NULL, 200);
    /* Admin may rotate it too; unknown device: 404; bad id: 400. */
    tl_req_status(s1, "POST", tl_pathf(path, sizeof path, "/devices/%s/token", d.id),
                  s1->admin_token, NULL, 200);
    wait_audit(d.id, "rotateDeviceToken", 2);
    tl_req_problem(s1, "POST", "/devices/00000000-0000-4000-8000-000000000000/token",
                   s1->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(s1, "POST", "/devices/nope/token", s1->admin_token, NULL, 400,
                   "INVALID_ARGUMENT");
}

static long long count_of(const char *table, const char *col, const char *id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = $1", table, col);
    return tl_db_count(sql, id, NULL);
}

static char *restore_status(const tl_server *s, const char *id, char out[32])
{
    char path[128];
    tl_resp *r =
        tl_http(s, "GET", tl_pathf(path, sizeof path, "/restores/%s", id), s->admin_token, NULL);
    tl_expect_status(r, 200);
    snprintf(out, 32, "%s", tl_jstr(r->json, "status"));
    tl_resp_free(r);
    return out;
}

/* A SELECT of every table: the removed device's id is left only in its history (audit log,
 * restore jobs) and in its backups (sealed under their own keys). */
static void expect_only_history_left(const char *device_id)
{
    long long history = 0;
    PGresult *t = tl_db_exec("SELECT quote_ident(table_name) FROM information_schema.tables "
                             "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                             NULL);
    for (int i = 0; i < PQntuples(t); i++) {
        const char *name = PQgetvalue(t, i, 0);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s x WHERE x::text LIKE '%%' || $1 || '%%'",
                 name);
        long long n = tl_db_count(sql, device_id, NULL);
        bool allowed = strcmp(name, "audit_log") == 0 || strcmp(name, "restores") == 0 ||
                       strcmp(name, "backups") == 0;
        if (n > 0 && !allowed)
            fail_msg("table %s still has %lld row(s) naming the removed device", name, n);
        if (strcmp(name, "audit_log") == 0)
            history = n;
    }
    PQclear(t);
    assert_true(history > 0); /* the scan does see the id where it is */
}

static void test_remove_device(void **st)
{
    (void)st;
    tl_device old, neu;
    char path[256], body[256], backup_id[64], restore_id[64], running_id[64], st_s[32], sql_id[64];
    char acct[64];
    tl_unique(acct, sizeof acct, "acct");
    old = tl_device_create(s1, "old", acct);
    neu = tl_device_create(s1, "new", acct);
    tl_app a = tl_app_install(s1, old.id, "com.example.rm", NULL, false);
    tl_app b = tl_app_install(s1, neu.id, "com.example.rm", NULL, false);
    json_decref(tl_asset_add(s1, a.token,
                             "{\"alias\":\"a1\",\"secret\":\"b2xk\","
                             "\"syncType\":[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"]}"));
    add_challenge(old.id);
    /* Warm s1's cache with both tokens. */
    expect_secret(s1, a.token, "a1", "old");
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/devices/%s", old.id), old.token, NULL,
                  200);
    /* A backup of OLD, and a restore of it onto OLD that no worker has picked up yet. */
    tl_backup_create(s1, s1->admin_token, old.id, backup_id);
    tl_restore_create(s1, s1->admin_token, backup_id, old.id, restore_id);
    /* And a second one a worker had started (as it leaves a job between two chunks). */
    tl_restore_create(s1, s1->admin_token, backup_id, old.id, running_id);
    PQclear(tl_db_exec("UPDATE restores SET status = 'running' WHERE id = $1", running_id, NULL));
    long long audit_before = count_of("audit_log", "device_id", old.id);
    assert_true(audit_before > 0);
    /* Only the admin removes a device; bad parameters are 400 and remove nothing. */
    tl_req_problem(s1, "DELETE", tl_pathf(path, sizeof path, "/devices/%s", old.id), old.token,
                   NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(s1, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s?deleteBackups=maybe", old.id),
                   s1->admin_token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(s1, "DELETE", tl_pathf(path, sizeof path, "/devices/%s?force=true", old.id),
                   s1->admin_token, NULL, 400, "INVALID_ARGUMENT");
    assert_int_equal(count_of("devices", "id", old.id), 1);
    tl_req_status(s1, "DELETE", tl_pathf(path, sizeof path, "/devices/%s", old.id), s1->admin_token,
                  NULL, 204);
    /* Every token of it is dead, on both instances, at once. */
    expect_app_token_dead(a.token);
    expect_device_token_dead(old.token, old.id);
    tl_req_problem(s2, "GET", path, s2->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(s2, "DELETE", path, s2->admin_token, NULL, 404, "NOT_FOUND");
    /* Crypto-shred: no data key of it is left (nothing could open a copy of its rows), nor any
     * of its rows; the audit log keeps its history. */
    snprintf(sql_id, sizeof sql_id, "%s", old.id);
    assert_int_equal(count_of("device_keys", "device_id", sql_id), 0);
    assert_int_equal(count_of("assets", "device_id", sql_id), 0);
    assert_int_equal(count_of("installations", "device_id", sql_id), 0);
    assert_int_equal(count_of("sync_results", "device_id", sql_id), 0);
    assert_int_equal(count_of("devices", "id", sql_id), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM challenges c WHERE NOT EXISTS (SELECT 1 "
                                 "FROM installations i WHERE i.id = c.installation_id)",
                                 NULL),
                     0);
    assert_true(count_of("audit_log", "device_id", sql_id) >= audit_before);
    expect_only_history_left(sql_id);
    wait_audit(sql_id, "deleteDevice", 1);
    /* Its queued and running restores ended failed; restores onto it are 404. */
    assert_string_equal(restore_status(s2, restore_id, st_s), "failed");
    assert_string_equal(restore_status(s2, running_id, st_s), "failed");
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id,
             old.id);
    tl_req_problem(s2, "POST", "/restores", s2->admin_token, body, 404, "NOT_FOUND");
    /* Its backup restores onto another device of the account (a worker runs it). */
    tl_req_status(s2, "GET", tl_pathf(path, sizeof path, "/backups/%s", backup_id), s2->admin_token,
                  NULL, 200);
    tl_restore_create(s2, s2->admin_token, backup_id, neu.id, restore_id);
    static const char *const wenv[] = {"ASSETD_SYNC_WORKERS=1", NULL};
    tl_proc *w = tl_worker_start(s1, wenv);
    double until = tl_now_ms() + tl_scaled_ms(30000);
    while (strcmp(restore_status(s1, restore_id, st_s), "done") != 0 && tl_now_ms() < until)
        tl_sleep_ms(100);
    assert_int_equal(tl_proc_stop(w), 0);
    assert_string_equal(st_s, "done");
    expect_secret(s2, b.token, "a1", "old");
    /* The worker left the failed jobs alone. */
    assert_string_equal(restore_status(s2, running_id, st_s), "failed");
    assert_int_equal(tl_db_count("SELECT processed FROM restores WHERE id = $1", running_id, NULL),
                     0);
}

static void test_remove_device_with_backups(void **st)
{
    (void)st;
    tl_device d, other;
    char path[256], body[256], backup_id[64], acct[64];
    tl_unique(acct, sizeof acct, "acct");
    d = tl_device_create(s1, NULL, acct);
    other = tl_device_create(s1, NULL, acct);
    tl_app a = tl_app_install(s1, d.id, "com.example.rmb", NULL, false);
    json_decref(tl_asset_add(s1, a.token,
                             "{\"alias\":\"b1\",\"secret\":\"b2xk\","
                             "\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id);
    tl_resp *r = tl_http(s1, "POST", "/backups", s1->admin_token, body);
    tl_expect_status(r, 201);
    snprintf(backup_id, sizeof backup_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    /* A queued restore of the backup onto another device: deleteBackups is refused. */
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id,
             other.id);
    r = tl_http(s1, "POST", "/restores", s1->admin_token, body);
    tl_expect_status(r, 202);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    tl_pathf(path, sizeof path, "/devices/%s?deleteBackups=true", d.id);
    tl_req_problem(s1, "DELETE", path, s1->admin_token, NULL, 409, "IN_PROGRESS");
    assert_int_equal(count_of("device_keys", "device_id", d.id), 1);
    tl_req_status(s1, "GET", tl_pathf(path, sizeof path, "/assets/b1"), a.token, NULL, 200);
    /* Once that restore is over, the removal goes, and takes the backups along. */
    PQclear(tl_db_exec("UPDATE restores SET status = 'done' WHERE id = $1", rid, NULL));
    tl_req_status(s1, "DELETE", tl_pathf(path, sizeof path, "/devices/%s?deleteBackups=true", d.id),
                  s1->admin_token, NULL, 204);
    assert_int_equal(count_of("backups", "id", backup_id), 0);
    assert_int_equal(count_of("backup_records", "backup_id", backup_id), 0);
    tl_req_problem(s1, "GET", tl_pathf(path, sizeof path, "/backups/%s", backup_id),
                   s1->admin_token, NULL, 404, "NOT_FOUND");
    expect_app_token_dead(a.token);
    expect_device_token_dead(d.token, d.id);
}

/* Waits (bounded) until a backend runs a statement starting with `prefix` and waits on a lock. */
static void wait_for_lock_wait(const char *prefix, const char *what)
{
    char like[128];
    double until = tl_now_ms() + tl_scaled_ms(30000);
    snprintf(like, sizeof like, "%s%%", prefix);
    while (tl_db_count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE $1",
                       like, NULL) == 0) {
        if (tl_now_ms() > until)
            fail_msg("%s never happened", what);
        tl_sleep_ms(20);
    }
}

/* The sync worker never brings back a job that was ended while it worked on a chunk (as a device
 * removal ends the jobs onto the device): a test connection holds the job's row so that the
 * worker waits just before it writes the chunk's progress, ends the job meanwhile, and lets go;
 * the worker's chunk then rolls back. */
static void test_worker_leaves_ended_job(void **st)
{
    (void)st;
    char backup_id[64], rid[64], st_s[32], acct[64];
    tl_unique(acct, sizeof acct, "acct");
    tl_device old = tl_device_create(s1, NULL, acct), neu = tl_device_create(s1, NULL, acct);
    tl_app a = tl_app_install(s1, old.id, "com.example.wk", NULL, false);
    tl_device_set_state(s1, old.id, true, false, true);
    /* Refused on NEW (no lock-screen password): the chunk writes no asset, only progress. */
    json_decref(tl_asset_add(s1, a.token,
                             "{\"alias\":\"p\",\"secret\":\"czE=\",\"requirePasswordSet\":true,"
                             "\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    tl_backup_create(s1, s1->admin_token, old.id, backup_id);
    tl_restore_create(s1, s1->admin_token, backup_id, neu.id, rid);
    PGconn *hold = PQconnectdb(getenv("TEST_DATABASE_URL"));
    assert_int_equal(PQstatus(hold), CONNECTION_OK);
    const char *v[] = {rid};
    PQclear(PQexec(hold, "BEGIN"));
    PGresult *lk = PQexecParams(hold, "SELECT 1 FROM restores WHERE id = $1 FOR NO KEY UPDATE", 1,
                                NULL, v, NULL, NULL, 0);
    assert_int_equal(PQntuples(lk), 1);
    PQclear(lk);
    static const char *const wenv[] = {"ASSETD_SYNC_WORKERS=1", NULL};
    tl_proc *w = tl_worker_start(s1, wenv);
    /* The worker decides the chunk, then waits on the job's row. (NO KEY UPDATE: the worker's
     * foreign key checks on the row pass, only its update of the row waits.) */
    wait_for_lock_wait("WITH c AS (UPDATE restore_chunks", "the worker's progress write");
    PGresult *up = PQexecParams(hold,
                                "UPDATE restores SET status = 'failed', finished_at = now() "
                                "WHERE id = $1",
                                1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(up), PGRES_COMMAND_OK);
    PQclear(up);
    PQclear(PQexec(hold, "COMMIT"));
    PQfinish(hold);
    /* Give the worker its turn: its chunk is written or rolled back once no one waits. */
    double until = tl_now_ms() + tl_scaled_ms(30000);
    while (tl_db_count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE 'WITH c AS (UPDATE restore_chunks%'",
                       NULL) > 0 &&
           tl_now_ms() < until)
        tl_sleep_ms(20);
    assert_int_equal(tl_proc_stop(w), 0);
    assert_string_equal(restore_status(s1, rid, st_s), "failed");
    assert_int_equal(tl_db_count("SELECT processed FROM restores WHERE id = $1", rid, NULL), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM restore_chunks WHERE restore_id = $1 AND "
                                 "done",
                                 rid, NULL),
                     0);
}

typedef struct {
    const char *path;
    long status;
} removal_call;

static void *remove_in_background(void *arg)
{
    removal_call *c = arg;
    tl_resp *r = tl_http(s2, "DELETE", c->path, s2->admin_token, NULL);
    c->status = r->status;
    tl_resp_free(r);
    return NULL;
}

/* A device removed while a worker writes a chunk of a restore onto it: the removal waits for
 * the chunk, then removes what it wrote too; the job does not run on. */
static void test_remove_device_during_restore(void **st)
{
    (void)st;
    char path[256], backup_id[64], rid[64], st_s[32], acct[64];
    tl_unique(acct, sizeof acct, "acct");
    tl_device old = tl_device_create(s1, NULL, acct), neu = tl_device_create(s1, NULL, acct);
    tl_app a = tl_app_install(s1, old.id, "com.example.mid", NULL, false);
    json_decref(tl_asset_add(
        s1, a.token, "{\"alias\":\"m\",\"secret\":\"czE=\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    tl_backup_create(s1, s1->admin_token, old.id, backup_id);
    tl_restore_create(s1, s1->admin_token, backup_id, neu.id, rid);
    /* Hold the job's row: the worker writes the chunk's assets onto NEW, then waits. */
    PGconn *hold = PQconnectdb(getenv("TEST_DATABASE_URL"));
    assert_int_equal(PQstatus(hold), CONNECTION_OK);
    const char *v[] = {rid};
    PQclear(PQexec(hold, "BEGIN"));
    PQclear(PQexecParams(hold, "SELECT 1 FROM restores WHERE id = $1 FOR NO KEY UPDATE", 1, NULL, v,
                         NULL, NULL, 0));
    static const char *const wenv[] = {"ASSETD_SYNC_WORKERS=1", NULL};
    tl_proc *w = tl_worker_start(s1, wenv);
    wait_for_lock_wait("WITH c AS (UPDATE restore_chunks", "the worker's progress write");
    /* The removal (through the other instance) waits for the chunk's transaction: the chunk holds
     * its target device (STORE_DEVICE_LOCK_SHARED), which the removal takes exclusively. */
    removal_call call = {tl_pathf(path, sizeof path, "/devices/%s", neu.id), 0};
    pthread_t th;
    pthread_create(&th, NULL, remove_in_background, &call);
    wait_for_lock_wait("SELECT pg_advisory_xact_lock(7263541,", "the removal's wait");
    PQclear(PQexec(hold, "COMMIT"));
    PQfinish(hold);
    pthread_join(th, NULL);
    assert_int_equal(call.status, 204);
    assert_int_equal(tl_proc_stop(w), 0);
    /* The job no longer runs: failed, or done when its last step won the race (the removal
     * then took away what it wrote). */
    restore_status(s1, rid, st_s);
    if (strcmp(st_s, "failed") != 0 && strcmp(st_s, "done") != 0)
        fail_msg("the restore onto the removed device is %s", st_s);
    assert_int_equal(count_of("assets", "device_id", neu.id), 0);
    assert_int_equal(count_of("device_keys", "device_id", neu.id), 0);
    assert_int_equal(count_of("sync_results", "device_id", neu.id), 0);
    expect_device_token_dead(neu.token, neu.id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotate_app_token),
        cmocka_unit_test(test_rotate_device_token),
        cmocka_unit_test(test_remove_device),
        cmocka_unit_test(test_remove_device_with_backups),
        cmocka_unit_test(test_worker_leaves_ended_job),
        cmocka_unit_test(test_remove_device_during_restore),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
