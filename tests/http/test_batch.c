/* HTTP black-box tests of the batch operations (spec §11): batch-add, batch-update, batch-remove,
 * each whole-request error (which writes nothing) and each per-item failure (the other items are
 * written), items written by a batch compared with items written alone (attributes, sealing,
 * audit rows). The single-operation rules that came with them are in test_kit_api26.c. */
#include <stdio.h>
#include <string.h>

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

/* An add item: alias, secret "secret", plus the members of the JSON object text `extra` ("" for
 * none, else e.g. "\"accessibility\":\"DEVICE_UNLOCKED\""). */
static json_t *item(const char *alias, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"%s%s}", alias,
             *extra ? "," : "", extra);
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    assert_non_null(o);
    return o;
}

/* POST path with {"<key>": items, ...extra members}; steals items. */
static tl_resp *post_batch(const tl_server *s, const char *token, const char *path, const char *key,
                           json_t *items)
{
    return tl_http_json(s, "POST", path, token, json_pack("{s:o}", key, items));
}

static long long assets_of(const tl_device *d)
{
    return tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d->id, NULL);
}

static long long audit_ok(const tl_device *d, const char *action)
{
    return tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND action = $2 AND "
                       "outcome = 'ok' AND alias_hash IS NOT NULL",
                       d->id, action, NULL);
}

/* A BatchResult with no failure. */
static void expect_all_ok(tl_resp *r)
{
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 0);
    json_t *infos = json_object_get(r->json, "failedErrorInfos");
    assert_true(json_is_array(infos));
    assert_int_equal(json_array_size(infos), 0);
}

/* failedErrorInfos[k] is item `index` failing with `name`. */
static void expect_fail(tl_resp *r, size_t k, long index, const char *name)
{
    json_t *f = json_array_get(json_object_get(r->json, "failedErrorInfos"), k);
    assert_non_null(f);
    assert_int_equal(tl_jint(f, "index"), index);
    assert_int_equal(tl_jint(f, "errCode"), tl_error_code(name));
    assert_string_equal(tl_jstr(f, "name"), name);
    assert_true(tl_jstr(f, "message") && *tl_jstr(f, "message"));
}

static void test_batch_add_writes_each_item_as_alone(void **st)
{
    (void)st;
    tl_device d;
    char list[256], secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.badd", &d);
    const char *attrs = "\"dataLabelNormal1\":\"n\",\"dataLabelCritical1\":\"c\","
                        "\"dataLabelNormalLocal1\":\"l\",\"syncType\":[\"TRUSTED_DEVICE\"],"
                        "\"accessibility\":\"DEVICE_POWERED_ON\",\"wrapType\":\"NEVER\"";
    json_t *one = item("alone", attrs);
    tl_resp *r = tl_http_json(srv, "POST", "/assets", a.token, one);
    tl_expect_status(r, 201);
    tl_resp_free(r);
    json_t *items = json_array();
    json_array_append_new(items, item("b0", attrs));
    json_array_append_new(items, item("b1", attrs));
    json_array_append_new(items, item("b2", attrs));
    r = post_batch(srv, a.token, "/assets/batch-add", "assets", items);
    expect_all_ok(r);
    tl_resp_free(r);
    /* In the batch's order, after the one added alone. */
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "alone,b0,b1,b2");
    assert_string_equal(tl_get_secret(srv, a.token, "b1", NULL, secret, sizeof secret), "secret");
    /* The same attributes as the asset added alone, but for alias and updateTime. */
    tl_resp *ra = tl_http(srv, "GET", "/assets/alone", a.token, NULL);
    tl_resp *rb = tl_http(srv, "GET", "/assets/b2", a.token, NULL);
    tl_expect_status(ra, 200);
    tl_expect_status(rb, 200);
    assert_non_null(tl_jstr(rb->json, "updateTime"));
    json_object_del(ra->json, "alias");
    json_object_del(rb->json, "alias");
    json_object_del(ra->json, "updateTime");
    json_object_del(rb->json, "updateTime");
    assert_true(json_equal(ra->json, rb->json));
    tl_resp_free(ra);
    tl_resp_free(rb);
    /* The same row, but for alias and sealed bytes; one audit row each, alike. */
    assert_int_equal(tl_db_count("SELECT count(DISTINCT (owner_kind, owner, attr_enc, "
                                 "accessibility, req_pwd, auth_type, sync_type, persistent, "
                                 "wrap_type, c1, n1, l1, key_version, length(sealed))) FROM "
                                 "assets WHERE device_id = $1",
                                 d.id, NULL),
                     1);
    assert_int_equal(audit_ok(&d, "addAsset"), 4);
    assert_int_equal(tl_db_count("SELECT count(DISTINCT (principal, owner, length(alias_hash))) "
                                 "FROM audit_log WHERE device_id = $1 AND action = 'addAsset'",
                                 d.id, NULL),
                     1);
}

