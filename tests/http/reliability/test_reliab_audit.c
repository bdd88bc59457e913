/* Reliability: the audit log (GET /audit, openapi.yaml listAuditEvents; README "Every add,
 * update, remove, secret read, backup and restore is appended to an audit log").
 *
 * Every change (add, update, remove one, remove many, backup, restore), every secret read
 * (GET with returnType=ALL, one or a list, and POST /assets/query), the other calls the contract
 * lists (createDevice, installApp, preQueryAssets, postQueryAssets) and every refusal of those
 * appears once, with the principal, the operationId as action, the device, the owner
 * (app:<appId> / group:<groupId>), the alias as a keyed hash (64 lowercase hex: equal for equal
 * aliases, different for different ones, never the alias itself) and the outcome (ok, or the
 * error name). Attribute-only reads are not recorded. A refused add leaves exactly one refused
 * record and changes no asset. Paging with limit + nextCursor walks every event once, in id
 * order, whatever the limit; a bad cursor is 400 PARAM_VERIFICATION_FAILED; only the admin may
 * read the log. Reads and refusals are written by a background writer: the tests poll (bounded)
 * until they appear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=1", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- reading the log ---- */

/* Every event of the log, walking GET /audit?limit=<limit> page by page from the start;
 * checks each page's shape and that ids strictly increase across pages. When last_cursor is not
 * NULL it receives the cursor that led to the last page ("" if there was one page). */
static json_t *audit_walk(int limit, char *last_cursor, size_t lc_n)
{
    json_t *all = json_array();
    char cursor[512] = "", enc[1600];
    long long prev = 0;
    if (last_cursor)
        last_cursor[0] = 0;
    for (int page = 0; page < 100000; page++) {
        tl_resp *r = cursor[0]
                         ? tl_httpf(srv, "GET", srv->admin_token, NULL, "/audit?limit=%d&cursor=%s",
                                    limit, tl_urlenc(enc, sizeof enc, cursor))
                         : tl_httpf(srv, "GET", srv->admin_token, NULL, "/audit?limit=%d", limit);
        tl_expect_status(r, 200);
        assert_true(strncmp(r->content_type, "application/json", 16) == 0);
        json_t *events = json_object_get(r->json, "events"),
               *next = json_object_get(r->json, "nextCursor");
        assert_true(json_is_array(events));
        assert_true(json_is_null(next) || json_is_string(next));
        assert_int_equal(json_object_size(r->json), 2);
        assert_true(json_array_size(events) <= (size_t)limit);
        /* A page with a next page is full. */
        if (json_is_string(next))
            assert_int_equal(json_array_size(events), limit);
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            long long id = tl_jint(ev, "id");
            if (id <= prev)
                fail_msg("audit ids out of order or repeated: %lld after %lld", id, prev);
            prev = id;
            json_array_append(all, ev);
        }
        if (json_is_null(next)) {
            tl_resp_free(r);
            return all;
        }
        if (last_cursor)
            snprintf(last_cursor, lc_n, "%s", json_string_value(next));
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        tl_resp_free(r);
    }
    fail_msg("audit_walk: too many pages");
    return NULL;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

/* The shape every event has (openapi AuditEvent). */
static void check_event_shape(const json_t *ev)
{
    static const char *const keys[] = {"id",       "at",    "principal", "action",
                                       "deviceId", "owner", "aliasHash", "outcome"};
    assert_int_equal(json_object_size(ev), 8);
    for (size_t k = 0; k < 8; k++)
        assert_non_null(json_object_get(ev, keys[k]));
    assert_true(tl_jint(ev, "id") >= 1);
    const char *at = tl_jstr(ev, "at");
    assert_non_null(at);
    assert_int_equal(strlen(at), 24);
    assert_true(at[10] == 'T' && at[19] == '.' && at[23] == 'Z');
    const char *p = tl_jstr(ev, "principal");
    assert_true(p && (!strcmp(p, "admin") || !strcmp(p, "device") || !strcmp(p, "installation")));
    assert_true(tl_jstr(ev, "action") && tl_jstr(ev, "action")[0]);
    assert_true(tl_jstr(ev, "outcome") && tl_jstr(ev, "outcome")[0]);
    json_t *h = json_object_get(ev, "aliasHash");
    assert_true(json_is_null(h) || is_hex64(json_string_value(h)));
    json_t *o = json_object_get(ev, "owner");
    assert_true(json_is_null(o) || strncmp(json_string_value(o), "app:", 4) == 0 ||
                strncmp(json_string_value(o), "group:", 6) == 0);
}

