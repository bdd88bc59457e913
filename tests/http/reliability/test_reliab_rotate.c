/* Reliability: master key rotation end to end (spec §9 "every sealed value names its key
 * version, so the master key can be rotated while serving"; README ASSETD_MASTER_KEY and
 * `assetd rotate-key`).
 *
 *  1. A server with K1 (plain form, version 1); assets on two devices, encrypted labels, a
 *     backup. Every stored key is wrapped under version 1.
 *  2. A second server with "1:K1,2:K2" starts while the first still serves; old records read
 *     through both; the first stops cleanly. A device registered now gets its data key wrapped
 *     under version 2, and so does a new backup.
 *  3. `assetd rotate-key` with the same list re-wraps exactly the rows still under version 1
 *     (it says how many), after which every device_keys / service_keys / backups row is under
 *     version 2; run again it re-wraps nothing (idempotent). Everything still reads.
 *  4. A server with only "2:K2" (started before the previous one stops) reads everything,
 *     including a restore from the backup made under K1.
 *  5. K1 alone no longer works, and says so: `serve`, `worker` and `rotate-key` exit non-zero
 *     naming the key problem and change nothing; a K1-only server still running from before the
 *     rotation refuses calls on rotated keys with 503 SERVICE_UNAVAILABLE and Retry-After (a key
 *     version it does not hold is not corruption) rather than answering wrongly.
 * The test works in a database of its own (created and dropped here): rotating the shared
 * database of the run would lock the other test binaries, which use TEST_MASTER_KEY, out. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/testlib.h"

static char g_orig_url[1024], g_db[128];
static char K1[64], K2[64], K3[64];

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(g_orig_url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", g_orig_url, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void random_key(char out[64])
{
    unsigned char k[32];
    randombytes_buf(k, sizeof k);
    tl_b64(out, 64, k, sizeof k);
}

static int setup(void **st)
{
    (void)st;
    if (sodium_init() < 0)
        return -1;
    const char *url = getenv("TEST_DATABASE_URL");
    if (!url || strncmp(url, "postgresql:///", 14) != 0)
        fail_msg("TEST_DATABASE_URL must be postgresql:///<db>?... (got %s)", url ? url : "unset");
    snprintf(g_orig_url, sizeof g_orig_url, "%s", url);
    const char *name = url + 14, *q = strchr(name, '?');
    snprintf(g_db, sizeof g_db, "%.*s_rotate", (int)(q ? (size_t)(q - name) : strlen(name)), name);
    char sql[512], new_url[1200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", g_db);
    admin_sql(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", g_db);
    admin_sql(sql);
    snprintf(new_url, sizeof new_url, "postgresql:///%s%s", g_db, q ? q : "");
    /* Servers and the DB helper of this process use the fresh database from now on. */
    setenv("TEST_DATABASE_URL", new_url, 1);
    random_key(K1);
    random_key(K2);
    random_key(K3);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", g_db);
    admin_sql(sql);
    return 0;
}

