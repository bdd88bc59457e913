/* HTTP black-box tests of the asset operations: add, query, get, update, remove (spec §3, §4,
 * §6), the seed example, defaults, conflicts, update times, filters, lock-state rules, the
 * encrypted-label store and what is stored at rest (§9). Each test uses fresh devices. */
#include <string.h>
#include <time.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    srv = tl_server_start(NULL);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

static bool is_timestamp(const char *t)
{
    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!t || strlen(t) != strlen(pat))
        return false;
    for (size_t i = 0; pat[i]; i++)
        if (pat[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != pat[i])
            return false;
    return true;
}

static char *upd_time(const json_t *asset, char out[64])
{
    const char *t = tl_jstr(asset, "updateTime");
    assert_true(is_timestamp(t));
    snprintf(out, 64, "%s", t);
    return out;
}

/* The seed example of the task: add demo_pwd with alias demo_alias, label demo_label,
 * TRUSTED_DEVICE sync; read it back without and with the secret. */
static void test_seed_example(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.demo", NULL);
    char secret[64];
    tl_b64(secret, sizeof secret, "demo_pwd", 8);
    assert_string_equal(secret, "ZGVtb19wd2Q=");

    tl_resp *r = tl_http(srv, "POST", "/assets", a.token,
                         "{\"secret\":\"ZGVtb19wd2Q=\",\"alias\":\"demo_alias\","
                         "\"dataLabelNormal1\":\"demo_label\",\"syncType\":[\"TRUSTED_DEVICE\"]}");
    tl_expect_status(r, 201);
    assert_true(strncmp(r->content_type, "application/json", 16) == 0);
    assert_string_equal(tl_jstr(r->json, "alias"), "demo_alias");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "demo_label");
    json_t *sync = json_object_get(r->json, "syncType");
    assert_int_equal(json_array_size(sync), 1);
    assert_string_equal(json_string_value(json_array_get(sync, 0)), "TRUSTED_DEVICE");
    assert_null(json_object_get(r->json, "secret"));
    tl_expect_body_lacks(r, "ZGVtb19wd2Q");
    tl_resp_free(r);

    /* Query by alias, attributes only (the default). */
    r = tl_http(srv, "GET", "/assets?alias=demo_alias", a.token, NULL);
    tl_expect_status(r, 200);
    json_t *list = json_object_get(r->json, "assets");
    assert_int_equal(json_array_size(list), 1);
    assert_true(json_is_null(json_object_get(r->json, "nextCursor")));
    assert_int_equal(json_object_size(r->json), 2);
    json_t *asset = json_array_get(list, 0);
    assert_string_equal(tl_jstr(asset, "alias"), "demo_alias");
    assert_string_equal(tl_jstr(asset, "dataLabelNormal1"), "demo_label");
    assert_null(json_object_get(asset, "secret"));
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/demo_alias", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "demo_alias");
    assert_null(json_object_get(r->json, "secret"));
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets?alias=demo_alias&returnType=ATTRIBUTES", a.token, NULL);
    tl_expect_status(r, 200);
    assert_null(json_object_get(json_array_get(json_object_get(r->json, "assets"), 0), "secret"));
    tl_resp_free(r);

    /* With the secret. */
    char plain[64];
    r = tl_http(srv, "GET", "/assets?alias=demo_alias&returnType=ALL", a.token, NULL);
    tl_expect_status(r, 200);
    asset = json_array_get(json_object_get(r->json, "assets"), 0);
    long n = tl_b64_decode(plain, sizeof plain - 1, tl_jstr(asset, "secret"));
    assert_int_equal(n, 8);
    plain[n] = 0;
    assert_string_equal(plain, "demo_pwd");
    assert_string_equal(tl_jstr(asset, "dataLabelNormal1"), "demo_label");
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "demo_alias", NULL, plain, sizeof plain),
                        "demo_pwd");
}

static void test_defaults_filled(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.defaults", NULL);
    json_t *j = tl_asset_add(srv, a.token, "{\"alias\":\"d\",\"secret\":\"c2VjcmV0\"}");
    for (int round = 0; round < 2; round++) {
        assert_string_equal(tl_jstr(j, "alias"), "d");
        assert_string_equal(tl_jstr(j, "accessibility"), "DEVICE_FIRST_UNLOCKED");
        assert_true(json_is_false(json_object_get(j, "requirePasswordSet")));
        assert_string_equal(tl_jstr(j, "authType"), "NONE");
        assert_true(json_is_array(json_object_get(j, "syncType")));
        assert_int_equal(json_array_size(json_object_get(j, "syncType")), 0);
        assert_true(json_is_false(json_object_get(j, "isPersistent")));
        assert_true(json_is_false(json_object_get(j, "requireAttrEncrypted")));
        assert_string_equal(tl_jstr(j, "wrapType"), "NEVER");
        assert_true(is_timestamp(tl_jstr(j, "updateTime")));
        /* Nothing else: no secret, no groupId, no labels, no conflictResolution. */
        assert_int_equal(json_object_size(j), 9);
        json_decref(j);
        if (round == 0) {
            tl_resp *r = tl_http(srv, "GET", "/assets/d", a.token, NULL);
            tl_expect_status(r, 200);
            j = json_incref(r->json);
            tl_resp_free(r);
        }
    }
}