static void test_batch_add_100_items_of_1kib(void **st)
{
    (void)st;
    tl_device d;
    unsigned char raw[1024];
    char b64[1400], alias[32];
    tl_app a = tl_fresh_app(srv, "com.example.b100", &d);
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 7);
    tl_b64(b64, sizeof b64, raw, sizeof raw);
    json_t *items = json_array();
    for (int i = 0; i < 100; i++) {
        snprintf(alias, sizeof alias, "k%03d", i);
        json_array_append_new(items, json_pack("{s:s, s:s}", "alias", alias, "secret", b64));
    }
    tl_resp *r = post_batch(srv, a.token, "/assets/batch-add", "assets", json_deep_copy(items));
    expect_all_ok(r);
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 100);
    assert_int_equal(audit_ok(&d, "addAsset"), 100);
    /* 101 items: 400, nothing more written. */
    json_array_append_new(items, json_pack("{s:s, s:s}", "alias", "k100", "secret", b64));
    r = post_batch(srv, a.token, "/assets/batch-add", "assets", items);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "assets");
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 100);
}

static void test_batch_add_per_item_failures(void **st)
{
    (void)st;
    tl_device d;
    char secret[64], list[256];
    tl_app a = tl_fresh_app(srv, "com.example.bdup", &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"dup\",\"secret\":\"b2xk\"}"));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"ow\",\"secret\":\"b2xk\"}"));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"dup2\",\"secret\":\"b2xk\"}"));
    json_t *items = json_array();
    json_array_append_new(items, item("new1", ""));
    json_array_append_new(items, item("dup", ""));
    json_array_append_new(items, item("new2", "\"conflictResolution\":\"THROW_ERROR\""));
    json_array_append_new(items, item("ow", "\"conflictResolution\":\"OVERWRITE\""));
    json_array_append_new(items, item("dup2", "\"conflictResolution\":\"THROW_ERROR\""));
    tl_resp *r = post_batch(srv, a.token, "/assets/batch-add", "assets", items);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 2);
    assert_int_equal(json_array_size(json_object_get(r->json, "failedErrorInfos")), 2);
    expect_fail(r, 0, 1, "DUPLICATED");
    expect_fail(r, 1, 4, "DUPLICATED");
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "dup,ow,dup2,new1,new2");
    assert_string_equal(tl_get_secret(srv, a.token, "dup", NULL, secret, sizeof secret), "old");
    assert_string_equal(tl_get_secret(srv, a.token, "dup2", NULL, secret, sizeof secret), "old");
    assert_string_equal(tl_get_secret(srv, a.token, "ow", NULL, secret, sizeof secret), "secret");
    assert_string_equal(tl_get_secret(srv, a.token, "new2", NULL, secret, sizeof secret), "secret");
    /* 3 single adds + 3 written items; the 2 refused items are recorded as refusals. */
    assert_int_equal(audit_ok(&d, "addAsset"), 6);
    /* Refusals go through the background audit writer: wait for them. */
    long long refused = 0;
    for (int k = 0; k < 100 && refused < 2; k++) {
        if (k)
            tl_sleep_ms(50);
        refused = tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                              "action = 'addAsset' AND outcome = 'DUPLICATED'",
                              d.id, NULL);
    }
    assert_int_equal(refused, 2);
}