/* Every event of one device (deviceId), from a full walk. */
static json_t *device_events(const char *device_id)
{
    json_t *all = audit_walk(1000, NULL, 0), *mine = json_array(), *ev;
    size_t i;
    json_array_foreach(all, i, ev)
    {
        const char *d = tl_jstr(ev, "deviceId");
        if (d && strcmp(d, device_id) == 0)
            json_array_append(mine, ev);
    }
    json_decref(all);
    return mine;
}

/* Polls (10 s at most) until the device has at least n such events; returns them. */
static json_t *wait_device_events(const char *device_id, size_t n)
{
    json_t *ev = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(ev);
        ev = device_events(device_id);
        if (json_array_size(ev) >= n)
            return ev;
        usleep(100 * 1000);
    }
    fail_msg("the audit log has %zu events of device %s after 10 s; expected %zu",
             json_array_size(ev), device_id, n);
    return NULL;
}

/* ---- expectations ---- */

typedef struct {
    const char *action, *outcome, *principal;
    const char *owner; /* NULL: null */
    const char *alias; /* NULL: aliasHash null */
} want_event;

/* aliasHash of each alias, learned from the events (the key is the server's). */
typedef struct {
    const char *alias;
    char hash[65];
} alias_hash;

static alias_hash g_hashes[32];
static int g_nhashes;

static const char *hash_of(const char *alias, const char *seen)
{
    for (int i = 0; i < g_nhashes; i++)
        if (strcmp(g_hashes[i].alias, alias) == 0)
            return g_hashes[i].hash;
    /* First sighting: it must differ from every other alias's hash. */
    for (int i = 0; i < g_nhashes; i++)
        if (strcmp(g_hashes[i].hash, seen) == 0)
            fail_msg("aliases \"%s\" and \"%s\" have the same aliasHash", g_hashes[i].alias, alias);
    assert_true(g_nhashes < 32);
    g_hashes[g_nhashes].alias = alias;
    snprintf(g_hashes[g_nhashes].hash, 65, "%s", seen);
    return g_hashes[g_nhashes++].hash;
}

static bool str_eq_or_null(const json_t *ev, const char *key, const char *want)
{
    json_t *v = json_object_get(ev, key);
    return want ? json_is_string(v) && strcmp(json_string_value(v), want) == 0 : json_is_null(v);
}

/* The events match the wanted list exactly (as a multiset; order is not asserted, since reads
 * and refusals are written by the background writer). Learns and checks alias hashes. */
static void match_events(json_t *events, const char *device_id, const want_event *want, size_t n)
{
    size_t got = json_array_size(events);
    bool *used = calloc(got ? got : 1, sizeof *used);
    assert_non_null(used);
    for (size_t w = 0; w < n; w++) {
        bool ok = false;
        for (size_t i = 0; i < got && !ok; i++) {
            json_t *ev = json_array_get(events, i);
            if (used[i] || !str_eq_or_null(ev, "action", want[w].action) ||
                !str_eq_or_null(ev, "outcome", want[w].outcome) ||
                !str_eq_or_null(ev, "principal", want[w].principal) ||
                !str_eq_or_null(ev, "owner", want[w].owner) ||
                !str_eq_or_null(ev, "deviceId", device_id))
                continue;
            const char *h = tl_jstr(ev, "aliasHash");
            if (want[w].alias ? !is_hex64(h) || strcmp(hash_of(want[w].alias, h), h) != 0
                              : h != NULL)
                continue;
            used[i] = ok = true;
        }
        if (!ok) {
            char *dump = json_dumps(events, JSON_INDENT(1));
            fail_msg("no audit event %s %s by %s, owner %s, alias %s among:\n%s", want[w].action,
                     want[w].outcome, want[w].principal, want[w].owner ? want[w].owner : "null",
                     want[w].alias ? want[w].alias : "null", dump);
        }
    }
    if (got != n) {
        char *dump = json_dumps(events, JSON_INDENT(1));
        fail_msg("%zu audit events of the device, expected exactly %zu:\n%s", got, n, dump);
    }
    free(used);
}

/* ---- tests ---- */