static void test_every_attribute_round_trips(void **st)
{
    (void)st;
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.full", NULL, true);
    tl_device_set_state(srv, d.id, true, false, true); /* a password, unlocked */
    static const char *const labels[] = {
        "dataLabelCritical1",    "dataLabelCritical2",    "dataLabelCritical3",
        "dataLabelCritical4",    "dataLabelNormal1",      "dataLabelNormal2",
        "dataLabelNormal3",      "dataLabelNormal4",      "dataLabelNormalLocal1",
        "dataLabelNormalLocal2", "dataLabelNormalLocal3", "dataLabelNormalLocal4"};
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:b, s:s, s:[s,s], s:b, s:s, s:s, s:b}", "alias", "full", "secret",
        "c2VjcmV0", "accessibility", "DEVICE_POWERED_ON", "requirePasswordSet", 1, "authType",
        "ANY", "syncType", "TRUSTED_DEVICE", "THIS_DEVICE", "isPersistent", 1, "wrapType",
        "TRUSTED_ACCOUNT", "conflictResolution", "THROW_ERROR", "requireAttrEncrypted", 0);
    for (int i = 0; i < 12; i++) {
        char v[64];
        snprintf(v, sizeof v, "value of %s ✓", labels[i]);
        json_object_set_new(body, labels[i], json_string(v));
    }
    tl_resp *r = tl_http_json(srv, "POST", "/assets", a.token, body);
    tl_expect_status(r, 201);
    json_t *got[2] = {json_incref(r->json), NULL};
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/full", a.token, NULL);
    tl_expect_status(r, 200);
    got[1] = json_incref(r->json);
    tl_resp_free(r);
    for (int k = 0; k < 2; k++) {
        json_t *j = got[k];
        assert_string_equal(tl_jstr(j, "accessibility"), "DEVICE_POWERED_ON");
        assert_true(tl_jbool(j, "requirePasswordSet"));
        assert_string_equal(tl_jstr(j, "authType"), "ANY");
        json_t *sync = json_object_get(j, "syncType");
        /* Listed in bit order, whatever order they were given in. */
        assert_int_equal(json_array_size(sync), 2);
        assert_string_equal(json_string_value(json_array_get(sync, 0)), "THIS_DEVICE");
        assert_string_equal(json_string_value(json_array_get(sync, 1)), "TRUSTED_DEVICE");
        assert_true(tl_jbool(j, "isPersistent"));
        assert_string_equal(tl_jstr(j, "wrapType"), "TRUSTED_ACCOUNT");
        assert_true(json_is_false(json_object_get(j, "requireAttrEncrypted")));
        assert_null(json_object_get(j, "conflictResolution"));
        assert_null(json_object_get(j, "secret"));
        for (int i = 0; i < 12; i++) {
            char v[64];
            snprintf(v, sizeof v, "value of %s ✓", labels[i]);
            assert_string_equal(tl_jstr(j, labels[i]), v);
        }
        assert_int_equal(json_object_size(j), 9 + 12);
        json_decref(j);
    }
}

static void test_duplicate_and_overwrite(void **st)
{
    (void)st;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.dup", NULL);
    json_decref(
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"x\",\"secret\":\"Zmlyc3Q=\",\"dataLabelNormal1\":\"one\","
                     "\"dataLabelCritical1\":\"crit\",\"syncType\":[\"THIS_DEVICE\"]}"));
    tl_req_problem(srv, "POST", "/assets", a.token, "{\"alias\":\"x\",\"secret\":\"c2Vjb25k\"}",
                   409, "DUPLICATED");
    tl_req_problem(
        srv, "POST", "/assets", a.token,
        "{\"alias\":\"x\",\"secret\":\"c2Vjb25k\",\"conflictResolution\":\"THROW_ERROR\"}", 409,
        "DUPLICATED");
    assert_string_equal(tl_get_secret(srv, a.token, "x", NULL, secret, sizeof secret), "first");

    /* OVERWRITE replaces the asset whole: 200, new secret, fields not given take defaults. */
    tl_resp *r =
        tl_http(srv, "POST", "/assets", a.token,
                "{\"alias\":\"x\",\"secret\":\"c2Vjb25k\",\"conflictResolution\":\"OVERWRITE\","
                "\"dataLabelNormal2\":\"two\"}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "x");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal2"), "two");
    assert_null(json_object_get(r->json, "dataLabelNormal1"));
    assert_null(json_object_get(r->json, "dataLabelCritical1"));
    assert_int_equal(json_array_size(json_object_get(r->json, "syncType")), 0);
    assert_null(json_object_get(r->json, "secret"));
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "x", NULL, secret, sizeof secret), "second");
    r = tl_http(srv, "GET", "/assets/x", a.token, NULL);
    tl_expect_status(r, 200);
    assert_null(json_object_get(r->json, "dataLabelNormal1"));
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal2"), "two");
    tl_resp_free(r);
    char list[256];
    assert_string_equal(tl_list(srv, a.token, "alias=x", list, sizeof list), "x");

    /* OVERWRITE of an alias that does not exist yet is a plain add: 201. */
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"y\",\"secret\":\"c2Vjb25k\",\"conflictResolution\":\"OVERWRITE\"}",
                  201);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "x,y");
}