/* A batch-add body that must be refused with status/name naming `field`; nothing written. */
static void refused_add(const tl_app *a, const tl_device *d, json_t *items, long status,
                        const char *name, const char *field)
{
    long long before = assets_of(d), audits = audit_ok(d, "addAsset");
    tl_resp *r = post_batch(srv, a->token, "/assets/batch-add", "assets", items);
    tl_expect_problem_field(r, status, name, field);
    tl_resp_free(r);
    assert_int_equal(assets_of(d), before);
    assert_int_equal(audit_ok(d, "addAsset"), audits);
}

static json_t *two(json_t *x, json_t *y)
{
    json_t *arr = json_array();
    json_array_append_new(arr, x);
    json_array_append_new(arr, y);
    return arr;
}

static json_t *four(json_t *w, json_t *x, json_t *y, json_t *z)
{
    json_t *arr = two(w, x);
    json_array_append_new(arr, y);
    json_array_append_new(arr, z);
    return arr;
}

static void test_batch_add_whole_request_errors(void **st)
{
    (void)st;
    tl_device d;
    const char *const grp[] = {"com.example.bgroup", NULL};
    tl_app a = tl_fresh_app(srv, "com.example.bwhole", &d);
    tl_device d2 = tl_device_create(srv, NULL, NULL);
    tl_app g = tl_app_install(srv, d2.id, "com.example.bwhole", grp, false);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"there\",\"secret\":\"b2xk\"}"));

    /* Malformed items, named. */
    refused_add(&a, &d,
                four(item("m0", ""), item("m1", ""), item("m2", ""),
                     json_pack("{s:s, s:s}", "alias", "m3", "secret", "not base64!")),
                400, "INVALID_ARGUMENT", "assets[3].secret");
    refused_add(&a, &d, two(item("m0", ""), json_pack("{s:s}", "alias", "m1")), 400,
                "INVALID_ARGUMENT", "assets[1].secret");
    refused_add(&a, &d, two(item("m0", ""), json_string("x")), 400, "INVALID_ARGUMENT",
                "assets[1]");
    refused_add(&a, &d, two(item("m0", "\"bogus\":1"), item("m1", "")), 400, "INVALID_ARGUMENT",
                "assets[0].bogus");
    refused_add(&a, &d, two(item("m0", ""), item("m1", "\"authValidityPeriod\":5")), 400,
                "INVALID_ARGUMENT", "assets[1].authValidityPeriod");
    refused_add(&a, &d, json_array(), 400, "INVALID_ARGUMENT", "assets");
    refused_add(&a, &d, json_object(), 400, "INVALID_ARGUMENT", "assets");
    tl_req_problem(srv, "POST", "/assets/batch-add", a.token, "{}", 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/assets/batch-add", a.token,
                   "{\"assets\":[{\"alias\":\"q\",\"secret\":\"c2VjcmV0\"}],\"x\":1}", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/assets/batch-add?groupId=com.example.bgroup", a.token,
                   "{\"assets\":[{\"alias\":\"q\",\"secret\":\"c2VjcmV0\"}]}", 400,
                   "INVALID_ARGUMENT");
    /* isPersistent with groupId: the argument check, before the permission and group checks. */
    refused_add(&a, &d,
                two(item("p0", "\"groupId\":\"com.example.bgroup\""),
                    item("p1", "\"groupId\":\"com.example.bgroup\",\"isPersistent\":true")),
                400, "INVALID_ARGUMENT", "assets[1].isPersistent");
    /* The same alias twice. */
    refused_add(&a, &d, four(item("d0", ""), item("d1", ""), item("d0", ""), item("d3", "")), 400,
                "INVALID_ARGUMENT", "assets[2].alias");
    /* Inconsistent attributes; an absent field counts as its default. */
    refused_add(&a, &d, two(item("i0", ""), item("i1", "\"groupId\":\"com.example.bgroup\"")), 400,
                "INCONSISTENT_ATTRIBUTE", "assets[1].groupId");
    refused_add(&a, &d, two(item("i0", ""), item("i1", "\"requireAttrEncrypted\":true")), 400,
                "INCONSISTENT_ATTRIBUTE", "assets[1].requireAttrEncrypted");
    refused_add(&a, &d,
                two(item("i0", "\"accessibility\":\"DEVICE_UNLOCKED\""),
                    item("i1", "\"accessibility\":\"DEVICE_FIRST_UNLOCKED\"")),
                400, "INCONSISTENT_ATTRIBUTE", "assets[1].accessibility");
    refused_add(&a, &d, two(item("i0", ""), item("i1", "\"requirePasswordSet\":true")), 400,
                "INCONSISTENT_ATTRIBUTE", "assets[1].requirePasswordSet");
    refused_add(&a, &d, two(item("i0", "\"authType\":\"ANY\""), item("i1", "")), 400,
                "INCONSISTENT_ATTRIBUTE", "assets[1].authType");
    /* Permissions: a foreign group, isPersistent without STORE_PERSISTENT_DATA. */
    refused_add(&a, &d,
                two(item("f0", "\"groupId\":\"com.example.bgroup\""),
                    item("f1", "\"groupId\":\"com.example.bgroup\"")),
                403, "PERMISSION_DENIED", "groupId");
    refused_add(&a, &d, two(item("f0", ""), item("f1", "\"isPersistent\":true")), 403,
                "PERMISSION_DENIED", "assets[1].isPersistent");
    /* Lock state: no lock-screen password, so requirePasswordSet items cannot be written. */
    refused_add(
        &a, &d,
        two(item("s0", "\"requirePasswordSet\":true"), item("s1", "\"requirePasswordSet\":true")),
        409, "STATUS_MISMATCH", "secret");
    /* Defaults spelled out are consistent with absent fields; the group's app may add. */
    tl_resp *r = post_batch(
        srv, a.token, "/assets/batch-add", "assets",
        two(item("ok0", ""), item("ok1", "\"accessibility\":\"DEVICE_FIRST_UNLOCKED\","
                                         "\"requirePasswordSet\":false,\"authType\":\"NONE\","
                                         "\"requireAttrEncrypted\":false")));
    expect_all_ok(r);
    tl_resp_free(r);
    r = post_batch(srv, g.token, "/assets/batch-add", "assets",
                   two(item("g0", "\"groupId\":\"com.example.bgroup\""),
                       item("g1", "\"groupId\":\"com.example.bgroup\"")));
    expect_all_ok(r);
    tl_resp_free(r);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                 "owner_kind = 1 AND owner = 'com.example.bgroup'",
                                 d2.id, NULL),
                     2);
    assert_int_equal(assets_of(&d), 3);
}