/* ---- helpers ---- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    assert_true(port > 0);
    return port;
}

static long long kek_not(const char *table, int version)
{
    char sql[128], v[8];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE kek_version <> $1::int", table);
    snprintf(v, sizeof v, "%d", version);
    return tl_db_count(sql, v, NULL);
}

static void expect_all_kek(int version)
{
    assert_int_equal(kek_not("device_keys", version), 0);
    assert_int_equal(kek_not("service_keys", version), 0);
    assert_int_equal(kek_not("backups", version), 0);
}

/* The value of "name": <integer> in text, or -1. */
static long json_number_in(const char *text, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Runs `assetd rotate-key` with the environment of s plus extra; asserts success and the key
 * version it reports; returns the number of keys it re-wrapped. */
static long rotate(const tl_server *s, const char *const *extra, int want_version)
{
    static const char *const args[] = {"rotate-key", NULL};
    char *out = NULL;
    int rc = tl_assetd_run(s, args, extra, 60000, &out);
    if (rc != 0)
        fail_msg("assetd rotate-key exited %d:\n%s", rc, out ? out : "");
    long n = json_number_in(out, "rewrapped");
    long v = json_number_in(out, "keyVersion");
    if (n < 0 || v != want_version)
        fail_msg("assetd rotate-key printed no {\"rewrapped\":N,\"keyVersion\":%d}:\n%s",
                 want_version, out);
    free(out);
    return n;
}

typedef struct {
    tl_device dev;
    tl_app app;
    char secret[64];
    char enc_label[64];
} fixture;

/* A device with one app, a plain asset "r" and an encrypted-label asset "e", both syncable to
 * the device itself (so a backup holds them). */
static fixture make_fixture(const tl_server *s, const char *name)
{
    fixture f;
    char app_id[64], b64[128];
    memset(&f, 0, sizeof f);
    f.dev = tl_device_create(s, name, NULL);
    tl_unique(app_id, sizeof app_id, "com.example.rotate");
    f.app = tl_app_install(s, f.dev.id, app_id, NULL, false);
    tl_unique(f.secret, sizeof f.secret, "rotate-secret");
    tl_unique(f.enc_label, sizeof f.enc_label, "rotate-label");
    tl_b64(b64, sizeof b64, f.secret, strlen(f.secret));
    json_decref(tl_asset_addf(
        s, f.app.token, "{\"alias\":\"r\",\"secret\":\"%s\",\"syncType\":[\"THIS_DEVICE\"]}", b64));
    json_decref(tl_asset_addf(s, f.app.token,
                              "{\"alias\":\"e\",\"secret\":\"%s\",\"requireAttrEncrypted\":true,"
                              "\"dataLabelNormal1\":\"%s\",\"syncType\":[\"THIS_DEVICE\"]}",
                              b64, f.enc_label));
    return f;
}

/* Everything of the fixture reads back through s. */
static void expect_readable(const tl_server *s, const fixture *f)
{
    char got[128];
    tl_get_secret(s, f->app.token, "r", NULL, got, sizeof got);
    assert_string_equal(got, f->secret);
    tl_get_secret(s, f->app.token, "e", "requireAttrEncrypted=true", got, sizeof got);
    assert_string_equal(got, f->secret);
    char q[160], out[64];
    snprintf(q, sizeof q, "requireAttrEncrypted=true&dataLabelNormal1=%s", f->enc_label);
    assert_string_equal(tl_list(s, f->app.token, q, out, sizeof out), "e");
    snprintf(q, sizeof q, "/devices/%s", f->dev.id);
    tl_req_status(s, "GET", q, f->dev.token, NULL, 200);
}

static char *backup(const tl_server *s, const char *device_id, long want_records)
{
    char body[128];
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", device_id);
    tl_resp *r = tl_http(s, "POST", "/backups", s->admin_token, body);
    tl_expect_status(r, 201);
    assert_int_equal(tl_jint(r->json, "recordCount"), want_records);
    char *id = strdup(tl_jstr(r->json, "id"));
    tl_resp_free(r);
    return id;
}

static char *dump1(const char *sql, const char *p)
{
    return tl_db_dump(sql, p, NULL);
}

/* ---- the test ---- */

static void test_rotation_end_to_end(void **st)
{
    (void)st;
    char env_k1[96], env_list[200], env_k2[96], env_k3[96], env_k1v[96], port_kv[32];
    snprintf(env_k1, sizeof env_k1, "ASSETD_MASTER_KEY=%s", K1);
    snprintf(env_list, sizeof env_list, "ASSETD_MASTER_KEY=1:%s,2:%s", K1, K2);
    snprintf(env_k2, sizeof env_k2, "ASSETD_MASTER_KEY=2:%s", K2);
    snprintf(env_k3, sizeof env_k3, "ASSETD_MASTER_KEY=3:%s", K3);
    snprintf(env_k1v, sizeof env_k1v, "ASSETD_MASTER_KEY=1:%s", K1);

    /* 1. K1 only. */
    const char *e1[] = {env_k1, "ASSETD_AUTH_CACHE_MS=0", NULL};
    tl_server *s1 = tl_server_start(e1);
    fixture f1 = make_fixture(s1, "rot-1"), f2 = make_fixture(s1, "rot-2");
    char *b1 = backup(s1, f1.dev.id, 2);
    expect_all_kek(1);
    assert_int_equal(tl_db_count("SELECT count(*) FROM device_keys", NULL), 2);
    assert_int_equal(tl_db_count("SELECT count(*) FROM service_keys", NULL), 1);

    /* 2. "1:K1,2:K2" while s1 still serves; then s1 stops. */
    const char *e2[] = {env_list, NULL};
    tl_server *s2 = tl_server_start(e2);
    expect_readable(s2, &f1);
    expect_readable(s2, &f2);
    expect_readable(s1, &f1);
    assert_int_equal(tl_server_stop(s1), 0);
    fixture f3 = make_fixture(s2, "rot-3");
    assert_int_equal(
        tl_db_count("SELECT kek_version FROM device_keys WHERE device_id = $1", f3.dev.id, NULL),
        2);
    char *b2 = backup(s2, f2.dev.id, 2);
    assert_int_equal(tl_db_count("SELECT kek_version FROM backups WHERE id = $1", b2, NULL), 2);
    /* A K1-only server that is still running when the keys are rotated (an operator who missed
     * one); the auth cache is off so that every call goes to the stored keys. */
    tl_server *old = tl_server_start(e1);
    expect_readable(old, &f1);

    /* 3. Rotate: exactly the rows still under version 1 are re-wrapped. */
    long long stale =
        kek_not("device_keys", 2) + kek_not("service_keys", 2) + kek_not("backups", 2);
    assert_int_equal(stale, 4); /* two devices, the token key, one backup */
    char *dk_before =
        dump1("SELECT encode(wrapped, 'hex') FROM device_keys WHERE device_id = $1", f1.dev.id);
    char *f3_before =
        dump1("SELECT encode(wrapped, 'hex') FROM device_keys WHERE device_id = $1", f3.dev.id);
    char *assets_before = tl_db_dump("SELECT seq, encode(sealed, 'hex'), key_version FROM assets "
                                     "ORDER BY seq",
                                     NULL);
    assert_int_equal(rotate(s2, NULL, 2), stale);
    expect_all_kek(2);
    char *dk_after =
        dump1("SELECT encode(wrapped, 'hex') FROM device_keys WHERE device_id = $1", f1.dev.id);
    char *f3_after =
        dump1("SELECT encode(wrapped, 'hex') FROM device_keys WHERE device_id = $1", f3.dev.id);
    char *assets_after = tl_db_dump("SELECT seq, encode(sealed, 'hex'), key_version FROM assets "
                                    "ORDER BY seq",
                                    NULL);
    assert_string_not_equal(dk_before, dk_after);     /* re-wrapped */
    assert_string_equal(f3_before, f3_after);         /* already current: untouched */
    assert_string_equal(assets_before, assets_after); /* records are not re-sealed: keys only */
    /* Again: nothing left to do. */
    assert_int_equal(rotate(s2, NULL, 2), 0);
    expect_all_kek(2);
    expect_readable(s2, &f1);
    expect_readable(s2, &f2);
    expect_readable(s2, &f3);

    /* The K1-only server from before refuses calls on the rotated keys, never answers wrongly:
     * 503 with Retry-After (it lacks version 2; a retry may reach a process that has it). */
    tl_req_problem(old, "GET", "/assets/r?returnType=ALL", f1.app.token, NULL, 503,
                   "SERVICE_UNAVAILABLE");
    tl_req_problem(old, "GET", "/assets/r?returnType=ALL", f3.app.token, NULL, 503,
                   "SERVICE_UNAVAILABLE");
    char path[128];
    snprintf(path, sizeof path, "/devices/%s", f2.dev.id);
    tl_resp *r503 = tl_http(old, "GET", path, f2.dev.token, NULL);
    tl_expect_problem(r503, 503, "SERVICE_UNAVAILABLE");
    assert_true(r503->retry_after[0]);
    tl_resp_free(r503);
    assert_int_equal(tl_server_stop(old), 0);

    /* 4. "2:K2" alone, started before s2 stops; a restore of the backup taken under K1. */
    const char *e3[] = {env_k2, "ASSETD_SYNC_WORKERS=1", NULL};
    tl_server *s3 = tl_server_start(e3);
    assert_int_equal(tl_server_stop(s2), 0);
    expect_readable(s3, &f1);
    expect_readable(s3, &f2);
    expect_readable(s3, &f3);
    tl_req_status(s3, "DELETE", "/assets/r", f1.app.token, NULL, 204);
    char body[256];
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", b1, f1.dev.id);
    tl_resp *r = tl_http(s3, "POST", "/restores", s3->admin_token, body);
    tl_expect_status(r, 202);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    bool done = false;
    for (int i = 0; i < 300 && !done; i++) {
        r = tl_httpf(s3, "GET", s3->admin_token, NULL, "/restores/%s", rid);
        tl_expect_status(r, 200);
        const char *status = tl_jstr(r->json, "status");
        assert_true(strcmp(status, "failed") != 0);
        if (strcmp(status, "done") == 0) {
            done = true;
            assert_int_equal(tl_jint(r->json, "accepted"), 2);
            assert_int_equal(tl_jint(r->json, "failed"), 0);
        }
        tl_resp_free(r);
        if (!done)
            usleep(50 * 1000);
    }
    assert_true(done);
    expect_readable(s3, &f1); /* "r" is back, from the backup */
    /* A device registered now: version 2 (the only one). */
    fixture f4 = make_fixture(s3, "rot-4");
    expect_readable(s3, &f4);
    expect_all_kek(2);

    /* 5. K1 alone (in either spelling), or an unrelated key, can no longer open anything. */
    char *all_before =
        tl_db_dump("SELECT 'dk', device_id::text, kek_version, encode(wrapped, 'hex') "
                   "FROM device_keys UNION ALL SELECT 'sk', name, kek_version, "
                   "encode(wrapped, 'hex') FROM service_keys UNION ALL SELECT 'b', "
                   "id::text, kek_version, encode(wrapped_key, 'hex') FROM backups "
                   "ORDER BY 1, 2",
                   NULL);
    /* K1 in its plain form: serve, worker and rotate-key all refuse; K1 as "1:K1": serve
     * refuses; an unrelated newer key "3:K3": rotate-key refuses (it cannot open what it would
     * re-wrap). */
    static const char *const serve[] = {"serve", NULL}, *const worker[] = {"worker", NULL},
                             *const rot[] = {"rotate-key", NULL};
    const struct {
        const char *key;
        const char *const *args;
    } runs[] = {{env_k1, serve}, {env_k1, worker}, {env_k1, rot}, {env_k1v, serve}, {env_k3, rot}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        snprintf(port_kv, sizeof port_kv, "ASSETD_PORT=%d", free_port());
        const char *env[] = {runs[k].key, port_kv, "ASSETD_SYNC_WORKERS=0", NULL};
        char *out = NULL;
        int rc = tl_assetd_run(s3, runs[k].args, env, 30000, &out);
        if (rc <= 0 || !strstr(out, "does not open") || !strstr(out, "ASSETD_MASTER_KEY") ||
            strstr(out, "assetd started") || strstr(out, "\"rewrapped\""))
            fail_msg("assetd %s with %.*s... exited %d; expected a non-zero exit saying that the "
                     "stored keys do not open with ASSETD_MASTER_KEY:\n%s",
                     runs[k].args[0], 30, runs[k].key, rc, out ? out : "");
        free(out);
    }
    char *all_after =
        tl_db_dump("SELECT 'dk', device_id::text, kek_version, encode(wrapped, 'hex') "
                   "FROM device_keys UNION ALL SELECT 'sk', name, kek_version, "
                   "encode(wrapped, 'hex') FROM service_keys UNION ALL SELECT 'b', "
                   "id::text, kek_version, encode(wrapped_key, 'hex') FROM backups "
                   "ORDER BY 1, 2",
                   NULL);
    assert_string_equal(all_before, all_after); /* the failed runs changed nothing */
    /* ... and the right key still works after all that. */
    expect_readable(s3, &f2);
    assert_int_equal(tl_server_stop(s3), 0);

    free(b1);
    free(b2);
    free(dk_before);
    free(dk_after);
    free(f3_before);
    free(f3_after);
    free(assets_before);
    free(assets_after);
    free(all_before);
    free(all_after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_end_to_end),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