static void test_update_secret_and_labels(void **st)
{
    (void)st;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.upd", NULL);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"u\",\"secret\":\"Zmlyc3Q=\",\"dataLabelNormal1\":\"a\","
                             "\"dataLabelNormalLocal1\":\"loc\",\"dataLabelCritical1\":\"crit\"}"));
    tl_resp *r = tl_http(srv, "PATCH", "/assets/u", a.token, "{\"secret\":\"c2Vjb25k\"}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "u");
    assert_null(json_object_get(r->json, "secret"));
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "a");
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical1"), "crit");
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "second");

    r = tl_http(srv, "PATCH", "/assets/u", a.token,
                "{\"dataLabelNormal1\":\"b\",\"dataLabelNormalLocal2\":\"l2\",\"dataLabelNormal4\":"
                "\"n4\"}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "b");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal4"), "n4");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal1"), "loc");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal2"), "l2");
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical1"), "crit");
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "second");

    /* Secret and labels together. */
    tl_req_status(srv, "PATCH", "/assets/u", a.token,
                  "{\"secret\":\"dGhpcmQ=\",\"dataLabelNormal2\":\"n2\"}", 200);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "third");
    char list[64];
    assert_string_equal(
        tl_list(srv, a.token, "dataLabelNormal2=n2&dataLabelNormal1=b", list, sizeof list), "u");

    /* Unknown alias. */
    tl_req_problem(srv, "PATCH", "/assets/nope", a.token, "{\"dataLabelNormal1\":\"x\"}", 404,
                   "NOT_FOUND");
}

/* Critical labels are integrity-protected: an update may not touch them (400), nor any field
 * but secret and the normal labels; nothing is written by a refused update. */