static void test_batch_owner_limit(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_MAX_ASSETS=5", "ASSETD_BATCH_BODY_LIMIT=4096", NULL};
    tl_server *lim = tl_server_start(env);
    tl_device d;
    tl_app a = tl_fresh_app(lim, "com.example.blimit", &d);
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"alias\":\"s%d\",\"secret\":\"c2VjcmV0\"}", i);
        json_decref(tl_asset_add(lim, a.token, body));
    }
    /* 3 + 3 new > 5: nothing written. */
    tl_resp *r = post_batch(lim, a.token, "/assets/batch-add", "assets",
                            four(item("n0", ""), item("n1", ""), item("n2", ""),
                                 item("s0", "\"conflictResolution\":\"OVERWRITE\"")));
    tl_expect_problem(r, 409, "LIMIT_EXCEEDED");
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 3);
    /* 3 + 2 new = 5, plus an overwrite of an existing alias: fine. */
    r = post_batch(lim, a.token, "/assets/batch-add", "assets",
                   four(item("n0", ""), item("n1", ""), item("s1", ""),
                        item("s0", "\"conflictResolution\":\"OVERWRITE\"")));
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 1);
    expect_fail(r, 0, 2, "DUPLICATED");
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 5);
    /* Full: replacing is still allowed, adding is not. */
    r = post_batch(lim, a.token, "/assets/batch-add", "assets",
                   json_pack("[o]", item("n0", "\"conflictResolution\":\"OVERWRITE\"")));
    expect_all_ok(r);
    tl_resp_free(r);
    r = post_batch(lim, a.token, "/assets/batch-add", "assets", json_pack("[o]", item("n9", "")));
    tl_expect_problem(r, 409, "LIMIT_EXCEEDED");
    tl_resp_free(r);
    /* The batch routes have their own body limit. */
    char big[6000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "{\"aliases\":[\"a\"]}", 17);
    r = tl_http(lim, "POST", "/assets/batch-remove", a.token, big);
    tl_expect_problem(r, 413, "INVALID_ARGUMENT");
    tl_resp_free(r);
    assert_int_equal(tl_server_stop(lim), 0);
}