static void test_every_change_read_and_refusal_is_audited(void **st)
{
    (void)st;
    /* A device with a user-auth key (for POST /assets/query), the app in a group. */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    if (sodium_init() < 0)
        fail_msg("sodium_init");
    crypto_sign_keypair(pk, sk);
    char pk64[64], body[1024], app[64], group[64], owner_app[80], owner_group[80];
    tl_b64(pk64, sizeof pk64, pk, sizeof pk);
    tl_unique(app, sizeof app, "com.example.audit");
    tl_unique(group, sizeof group, "com.example.auditgroup");
    snprintf(owner_app, sizeof owner_app, "app:%s", app);
    snprintf(owner_group, sizeof owner_group, "group:%s", group);
    snprintf(body, sizeof body, "{\"name\":\"audited\",\"userAuthPublicKey\":\"%s\"}", pk64);
    tl_resp *r = tl_http(srv, "POST", "/devices", srv->admin_token, body);
    tl_expect_status(r, 201);
    tl_device d;
    snprintf(d.id, sizeof d.id, "%s", tl_jstr(r->json, "id"));
    snprintf(d.token, sizeof d.token, "%s", tl_jstr(r->json, "deviceToken"));
    tl_resp_free(r);
    const char *groups[] = {group, NULL};
    tl_app a = tl_app_install(srv, d.id, app, groups, false);

    /* Aliases that would be easy to spot if they leaked into the log. */
    char alias1[64], alias2[64], bulk1[64], bulk2[64], gated[64], missing[64];
    tl_unique(alias1, sizeof alias1, "AuditAliasOne");
    tl_unique(alias2, sizeof alias2, "AuditAliasTwo");
    tl_unique(bulk1, sizeof bulk1, "AuditBulkOne");
    tl_unique(bulk2, sizeof bulk2, "AuditBulkTwo");
    tl_unique(gated, sizeof gated, "AuditGated");
    tl_unique(missing, sizeof missing, "AuditMissing");

    /* add; the same add again (refused); a group's add */
    json_decref(tl_asset_addf(
        srv, a.token, "{\"alias\":\"%s\",\"secret\":\"Zmlyc3Q=\",\"syncType\":[\"THIS_DEVICE\"]}",
        alias1));
    char *row_before = tl_db_dump(
        "SELECT t::text FROM assets t WHERE device_id = $1 AND alias = $2", d.id, alias1, NULL);
    snprintf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"c2Vjb25k\"}", alias1);
    tl_req_problem(srv, "POST", "/assets", a.token, body, 409, "DUPLICATED");
    char *row_after = tl_db_dump("SELECT t::text FROM assets t WHERE device_id = $1 AND alias = $2",
                                 d.id, alias1, NULL);
    assert_string_equal(row_before, row_after); /* the refused add changed nothing */
    free(row_before);
    free(row_after);
    char got[64];
    tl_get_secret(srv, a.token, alias1, NULL, got, sizeof got); /* getAsset ok */
    assert_string_equal(got, "first");
    json_decref(tl_asset_addf(srv, a.token,
                              "{\"alias\":\"%s\",\"secret\":\"Z3JvdXA=\",\"groupId\":\"%s\"}",
                              alias2, group));
    /* update; reads with and without the secret; a refused read */
    snprintf(body, sizeof body, "/assets/%s", alias1);
    tl_req_status(srv, "PATCH", body, a.token, "{\"secret\":\"dXBkYXRlZA==\"}", 200);
    char path[256];
    snprintf(path, sizeof path, "/assets/%s?returnType=ATTRIBUTES", alias1);
    tl_req_status(srv, "GET", path, a.token, NULL, 200); /* attributes only: not recorded */
    snprintf(path, sizeof path, "/assets?alias=%s", alias1);
    tl_req_status(srv, "GET", path, a.token, NULL, 200); /* not recorded either */
    snprintf(path, sizeof path, "/assets?alias=%s&returnType=ALL", alias1);
    tl_req_status(srv, "GET", path, a.token, NULL, 200); /* listAssets ok */
    snprintf(path, sizeof path, "/assets/%s?returnType=ALL&groupId=%s", alias2, group);
    tl_req_status(srv, "GET", path, a.token, NULL, 200); /* getAsset ok, group owner */
    snprintf(path, sizeof path, "/assets/%s?returnType=ALL", missing);
    tl_req_problem(srv, "GET", path, a.token, NULL, 404, "NOT_FOUND"); /* getAsset NOT_FOUND */
    /* the user-authenticated read */
    json_decref(tl_asset_addf(
        srv, a.token, "{\"alias\":\"%s\",\"secret\":\"Z2F0ZWQ=\",\"authType\":\"ANY\"}", gated));
    snprintf(body, sizeof body, "{\"alias\":\"%s\"}", gated);
    r = tl_http(srv, "POST", "/assets/pre-query", a.token, body);
    tl_expect_status(r, 200);
    unsigned char ch[32], msg[32 + 128], sig[crypto_sign_BYTES];
    assert_int_equal(tl_b64_decode(ch, sizeof ch, tl_jstr(r->json, "challenge")), 32);
    char ch64[64];
    snprintf(ch64, sizeof ch64, "%s", tl_jstr(r->json, "challenge"));
    tl_resp_free(r);
    memcpy(msg, ch, 32);
    memcpy(msg + 32, app, strlen(app));
    crypto_sign_detached(sig, NULL, msg, 32 + strlen(app), sk);
    char sig64[128];
    tl_b64(sig64, sizeof sig64, sig, sizeof sig);
    snprintf(body, sizeof body, "{\"alias\":\"%s\",\"authChallenge\":\"%s\",\"authToken\":\"%s\"}",
             gated, ch64, sig64);
    r = tl_http(srv, "POST", "/assets/query", a.token, body);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(json_array_get(json_object_get(r->json, "assets"), 0), "secret"),
                        "Z2F0ZWQ=");
    tl_resp_free(r);
    snprintf(body, sizeof body, "{\"authChallenge\":\"%s\"}", ch64);
    tl_req_status(srv, "POST", "/assets/post-query", a.token, body, 204);
    /* remove one; remove many (one event for the call) */
    json_decref(tl_asset_addf(
        srv, a.token, "{\"alias\":\"%s\",\"secret\":\"YnVsaw==\",\"dataLabelNormal1\":\"bulk\"}",
        bulk1));
    json_decref(tl_asset_addf(
        srv, a.token, "{\"alias\":\"%s\",\"secret\":\"YnVsaw==\",\"dataLabelNormal1\":\"bulk\"}",
        bulk2));
    snprintf(path, sizeof path, "/assets/%s", alias1);
    tl_req_status(srv, "DELETE", path, a.token, NULL, 204);
    tl_req_status(srv, "DELETE", path, a.token, NULL, 404); /* deleteAsset NOT_FOUND */
    r = tl_http(srv, "DELETE", "/assets?dataLabelNormal1=bulk", a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 2);
    tl_resp_free(r);
    /* backups by the admin and by the device; a restore */
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id);
    r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    tl_expect_status(r, 201);
    char backup_id[64];
    snprintf(backup_id, sizeof backup_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    tl_req_status(srv, "POST", "/backups", d.token, body, 201);
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id, d.id);
    tl_req_status(srv, "POST", "/restores", srv->admin_token, body, 202);

    const want_event want[] = {
        {"createDevice", "ok", "admin", NULL, NULL},
        {"installApp", "ok", "admin", NULL, NULL},
        {"addAsset", "ok", "installation", owner_app, alias1},
        {"addAsset", "DUPLICATED", "installation", owner_app, alias1},
        {"getAsset", "ok", "installation", owner_app, alias1},
        {"addAsset", "ok", "installation", owner_group, alias2},
        {"updateAsset", "ok", "installation", owner_app, alias1},
        {"listAssets", "ok", "installation", owner_app, alias1},
        {"getAsset", "ok", "installation", owner_group, alias2},
        {"getAsset", "NOT_FOUND", "installation", owner_app, missing},
        {"addAsset", "ok", "installation", owner_app, gated},
        {"preQueryAssets", "ok", "installation", owner_app, gated},
        {"queryAssetsWithAuth", "ok", "installation", owner_app, gated},
        {"postQueryAssets", "ok", "installation", owner_app, NULL},
        {"addAsset", "ok", "installation", owner_app, bulk1},
        {"addAsset", "ok", "installation", owner_app, bulk2},
        {"deleteAsset", "ok", "installation", owner_app, alias1},
        {"deleteAsset", "NOT_FOUND", "installation", owner_app, alias1},
        {"deleteAssets", "ok", "installation", owner_app, NULL}, /* one event per call */
        {"createBackup", "ok", "admin", NULL, NULL},
        {"createBackup", "ok", "device", NULL, NULL},
        {"createRestore", "ok", "admin", NULL, NULL},
    };
    size_t n = sizeof want / sizeof want[0];
    json_t *events = wait_device_events(d.id, n);
    /* Let a late writer add anything it still would (nothing more is expected). */
    usleep(300 * 1000);
    json_decref(events);
    events = device_events(d.id);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) check_event_shape(ev);
    g_nhashes = 0;
    match_events(events, d.id, want, n);
    /* Exactly one refused add of alias1 (and one successful one): counted directly. */
    const char *h1 = hash_of(alias1, "");
    int refused = 0, added = 0;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(tl_jstr(ev, "action"), "addAsset") || !tl_jstr(ev, "aliasHash") ||
            strcmp(tl_jstr(ev, "aliasHash"), h1))
            continue;
        refused += strcmp(tl_jstr(ev, "outcome"), "DUPLICATED") == 0;
        added += strcmp(tl_jstr(ev, "outcome"), "ok") == 0;
    }
    assert_int_equal(refused, 1);
    assert_int_equal(added, 1);
    json_decref(events);

    /* The log never holds an alias, a secret or a token in the clear. */
    json_t *all = audit_walk(1000, NULL, 0);
    char *text = json_dumps(all, JSON_COMPACT);
    const char *never[] = {alias1,     alias2,         bulk1,   gated,   missing,
                           "Zmlyc3Q=", "dXBkYXRlZA==", a.token, d.token, srv->admin_token};
    for (size_t k = 0; k < sizeof never / sizeof never[0]; k++)
        if (strstr(text, never[k]))
            fail_msg("the audit log holds \"%s\"", never[k]);
    free(text);
    json_decref(all);
}