static void test_update_refusals(void **st)
{
    (void)st;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.updbad", NULL);
    json_t *orig =
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"u\",\"secret\":\"Zmlyc3Q=\",\"dataLabelNormal1\":\"a\","
                     "\"dataLabelCritical1\":\"crit\"}");
    const char *cases[][2] = {
        {"{\"dataLabelCritical1\":\"changed\"}", "dataLabelCritical1"},
        {"{\"dataLabelCritical4\":\"new\"}", "dataLabelCritical4"},
        {"{\"accessibility\":\"DEVICE_POWERED_ON\"}", "accessibility"},
        {"{\"alias\":\"v\"}", "alias"},
        {"{\"syncType\":[\"THIS_DEVICE\"]}", "syncType"},
        {"{\"requirePasswordSet\":false}", "requirePasswordSet"},
        {"{\"authType\":\"NONE\"}", "authType"},
        {"{\"isPersistent\":false}", "isPersistent"},
        {"{\"requireAttrEncrypted\":false}", "requireAttrEncrypted"},
        {"{\"groupId\":\"com.example.group\"}", "groupId"},
        {"{\"wrapType\":\"NEVER\"}", "wrapType"},
        {"{\"conflictResolution\":\"OVERWRITE\"}", "conflictResolution"},
        {"{\"updateTime\":\"2020-01-01T00:00:00.000Z\"}", "updateTime"},
        {"{\"dataLabelNormal1\":\"ok\",\"dataLabelCritical1\":\"changed\"}", "dataLabelCritical1"},
        {"{\"secret\":\"c2Vjb25k\",\"accessibility\":\"DEVICE_POWERED_ON\"}", "accessibility"},
        {"{\"dataLabelNormal1\":null}", "dataLabelNormal1"},
        {"{\"dataLabelNormal1\":\"\"}", "dataLabelNormal1"},
        {"{\"secret\":\"\"}", "secret"},
        {"{\"secret\":\"not base64\"}", "secret"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_resp *r = tl_http(srv, "PATCH", "/assets/u", a.token, cases[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", cases[i][1]);
        tl_resp_free(r);
    }
    /* Nothing to update at all. */
    tl_req_problem(srv, "PATCH", "/assets/u", a.token, "{}", 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "PATCH", "/assets/u", a.token, NULL, 400, "INVALID_ARGUMENT");
    /* A parameter PATCH does not take. */
    tl_req_problem(srv, "PATCH", "/assets/u?returnType=ALL", a.token,
                   "{\"dataLabelNormal1\":\"z\"}", 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "PATCH", "/assets/u?limit=1", a.token, "{\"dataLabelNormal1\":\"z\"}", 400,
                   "INVALID_ARGUMENT");
    /* Extra match conditions (§4) the asset does not meet: 404, nothing written. */
    tl_req_problem(srv, "PATCH", "/assets/u?dataLabelNormal1=b", a.token,
                   "{\"dataLabelNormal1\":\"z\"}", 404, "NOT_FOUND");
    /* Unchanged. */
    tl_resp *r = tl_http(srv, "GET", "/assets/u", a.token, NULL);
    tl_expect_status(r, 200);
    assert_true(json_equal(r->json, orig));
    tl_resp_free(r);
    json_decref(orig);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "first");
}

static json_t *patch_ok(const tl_app *a, const char *body)
{
    tl_resp *r = tl_http(srv, "PATCH", "/assets/t", a->token, body);
    tl_expect_status(r, 200);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    return j;
}

/* updateTime changes on a secret or normal-label update, not when only local labels change. */
static void test_update_time(void **st)
{
    (void)st;
    char t0[64], t[64], g[64];
    tl_app a = tl_fresh_app(srv, "com.example.time", NULL);
    json_t *j = tl_asset_add(srv, a.token, "{\"alias\":\"t\",\"secret\":\"c2VjcmV0\"}");
    upd_time(j, t0);
    json_decref(j);

    tl_sleep_ms(25);
    j = patch_ok(&a, "{\"dataLabelNormalLocal1\":\"local only\",\"dataLabelNormalLocal4\":\"x\"}");
    assert_string_equal(upd_time(j, t), t0);
    json_decref(j);
    tl_resp *r = tl_http(srv, "GET", "/assets/t", a.token, NULL);
    assert_string_equal(upd_time(r->json, g), t0);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal1"), "local only");
    tl_resp_free(r);

    tl_sleep_ms(25);
    j = patch_ok(&a, "{\"dataLabelNormal3\":\"normal\"}");
    upd_time(j, t);
    json_decref(j);
    assert_true(strcmp(t, t0) > 0);
    r = tl_http(srv, "GET", "/assets/t", a.token, NULL);
    assert_string_equal(upd_time(r->json, g), t);
    tl_resp_free(r);

    tl_sleep_ms(25);
    snprintf(t0, sizeof t0, "%s", t);
    j = patch_ok(&a, "{\"secret\":\"bmV3\"}");
    upd_time(j, t);
    json_decref(j);
    assert_true(strcmp(t, t0) > 0);

    tl_sleep_ms(25);
    snprintf(t0, sizeof t0, "%s", t);
    j = patch_ok(&a, "{\"dataLabelNormalLocal2\":\"l\",\"dataLabelNormal1\":\"n\"}");
    upd_time(j, t);
    json_decref(j);
    assert_true(strcmp(t, t0) > 0);

    /* A local-only update after that keeps the time again. */
    tl_sleep_ms(25);
    snprintf(t0, sizeof t0, "%s", t);
    j = patch_ok(&a, "{\"dataLabelNormalLocal1\":\"again\"}");
    assert_string_equal(upd_time(j, t), t0);
    json_decref(j);
}

static void test_remove(void **st)
{
    (void)st;
    char list[256];
    tl_app a = tl_fresh_app(srv, "com.example.rm", NULL);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"r1\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"grp\"}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"r2\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"grp\"}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"r3\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"other\"}"));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"r4\",\"secret\":\"c2VjcmV0\"}"));

    tl_resp *r = tl_http(srv, "DELETE", "/assets/r3", a.token, NULL);
    tl_expect_status(r, 204);
    assert_int_equal(r->body_len, 0);
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/r3", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets/r3", a.token, NULL, 404, "NOT_FOUND");

    r = tl_http(srv, "DELETE", "/assets?dataLabelNormal1=grp", a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 2);
    assert_int_equal(json_object_size(r->json), 1);
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "dataLabelNormal1=grp", list, sizeof list), "404");
    tl_req_problem(srv, "DELETE", "/assets?dataLabelNormal1=grp", a.token, NULL, 404, "NOT_FOUND");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "r4");

    /* Remove by alias filter. */
    r = tl_http(srv, "DELETE", "/assets?alias=r4", a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 1);
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "404");
}

/* Aliases are one percent-encoded path segment; '+' is literal in a path, a space in a query. */
static void test_alias_encoding(void **st)
{
    (void)st;
    char enc[2048], alias256[300], eacute[300];
    tl_app a = tl_fresh_app(srv, "com.example.enc", NULL);
    memset(alias256, 'x', 256);
    alias256[256] = 0;
    eacute[0] = 0;
    for (int i = 0; i < 128; i++) /* 128 characters of 2 bytes: 256 bytes */
        strcat(eacute, "é");
    const char *aliases[] = {"a/b",       "a b",        "a+b",       "100%",  "query",
                             "pre-query", "post-query", "ünïcødé ✓", "?#&=;", "..x",
                             alias256,    eacute,       "😀"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        json_t *body = json_pack("{s:s, s:s}", "alias", aliases[i], "secret", "c2VjcmV0");
        tl_resp *r = tl_http_json(srv, "POST", "/assets", a.token, body);
        tl_expect_status(r, 201);
        assert_string_equal(tl_jstr(r->json, "alias"), aliases[i]);
        tl_resp_free(r);
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        tl_urlenc(enc, sizeof enc, aliases[i]);
        tl_resp *r = tl_httpf(srv, "GET", a.token, NULL, "/assets/%s", enc);
        tl_expect_status(r, 200);
        assert_string_equal(tl_jstr(r->json, "alias"), aliases[i]);
        tl_resp_free(r);
        r = tl_httpf(srv, "GET", a.token, NULL, "/assets?alias=%s", enc);
        tl_expect_status(r, 200);
        assert_string_equal(tl_jstr(json_array_get(json_object_get(r->json, "assets"), 0), "alias"),
                            aliases[i]);
        tl_resp_free(r);
    }
    /* '+' in a path is a plus; in a query string a space. */
    tl_resp *r = tl_http(srv, "GET", "/assets/a+b", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "a+b");
    tl_resp_free(r);
    char list[64];
    assert_string_equal(tl_list(srv, a.token, "alias=a+b", list, sizeof list), "a b");
    assert_string_equal(tl_list(srv, a.token, "alias=a%2Bb", list, sizeof list), "a+b");
    /* GET on the fixed POST-only paths reads the asset of that alias. */
    r = tl_http(srv, "GET", "/assets/query", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "query");
    tl_resp_free(r);
    /* Every one is removable by path. */
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        char path[2100];
        tl_req_status(
            srv, "DELETE",
            tl_pathf(path, sizeof path, "/assets/%s", tl_urlenc(enc, sizeof enc, aliases[i])),
            a.token, NULL, 204);
    }
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "404");
}