/* batch-update item {"alias", "match"?, "set"} from JSON texts (match may be NULL). */
static json_t *upd(const char *alias, const char *match, const char *set)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"alias\":\"%s\"%s%s%s,\"set\":%s}", alias,
             match ? ",\"match\":" : "", match ? match : "", "", set);
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    assert_non_null(o);
    return o;
}

static void test_batch_update(void **st)
{
    (void)st;
    tl_device d;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.bupd", &d);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"a\",\"secret\":\"b2xk\"}"));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"b\",\"secret\":\"b2xk\",\"dataLabelNormal1\":"
                             "\"x\"}"));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"c\",\"secret\":\"b2xk\",\"dataLabelNormal1\":\"x\","
                             "\"syncType\":[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"]}"));
    json_t *items =
        four(upd("a", NULL, "{\"secret\":\"bmV3\"}"), upd("missing", NULL, "{\"secret\":\"bmV3\"}"),
             upd("b", "{\"dataLabelNormal1\":\"y\"}", "{\"secret\":\"bmV3\"}"),
             upd("c",
                 "{\"dataLabelNormal1\":\"x\",\"syncType\":[\"TRUSTED_DEVICE\"],"
                 "\"accessibility\":\"DEVICE_FIRST_UNLOCKED\",\"isPersistent\":false}",
                 "{\"dataLabelNormal2\":\"z\"}"));
    tl_resp *r = post_batch(srv, a.token, "/assets/batch-update", "items", items);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 2);
    expect_fail(r, 0, 1, "NOT_FOUND");
    expect_fail(r, 1, 2, "NOT_FOUND");
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "a", NULL, secret, sizeof secret), "new");
    assert_string_equal(tl_get_secret(srv, a.token, "b", NULL, secret, sizeof secret), "old");
    assert_string_equal(tl_get_secret(srv, a.token, "c", NULL, secret, sizeof secret), "old");
    r = tl_http(srv, "GET", "/assets/c", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal2"), "z");
    tl_resp_free(r);
    assert_int_equal(audit_ok(&d, "updateAsset"), 2);

    /* Whole-request errors write nothing. */
    struct {
        json_t *items;
        long status;
        const char *name, *field;
    } bad[] = {
        {two(upd("a", NULL, "{\"secret\":\"eA==\"}"), upd("b", NULL, "{}")), 400,
         "INVALID_ARGUMENT", "items[1].set"},
        {two(upd("a", NULL, "{\"secret\":\"eA==\"}"), upd("b", NULL,
                                                          "{\"dataLabelCritical1\":"
                                                          "\"q\"}")),
         400, "INVALID_ARGUMENT", "items[1].set"},
        {two(upd("a", "{\"alias\":\"a\"}", "{\"secret\":\"eA==\"}"), upd("b", NULL, "{}")), 400,
         "INVALID_ARGUMENT", "items[0].match"},
        {two(upd("a", "{\"syncType\":[]}", "{\"secret\":\"eA==\"}"), upd("b", NULL, "{}")), 400,
         "INVALID_ARGUMENT", "items[0].match"},
        {json_pack("[{s:s}]", "alias", "a"), 400, "INVALID_ARGUMENT", "items[0].set"},
        {json_pack("[{s:{s:s}}]", "set", "secret", "eA=="), 400, "INVALID_ARGUMENT",
         "items[0].alias"},
        {two(upd("a", NULL, "{\"secret\":\"eA==\"}"), upd("a", NULL, "{\"secret\":\"eA==\"}")), 400,
         "INVALID_ARGUMENT", "items[1].alias"},
        {json_array(), 400, "INVALID_ARGUMENT", "items"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post_batch(srv, a.token, "/assets/batch-update", "items", bad[i].items);
        tl_expect_problem_field(r, bad[i].status, bad[i].name, bad[i].field);
        tl_resp_free(r);
    }
    json_t *many = json_array();
    for (int i = 0; i < 101; i++) {
        char al[16];
        snprintf(al, sizeof al, "m%d", i);
        json_array_append_new(many, upd(al, NULL, "{\"secret\":\"eA==\"}"));
    }
    r = post_batch(srv, a.token, "/assets/batch-update", "items", many);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "items");
    tl_resp_free(r);
    r = tl_http_json(srv, "POST", "/assets/batch-update", a.token,
                     json_pack("{s:s, s:o}", "groupId", "com.example.notmine", "items",
                               json_pack("[o]", upd("a", NULL, "{\"secret\":\"eA==\"}"))));
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    assert_string_equal(tl_get_secret(srv, a.token, "a", NULL, secret, sizeof secret), "new");
    assert_int_equal(audit_ok(&d, "updateAsset"), 2);
}