/* A refused admin call on a device (a restore across accounts) is recorded, and names the
 * device concerned (openapi AuditEvent.deviceId: "the restore's target"). */
static void test_refused_admin_call(void **st)
{
    (void)st;
    char acct1[64], acct2[64], body[256], app[64];
    tl_unique(acct1, sizeof acct1, "acct-audit-a");
    tl_unique(acct2, sizeof acct2, "acct-audit-b");
    tl_unique(app, sizeof app, "com.example.auditx");
    tl_device src = tl_device_create(srv, NULL, acct1), other = tl_device_create(srv, NULL, acct2);
    tl_app a = tl_app_install(srv, src.id, app, NULL, false);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"x\",\"secret\":\"eA==\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", src.id);
    tl_resp *r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    tl_expect_status(r, 201);
    char backup_id[64];
    snprintf(backup_id, sizeof backup_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    long long mark = tl_db_count("SELECT coalesce(max(id), 0) FROM audit_log", NULL);
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id,
             other.id);
    tl_req_problem(srv, "POST", "/restores", srv->admin_token, body, 403, "PERMISSION_DENIED");
    /* Wait for the background writer, then find the refusal among the newer events. */
    json_t *found = NULL;
    for (int i = 0; i < 100 && !found; i++) {
        json_t *all = audit_walk(1000, NULL, 0), *ev;
        size_t k;
        json_array_foreach(all, k, ev)
        {
            if (tl_jint(ev, "id") > mark && !strcmp(tl_jstr(ev, "action"), "createRestore") &&
                !strcmp(tl_jstr(ev, "outcome"), "PERMISSION_DENIED"))
                found = json_incref(ev);
        }
        json_decref(all);
        if (!found)
            usleep(100 * 1000);
    }
    if (!found)
        fail_msg("the refused restore is not in the audit log after 10 s");
    check_event_shape(found);
    assert_string_equal(tl_jstr(found, "principal"), "admin");
    assert_true(json_is_null(json_object_get(found, "aliasHash")));
    if (!str_eq_or_null(found, "deviceId", other.id)) {
        char t[512];
        char *dump = json_dumps(found, JSON_COMPACT);
        snprintf(t, sizeof t, "%s", dump ? dump : "?");
        free(dump);
        json_decref(found);
        fail_msg("the refused restore onto %s is recorded without its device: %s", other.id, t);
    }
    json_decref(found);
}