static void test_sync_type_filter(void **st)
{
    (void)st;
    char list[256];
    tl_app a = tl_fresh_app(srv, "com.example.sync", NULL);
    json_decref(
        tl_asset_add(srv, a.token, "{\"alias\":\"s0\",\"secret\":\"c2VjcmV0\",\"syncType\":[]}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"s1\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"THIS_DEVICE\"]}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"s2\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    json_t *j = tl_asset_add(srv, a.token,
                             "{\"alias\":\"s3\",\"secret\":\"c2VjcmV0\","
                             "\"syncType\":[\"TRUSTED_DEVICE\",\"THIS_DEVICE\"]}");
    json_t *sync = json_object_get(j, "syncType");
    assert_int_equal(json_array_size(sync), 2);
    assert_string_equal(json_string_value(json_array_get(sync, 0)), "THIS_DEVICE");
    assert_string_equal(json_string_value(json_array_get(sync, 1)), "TRUSTED_DEVICE");
    json_decref(j);
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"s4\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"TRUSTED_ACCOUNT\"]}"));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"s5\",\"secret\":\"c2VjcmV0\",\"syncType\":"
                             "[\"THIS_DEVICE\",\"TRUSTED_DEVICE\",\"TRUSTED_ACCOUNT\"]}"));

    assert_string_equal(tl_list(srv, a.token, "syncType=THIS_DEVICE", list, sizeof list),
                        "s1,s3,s5");
    assert_string_equal(tl_list(srv, a.token, "syncType=TRUSTED_DEVICE", list, sizeof list),
                        "s2,s3,s5");
    assert_string_equal(
        tl_list(srv, a.token, "syncType=TRUSTED_DEVICE,THIS_DEVICE", list, sizeof list), "s3,s5");
    assert_string_equal(tl_list(srv, a.token, "syncType=TRUSTED_ACCOUNT", list, sizeof list),
                        "s4,s5");
    assert_string_equal(
        tl_list(srv, a.token, "syncType=THIS_DEVICE,TRUSTED_ACCOUNT", list, sizeof list), "s5");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "s0,s1,s2,s3,s4,s5");

    tl_resp *r =
        tl_http(srv, "DELETE", "/assets?syncType=THIS_DEVICE,TRUSTED_DEVICE", a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 2);
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "s0,s1,s2,s4");

    /* Malformed syncType filters. */
    const char *bad[] = {"syncType=",
                         "syncType=THIS_DEVICE,THIS_DEVICE",
                         "syncType=NEVER",
                         "syncType=this_device",
                         "syncType=THIS_DEVICE,",
                         "syncType=,THIS_DEVICE"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_httpf(srv, "GET", a.token, NULL, "/assets?%s", bad[i]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "syncType");
        tl_resp_free(r);
    }
}

static void test_filters(void **st)
{
    (void)st;
    char list[256];
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.filters", NULL, true);
    tl_device_set_state(srv, d.id, true, false, true);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"f1\",\"secret\":\"c2VjcmV0\",\"accessibility\":"
                             "\"DEVICE_POWERED_ON\",\"dataLabelNormal1\":\"x\"}"));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"f2\",\"secret\":\"c2VjcmV0\",\"authType\":\"ANY\","
                             "\"dataLabelNormal1\":\"x\"}"));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"f3\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"f4\",\"secret\":\"c2VjcmV0\",\"wrapType\":\"TRUSTED_ACCOUNT\"}"));
    json_decref(
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"f5\",\"secret\":\"c2VjcmV0\",\"dataLabelCritical2\":\"crit2\","
                     "\"dataLabelNormalLocal3\":\"loc3\"}"));
    json_decref(
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"f6\",\"secret\":\"c2VjcmV0\",\"requirePasswordSet\":true,"
                     "\"accessibility\":\"DEVICE_UNLOCKED\"}"));
    struct {
        const char *q, *want;
    } cases[] = {
        {"accessibility=DEVICE_POWERED_ON", "f1"},
        {"accessibility=DEVICE_UNLOCKED", "f6"},
        {"accessibility=DEVICE_FIRST_UNLOCKED", "f2,f3,f4,f5"},
        {"authType=ANY", "f2"},
        {"authType=NONE", "f1,f3,f4,f5,f6"},
        {"isPersistent=true", "f3"},
        {"isPersistent=false", "f1,f2,f4,f5,f6"},
        {"wrapType=TRUSTED_ACCOUNT", "f4"},
        {"wrapType=NEVER", "f1,f2,f3,f5,f6"},
        {"dataLabelCritical2=crit2", "f5"},
        {"dataLabelNormalLocal3=loc3", "f5"},
        {"requirePasswordSet=true", "f6"},
        {"dataLabelNormal1=x", "f1,f2"},
        {"dataLabelNormal1=x&accessibility=DEVICE_POWERED_ON", "f1"},
        {"dataLabelNormal1=x&authType=NONE", "f1"},
        {"dataLabelNormal1=y", "404"},
        {"dataLabelNormal1=x&isPersistent=true", "404"},
        {"alias=f4&wrapType=TRUSTED_ACCOUNT", "f4"},
        {"alias=f4&wrapType=NEVER", "404"},
        {"requireAttrEncrypted=false", "f1,f2,f3,f4,f5,f6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_list(srv, a.token, cases[i].q, list, sizeof list);
        if (strcmp(list, cases[i].want) != 0)
            fail_msg("GET /assets?%s: got %s, want %s", cases[i].q, list, cases[i].want);
    }
}