static void test_batch_update_lock_state(void **st)
{
    (void)st;
    tl_device d;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.block", &d);
    tl_device_set_state(srv, d.id, true, false, true);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"u\",\"secret\":\"b2xk\",\"accessibility\":"
                             "\"DEVICE_UNLOCKED\"}"));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"p\",\"secret\":\"b2xk\"}"));
    tl_device_set_state(srv, d.id, true, true, true); /* locked */
    /* One item writes a secret the lock state forbids: nothing is written, not even "p". */
    tl_resp *r = post_batch(srv, a.token, "/assets/batch-update", "items",
                            two(upd("p", NULL, "{\"dataLabelNormal1\":\"l\"}"),
                                upd("u", NULL, "{\"secret\":\"bmV3\"}")));
    tl_expect_problem_field(r, 409, "STATUS_MISMATCH", "items[1].set.secret");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/p", a.token, NULL);
    tl_expect_status(r, 200);
    assert_null(tl_jstr(r->json, "dataLabelNormal1"));
    tl_resp_free(r);
    /* Labels only: whatever the state. */
    r = post_batch(srv, a.token, "/assets/batch-update", "items",
                   two(upd("p", NULL, "{\"dataLabelNormal1\":\"l\"}"),
                       upd("u", NULL, "{\"dataLabelNormalLocal1\":\"m\"}")));
    expect_all_ok(r);
    tl_resp_free(r);
    tl_device_set_state(srv, d.id, true, false, true);
    assert_string_equal(tl_get_secret(srv, a.token, "u", NULL, secret, sizeof secret), "old");
    r = tl_http(srv, "GET", "/assets/u", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormalLocal1"), "m");
    tl_resp_free(r);
}