/* Paging: every limit walks the same events, once each, in id order; the cursor of one walk
 * works with another limit; bad cursors and parameters are refused; only the admin reads. */
static void test_paging_and_access(void **st)
{
    (void)st;
    /* Some events of our own, so the log is not empty. */
    tl_app a = tl_fresh_app(srv, "com.example.auditpaging", NULL);
    for (int i = 0; i < 12; i++)
        json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"p%d\",\"secret\":\"cA==\"}", i));
    /* Quiesce: wait until the log stops growing (the background writer is done). */
    long long n = -1, m = tl_db_count("SELECT count(*) FROM audit_log", NULL);
    for (int i = 0; i < 50 && n != m; i++) {
        usleep(100 * 1000);
        n = m;
        m = tl_db_count("SELECT count(*) FROM audit_log", NULL);
    }
    char *ids_db = tl_db_dump("SELECT id FROM audit_log ORDER BY id", NULL);
    char last_cursor[512];
    json_t *big = audit_walk(1000, last_cursor, sizeof last_cursor);
    /* The walk returns exactly the rows of the table, in order. */
    size_t len = 0, cap = json_array_size(big) * 21 + 1;
    char *ids_api = malloc(cap);
    assert_non_null(ids_api);
    ids_api[0] = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(big, i, ev) len +=
        (size_t)snprintf(ids_api + len, cap - len, "%lld\n", tl_jint(ev, "id"));
    assert_string_equal(ids_api, ids_db);
    assert_true(json_array_size(big) >= 12);
    /* Small pages: the first 60 events, 7 at a time, are the same as the big walk's. */
    char cursor[512] = "", enc[1600];
    size_t k = 0;
    for (int page = 0; page < 9; page++) {
        tl_resp *r = cursor[0]
                         ? tl_httpf(srv, "GET", srv->admin_token, NULL, "/audit?limit=7&cursor=%s",
                                    tl_urlenc(enc, sizeof enc, cursor))
                         : tl_http(srv, "GET", "/audit?limit=7", srv->admin_token, NULL);
        tl_expect_status(r, 200);
        json_array_foreach(json_object_get(r->json, "events"), i, ev)
        {
            assert_true(json_equal(ev, json_array_get(big, k)));
            k++;
        }
        json_t *next = json_object_get(r->json, "nextCursor");
        if (json_is_null(next)) {
            tl_resp_free(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        tl_resp_free(r);
    }
    assert_true(k == json_array_size(big) || k == 63);
    /* The tail: from the big walk's last cursor, 5 at a time, to the end, same events. */
    if (last_cursor[0]) {
        size_t start = (json_array_size(big) - 1) / 1000 * 1000;
        snprintf(cursor, sizeof cursor, "%s", last_cursor);
        k = start;
        for (;;) {
            tl_resp *r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/audit?limit=5&cursor=%s",
                                  tl_urlenc(enc, sizeof enc, cursor));
            tl_expect_status(r, 200);
            json_array_foreach(json_object_get(r->json, "events"), i, ev)
            {
                assert_true(json_equal(ev, json_array_get(big, k)));
                k++;
            }
            json_t *next = json_object_get(r->json, "nextCursor");
            bool more = json_is_string(next);
            if (more)
                snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
            tl_resp_free(r);
            if (!more)
                break;
        }
        assert_int_equal(k, json_array_size(big));
    }
    free(ids_api);
    free(ids_db);
    json_decref(big);

    /* Bad cursors: 400 PARAM_VERIFICATION_FAILED. */
    const char *bad[] = {
        "not-a-cursor",     "%20",  "YTo", "YTotNQ" /* "a:-5" */, "YTphYmM" /* "a:abc" */,
        "eDox" /* "x:1" */, "YTox!" /* not base64url */};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        char p[256];
        snprintf(p, sizeof p, "/audit?cursor=%s", bad[b]);
        tl_req_problem(srv, "GET", p, srv->admin_token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    }
    /* Bad parameters: 400 INVALID_ARGUMENT. */
    tl_req_problem(srv, "GET", "/audit?limit=0", srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/audit?limit=1001", srv->admin_token, NULL, 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/audit?limit=x", srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/audit?offset=3", srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
    /* Only the admin. */
    tl_device d;
    tl_app other = tl_fresh_app(srv, "com.example.auditreader", &d);
    tl_req_problem(srv, "GET", "/audit", other.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/audit", d.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/audit", NULL, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/audit", "not-a-token-at-all-0000", NULL, 401, "PERMISSION_DENIED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_change_read_and_refusal_is_audited),
        cmocka_unit_test(test_refused_admin_call),
        cmocka_unit_test(test_paging_and_access),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