/* Spec §6: secret operations need the asset accessible; attribute operations always work. */
static void test_lock_state_rules(void **st)
{
    (void)st;
    char secret[64], list[256];
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.lock", NULL, false);
    /* No lock-screen password: requirePasswordSet cannot be satisfied. */
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"rp\",\"secret\":\"c2VjcmV0\",\"requirePasswordSet\":true}", 409,
                   "STATUS_MISMATCH");
    tl_req_problem(srv, "GET", "/assets/rp", a.token, NULL, 404, "NOT_FOUND");
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"u\",\"secret\":\"b2xk\",\"accessibility\":\"DEVICE_UNLOCKED\"}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"f\",\"secret\":\"b2xk\",\"accessibility\":\"DEVICE_FIRST_UNLOCKED\"}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"p\",\"secret\":\"b2xk\",\"accessibility\":\"DEVICE_POWERED_ON\"}"));

    /* Locked (password set, screen locked), but unlocked since boot. */
    tl_device_set_state(srv, d.id, true, true, true);
    tl_req_problem(srv, "GET", "/assets/u?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_req_problem(srv, "GET", "/assets?alias=u&returnType=ALL", a.token, NULL, 409,
                   "STATUS_MISMATCH");
    tl_req_status(srv, "GET", "/assets/u", a.token, NULL, 200);
    tl_req_status(srv, "GET", "/assets/u?returnType=ATTRIBUTES", a.token, NULL, 200);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "u,f,p");
    tl_req_problem(srv, "PATCH", "/assets/u", a.token, "{\"secret\":\"bmV3\"}", 409,
                   "STATUS_MISMATCH");
    tl_req_problem(srv, "PATCH", "/assets/u", a.token,
                   "{\"secret\":\"bmV3\",\"dataLabelNormal1\":\"with-secret\"}", 409,
                   "STATUS_MISMATCH");
    tl_resp *r =
        tl_http(srv, "PATCH", "/assets/u", a.token, "{\"dataLabelNormal1\":\"while-locked\"}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "while-locked");
    tl_resp_free(r);
    tl_req_status(srv, "PATCH", "/assets/u", a.token, "{\"dataLabelNormalLocal1\":\"loc\"}", 200);
    assert_string_equal(tl_get_secret(srv, a.token, "f", NULL, secret, sizeof secret), "old");
    assert_string_equal(tl_get_secret(srv, a.token, "p", NULL, secret, sizeof secret), "old");
    tl_req_problem(
        srv, "POST", "/assets", a.token,
        "{\"alias\":\"u2\",\"secret\":\"c2VjcmV0\",\"accessibility\":\"DEVICE_UNLOCKED\"}", 409,
        "STATUS_MISMATCH");
    tl_req_status(
        srv, "POST", "/assets", a.token,
        "{\"alias\":\"p2\",\"secret\":\"c2VjcmV0\",\"accessibility\":\"DEVICE_POWERED_ON\"}", 201);
    tl_req_status(
        srv, "POST", "/assets", a.token,
        "{\"alias\":\"rp2\",\"secret\":\"c2VjcmV0\",\"accessibility\":\"DEVICE_POWERED_ON\","
        "\"requirePasswordSet\":true}",
        201);
    tl_req_status(srv, "DELETE", "/assets/p2", a.token, NULL, 204);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "u,f,p,rp2");

    /* Unlocked again: the refused secret update wrote nothing; the label update stayed. */
    tl_device_set_state(srv, d.id, true, false, true);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "old");
    r = tl_http(srv, "GET", "/assets/u", a.token, NULL);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "while-locked");
    tl_resp_free(r);
    tl_req_status(srv, "PATCH", "/assets/u", a.token, "{\"secret\":\"bmV3\"}", 200);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "new");

    /* Locked and not unlocked since boot: not even "first unlocked". */
    tl_device_set_state(srv, d.id, true, true, false);
    tl_req_problem(srv, "GET", "/assets/f?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_req_problem(srv, "GET", "/assets/u?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    assert_string_equal(tl_get_secret(srv, a.token, "p", NULL, secret, sizeof secret), "old");
    tl_req_problem(srv, "PATCH", "/assets/f", a.token, "{\"secret\":\"bmV3\"}", 409,
                   "STATUS_MISMATCH");
    tl_req_problem(srv, "POST", "/assets", a.token, "{\"alias\":\"f2\",\"secret\":\"c2VjcmV0\"}",
                   409, "STATUS_MISMATCH");
    tl_req_status(srv, "GET", "/assets/f", a.token, NULL, 200);

    /* Without a lock-screen password nothing is ever locked, whatever the other flags say; but
     * requirePasswordSet assets are out of reach. */
    tl_device_set_state(srv, d.id, false, true, false);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "new");
    assert_string_equal(tl_get_secret(srv, a.token, "f", NULL, secret, sizeof secret), "old");
    tl_req_problem(srv, "GET", "/assets/rp2?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_req_status(srv, "GET", "/assets/rp2", a.token, NULL, 200);
    tl_req_status(srv, "DELETE", "/assets/rp2", a.token, NULL, 204);
}