static void test_batch_encrypted_store(void **st)
{
    (void)st;
    tl_device d;
    char list[128], secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.benc", &d);
    tl_resp *r =
        post_batch(srv, a.token, "/assets/batch-add", "assets",
                   two(item("e0", "\"requireAttrEncrypted\":true,\"dataLabelNormal1\":\"tag\""),
                       item("e1", "\"requireAttrEncrypted\":true,\"dataLabelNormal1\":\"other\"")));
    expect_all_ok(r);
    tl_resp_free(r);
    /* Labels sealed at rest, found through the blind index. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                 "attr_enc AND labels_sealed IS NOT NULL AND n1 <> 'tag' AND "
                                 "n1 <> 'other'",
                                 d.id, NULL),
                     2);
    assert_string_equal(
        tl_list(srv, a.token, "requireAttrEncrypted=true&dataLabelNormal1=tag", list, sizeof list),
        "e0");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "404");
    r = tl_http_json(
        srv, "POST", "/assets/batch-update", a.token,
        json_pack("{s:b, s:o}", "requireAttrEncrypted", 1, "items",
                  two(upd("e0", "{\"dataLabelNormal1\":\"tag\"}",
                          "{\"secret\":\"bmV3\",\"dataLabelNormal1\":\"moved\"}"),
                      upd("e1", "{\"dataLabelNormal1\":\"tag\"}", "{\"secret\":\"bmV3\"}"))));
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "failedCount"), 1);
    expect_fail(r, 0, 1, "NOT_FOUND");
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "requireAttrEncrypted=true&dataLabelNormal1=moved",
                                list, sizeof list),
                        "e0");
    assert_string_equal(
        tl_get_secret(srv, a.token, "e0", "requireAttrEncrypted=true", secret, sizeof secret),
        "new");
    r = tl_http_json(
        srv, "POST", "/assets/batch-remove", a.token,
        json_pack("{s:b, s:[s, s]}", "requireAttrEncrypted", 1, "aliases", "e0", "e1"));
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 2);
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 0);
}

static void test_batch_remove(void **st)
{
    (void)st;
    tl_device d;
    char list[128];
    const char *const grp[] = {"com.example.brgroup", NULL};
    tl_app a = tl_fresh_app(srv, "com.example.brem", &d);
    tl_app g = tl_app_install(srv, d.id, "com.example.brem2", grp, false);
    for (const char *al = "abc"; *al; al++) {
        char body[128];
        snprintf(body, sizeof body, "{\"alias\":\"%c\",\"secret\":\"c2VjcmV0\"}", *al);
        json_decref(tl_asset_add(srv, a.token, body));
    }
    json_decref(tl_asset_add(
        srv, g.token,
        "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.brgroup\"}"));
    /* Whole-request errors first: nothing removed. */
    struct {
        const char *body;
        long status;
        const char *name, *field;
    } bad[] = {
        {"{\"aliases\":[\"a\",\"\"]}", 400, "INVALID_ARGUMENT", "aliases[1]"},
        {"{\"aliases\":[\"a\",7]}", 400, "INVALID_ARGUMENT", "aliases[1]"},
        {"{\"aliases\":[\"a\",\"b\",\"a\"]}", 400, "INVALID_ARGUMENT", "aliases[2]"},
        {"{\"aliases\":[]}", 400, "INVALID_ARGUMENT", "aliases"},
        {"{\"aliases\":\"a\"}", 400, "INVALID_ARGUMENT", "aliases"},
        {"{\"aliases\":[\"a\"],\"alias\":\"b\"}", 400, "INVALID_ARGUMENT", "alias"},
        {"{\"aliases\":[\"a\"],\"groupId\":\"x\"}", 400, "INVALID_ARGUMENT", "groupId"},
        {"{\"aliases\":[\"a\"],\"groupId\":\"com.example.brgroup\"}", 403, "PERMISSION_DENIED",
         "groupId"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_resp *r = tl_http(srv, "POST", "/assets/batch-remove", a.token, bad[i].body);
        tl_expect_problem_field(r, bad[i].status, bad[i].name, bad[i].field);
        tl_resp_free(r);
    }
    json_t *many = json_array();
    for (int i = 0; i < 101; i++) {
        char al[16];
        snprintf(al, sizeof al, "%c%d", i ? 'm' : 'a', i);
        json_array_append_new(many, json_string(al));
    }
    tl_resp *r = post_batch(srv, a.token, "/assets/batch-remove", "aliases", many);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "aliases");
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 4);
    /* Missing aliases are ignored; other owners' assets are untouched. */
    r = tl_http(srv, "POST", "/assets/batch-remove", a.token,
                "{\"aliases\":[\"a\",\"missing\",\"c\"]}");
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 2);
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "b");
    assert_string_equal(tl_list(srv, g.token, "groupId=com.example.brgroup", list, sizeof list),
                        "a");
    assert_int_equal(audit_ok(&d, "deleteAsset"), 2);
    r = tl_http(srv, "POST", "/assets/batch-remove", a.token, "{\"aliases\":[\"nothing\"]}");
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 0);
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/assets/batch-remove", g.token,
                "{\"groupId\":\"com.example.brgroup\",\"aliases\":[\"a\"]}");
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 1);
    tl_resp_free(r);
    assert_int_equal(assets_of(&d), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_add_writes_each_item_as_alone),
        cmocka_unit_test(test_batch_add_100_items_of_1kib),
        cmocka_unit_test(test_batch_add_per_item_failures),
        cmocka_unit_test(test_batch_add_whole_request_errors),
        cmocka_unit_test(test_batch_owner_limit),
        cmocka_unit_test(test_batch_update),
        cmocka_unit_test(test_batch_update_lock_state),
        cmocka_unit_test(test_batch_encrypted_store),
        cmocka_unit_test(test_batch_remove),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