/* Auth-gated assets never give their secret through GET. */
static void test_auth_gated_access_denied(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.gated", NULL);
    json_t *j = tl_asset_add(srv, a.token,
                             "{\"alias\":\"g\",\"secret\":\"Z2F0ZWQ=\",\"authType\":\"ANY\"}");
    assert_string_equal(tl_jstr(j, "authType"), "ANY");
    json_decref(j);
    tl_req_status(srv, "GET", "/assets/g", a.token, NULL, 200);
    tl_resp *r = tl_http(srv, "GET", "/assets/g?returnType=ALL", a.token, NULL);
    tl_expect_problem(r, 403, "ACCESS_DENIED");
    tl_expect_body_lacks(r, "Z2F0ZWQ");
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets?alias=g&returnType=ALL", a.token, NULL, 403,
                   "ACCESS_DENIED");
    tl_req_problem(srv, "GET", "/assets?alias=g&authType=ANY&returnType=ALL", a.token, NULL, 403,
                   "ACCESS_DENIED");
}

/* requireAttrEncrypted selects a store of its own (spec §1, §4). */
static void test_encrypted_label_store(void **st)
{
    (void)st;
    char secret[64], list[256];
    tl_app a = tl_fresh_app(srv, "com.example.enc", NULL);
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"e\",\"secret\":\"cGxhaW4=\",\"dataLabelNormal1\":\"plain-label\"}"));
    json_t *j =
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"e\",\"secret\":\"aGlkZGVu\",\"requireAttrEncrypted\":true,"
                     "\"dataLabelNormal1\":\"hidden-label\",\"dataLabelCritical1\":\"enc-crit\","
                     "\"dataLabelNormalLocal1\":\"enc-local\"}");
    assert_true(tl_jbool(j, "requireAttrEncrypted"));
    assert_string_equal(tl_jstr(j, "dataLabelNormal1"), "hidden-label");
    assert_string_equal(tl_jstr(j, "dataLabelCritical1"), "enc-crit");
    json_decref(j);
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"e\",\"secret\":\"aGlkZGVu\",\"requireAttrEncrypted\":true}", 409,
                   "DUPLICATED");

    /* Each store answers for itself. */
    assert_string_equal(tl_get_secret(srv, a.token, "e", NULL, secret, sizeof secret), "plain");
    assert_string_equal(
        tl_get_secret(srv, a.token, "e", "requireAttrEncrypted=false", secret, sizeof secret),
        "plain");
    assert_string_equal(
        tl_get_secret(srv, a.token, "e", "requireAttrEncrypted=true", secret, sizeof secret),
        "hidden");
    tl_resp *r = tl_http(srv, "GET", "/assets/e?requireAttrEncrypted=true", a.token, NULL);
    tl_expect_status(r, 200);
    assert_true(tl_jbool(r->json, "requireAttrEncrypted"));
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "hidden-label");
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal1"), "enc-local");
    tl_resp_free(r);

    /* Filters on encrypted labels work, in the encrypted store only. */
    assert_string_equal(tl_list(srv, a.token, "dataLabelNormal1=hidden-label", list, sizeof list),
                        "404");
    assert_string_equal(tl_list(srv, a.token,
                                "dataLabelNormal1=hidden-label&requireAttrEncrypted=true", list,
                                sizeof list),
                        "e");
    assert_string_equal(tl_list(srv, a.token,
                                "dataLabelCritical1=enc-crit&requireAttrEncrypted=true", list,
                                sizeof list),
                        "e");
    assert_string_equal(tl_list(srv, a.token,
                                "dataLabelNormalLocal1=enc-local&requireAttrEncrypted=true", list,
                                sizeof list),
                        "e");
    assert_string_equal(tl_list(srv, a.token,
                                "dataLabelNormal1=plain-label&requireAttrEncrypted=true", list,
                                sizeof list),
                        "404");
    assert_string_equal(tl_list(srv, a.token, "dataLabelNormal1=hidden&requireAttrEncrypted=true",
                                list, sizeof list),
                        "404");

    /* An asset only in the encrypted store is invisible without requireAttrEncrypted=true. */
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"e2\",\"secret\":\"c2VjcmV0\",\"requireAttrEncrypted\":true}"));
    tl_req_problem(srv, "GET", "/assets/e2", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "PATCH", "/assets/e2", a.token, "{\"dataLabelNormal1\":\"x\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets/e2", a.token, NULL, 404, "NOT_FOUND");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "e");
    assert_string_equal(tl_list(srv, a.token, "requireAttrEncrypted=true", list, sizeof list),
                        "e,e2");

    /* Update and remove through the encrypted store. */
    r = tl_http(srv, "PATCH", "/assets/e?requireAttrEncrypted=true", a.token,
                "{\"dataLabelNormal1\":\"hidden-2\"}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "hidden-2");
    assert_string_equal(tl_jstr(r->json, "dataLabelCritical1"), "enc-crit");
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "dataLabelNormal1=hidden-2&requireAttrEncrypted=true",
                                list, sizeof list),
                        "e");
    assert_string_equal(tl_list(srv, a.token,
                                "dataLabelNormal1=hidden-label&requireAttrEncrypted=true", list,
                                sizeof list),
                        "404");
    assert_string_equal(
        tl_get_secret(srv, a.token, "e", "requireAttrEncrypted=true", secret, sizeof secret),
        "hidden");
    r = tl_http(srv, "DELETE", "/assets?dataLabelNormal1=hidden-2&requireAttrEncrypted=true",
                a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 1);
    tl_resp_free(r);
    tl_req_status(srv, "DELETE", "/assets/e2?requireAttrEncrypted=true", a.token, NULL, 204);
    assert_string_equal(tl_list(srv, a.token, "requireAttrEncrypted=true", list, sizeof list),
                        "404");
    /* The plain one is untouched. */
    assert_string_equal(tl_get_secret(srv, a.token, "e", NULL, secret, sizeof secret), "plain");
}

static void hex_of(char *out, size_t n, const char *s)
{
    size_t len = strlen(s);
    assert_true(n > 2 * len);
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)s[i]);
}

/* Spec §9: nothing secret in plaintext at rest; encrypted labels only as blind indexes. */
static void test_at_rest(void **st)
{
    (void)st;
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.rest", &d);
    char enc_label[64], enc_crit[64], enc_local[64], body[512];
    tl_unique(enc_label, sizeof enc_label, "enc-label");
    tl_unique(enc_crit, sizeof enc_crit, "enc-crit");
    tl_unique(enc_local, sizeof enc_local, "enc-local");
    json_decref(tl_asset_add(srv, a.token,
                             "{\"secret\":\"ZGVtb19wd2Q=\",\"alias\":\"rest\","
                             "\"dataLabelNormal1\":\"visible-label\"}"));
    tl_pathf(body, sizeof body,
             "{\"secret\":\"ZGVtb19wd2Q=\",\"alias\":\"rest-enc\",\"requireAttrEncrypted\":true,"
             "\"dataLabelNormal1\":\"%s\",\"dataLabelCritical1\":\"%s\","
             "\"dataLabelNormalLocal1\":\"%s\"}",
             enc_label, enc_crit, enc_local);
    json_decref(tl_asset_add(srv, a.token, body));

    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL),
                     2);
    char *dump = tl_db_dump("SELECT a::text FROM assets a WHERE device_id = $1", d.id, NULL);
    /* Positive control: the dump does show plaintext columns. */
    assert_non_null(strstr(dump, "visible-label"));
    assert_non_null(strstr(dump, "rest-enc"));
    char hex[256], b64[128];
    const char *forbidden[] = {"demo_pwd", "ZGVtb19wd2Q", enc_label, enc_crit, enc_local};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        if (strstr(dump, forbidden[i]))
            fail_msg("the assets table holds \"%s\" in the clear:\n%s", forbidden[i], dump);
        hex_of(hex, sizeof hex, forbidden[i]);
        if (strstr(dump, hex))
            fail_msg("the assets table holds \"%s\" as hex", forbidden[i]);
        tl_b64(b64, sizeof b64, forbidden[i], strlen(forbidden[i]));
        b64[strlen(b64) - 4] = 0; /* a prefix, whatever the padding */
        if (strstr(dump, b64))
            fail_msg("the assets table holds \"%s\" as base64", forbidden[i]);
    }
    free(dump);
    /* The secret is readable only through the API. */
    char secret[64];
    assert_string_equal(tl_get_secret(srv, a.token, "rest", NULL, secret, sizeof secret),
                        "demo_pwd");
    assert_string_equal(
        tl_get_secret(srv, a.token, "rest-enc", "requireAttrEncrypted=true", secret, sizeof secret),
        "demo_pwd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_defaults_filled),
        cmocka_unit_test(test_every_attribute_round_trips),
        cmocka_unit_test(test_duplicate_and_overwrite),
        cmocka_unit_test(test_update_secret_and_labels),
        cmocka_unit_test(test_update_refusals),
        cmocka_unit_test(test_update_time),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_alias_encoding),
        cmocka_unit_test(test_sync_type_filter),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_lock_state_rules),
        cmocka_unit_test(test_auth_gated_access_denied),
        cmocka_unit_test(test_encrypted_label_store),
        cmocka_unit_test(test_at_rest),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
