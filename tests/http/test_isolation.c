/* HTTP black-box tests of who sees what: tenant isolation between apps and devices, group
 * assets, and what uninstalling an app keeps and removes (spec §1, §2, §4). */
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

/* App B on the same device cannot see, update or remove app A's assets: 404, not 403. */
static void test_other_app_same_device(void **st)
{
    (void)st;
    char secret[64], list[128];
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.a", &d);
    tl_app b = tl_app_install(srv, d.id, "com.example.b", NULL, false);
    json_decref(
        tl_asset_add(srv, a.token,
                     "{\"alias\":\"x\",\"secret\":\"YS1zZWNyZXQ=\",\"dataLabelNormal1\":\"lbl\"}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"y\",\"secret\":\"YS1zZWNyZXQ=\",\"requireAttrEncrypted\":true}"));

    tl_req_problem(srv, "GET", "/assets/x", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/x?returnType=ALL", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?alias=x", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?dataLabelNormal1=lbl", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/y?requireAttrEncrypted=true", b.token, NULL, 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "PATCH", "/assets/x", b.token, "{\"secret\":\"Yi1zZWNyZXQ=\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "PATCH", "/assets/x", b.token, "{\"dataLabelNormal1\":\"b\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets/x", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets?alias=x", b.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets?dataLabelNormal1=lbl", b.token, NULL, 404, "NOT_FOUND");

    /* B may use the same alias for an asset of its own. */
    json_decref(tl_asset_add(srv, b.token, "{\"alias\":\"x\",\"secret\":\"Yi1zZWNyZXQ=\"}"));
    assert_string_equal(tl_get_secret(srv, b.token, "x", NULL, secret, sizeof secret), "b-secret");
    tl_req_status(srv, "DELETE", "/assets/x", b.token, NULL, 204);
    /* A's asset is untouched by all of it. */
    assert_string_equal(tl_get_secret(srv, a.token, "x", NULL, secret, sizeof secret), "a-secret");
    tl_resp *r = tl_http(srv, "GET", "/assets/x", a.token, NULL);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "lbl");
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "x");
}

/* The same app id on another device sees nothing of the first device. */
static void test_same_app_other_device(void **st)
{
    (void)st;
    char secret[64];
    tl_app a1 = tl_fresh_app(srv, "com.example.same", NULL);
    tl_app a2 = tl_fresh_app(srv, "com.example.same", NULL);
    json_decref(tl_asset_add(srv, a1.token, "{\"alias\":\"x\",\"secret\":\"b25l\"}"));
    tl_req_problem(srv, "GET", "/assets/x", a2.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets", a2.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "PATCH", "/assets/x", a2.token, "{\"dataLabelNormal1\":\"b\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets/x", a2.token, NULL, 404, "NOT_FOUND");
    json_decref(tl_asset_add(srv, a2.token, "{\"alias\":\"x\",\"secret\":\"dHdv\"}"));
    assert_string_equal(tl_get_secret(srv, a1.token, "x", NULL, secret, sizeof secret), "one");
    assert_string_equal(tl_get_secret(srv, a2.token, "x", NULL, secret, sizeof secret), "two");
}

/* Group assets: apps of the same group on one device share them through groupId; an app
 * outside the group gets 403; the group's assets are apart from each app's own. */
static void test_group_assets(void **st)
{
    (void)st;
    char secret[64], list[128];
    const char *const g1[] = {"com.example.group1", NULL};
    const char *const g12[] = {"com.example.group2", "com.example.group1", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.ga", g1, false);
    tl_app b = tl_app_install(srv, d.id, "com.example.gb", g12, false);
    tl_app c = tl_app_install(srv, d.id, "com.example.gc", NULL, false);

    json_t *j = tl_asset_add(
        srv, a.token,
        "{\"alias\":\"shared\",\"secret\":\"c2hhcmVk\",\"groupId\":\"com.example.group1\","
        "\"dataLabelNormal1\":\"g\"}");
    assert_string_equal(tl_jstr(j, "groupId"), "com.example.group1");
    json_decref(j);
    /* The other member reads, updates and lists it. */
    assert_string_equal(
        tl_get_secret(srv, b.token, "shared", "groupId=com.example.group1", secret, sizeof secret),
        "shared");
    tl_resp *r = tl_http(srv, "GET", "/assets/shared?groupId=com.example.group1", b.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "groupId"), "com.example.group1");
    tl_resp_free(r);
    assert_string_equal(tl_list(srv, b.token, "groupId=com.example.group1", list, sizeof list),
                        "shared");
    assert_string_equal(
        tl_list(srv, b.token, "groupId=com.example.group1&dataLabelNormal1=g", list, sizeof list),
        "shared");
    tl_req_status(srv, "PATCH", "/assets/shared?groupId=com.example.group1", b.token,
                  "{\"secret\":\"YnktYg==\"}", 200);
    assert_string_equal(
        tl_get_secret(srv, a.token, "shared", "groupId=com.example.group1", secret, sizeof secret),
        "by-b");
    /* Not among the apps' own assets. */
    tl_req_problem(srv, "GET", "/assets/shared", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/shared", b.token, NULL, 404, "NOT_FOUND");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "404");
    /* The same alias as an own asset is a different asset. */
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"shared\",\"secret\":\"b3du\"}"));
    assert_string_equal(tl_get_secret(srv, a.token, "shared", NULL, secret, sizeof secret), "own");
    /* A group of b's that a is not in. */
    tl_req_problem(srv, "GET", "/assets/shared?groupId=com.example.group2", a.token, NULL, 403,
                   "PERMISSION_DENIED");
    json_decref(tl_asset_add(
        srv, b.token,
        "{\"alias\":\"g2\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.group2\"}"));

    /* An app outside the group: 403 for every operation with that groupId. */
    const char *calls[][3] = {
        {"GET", "/assets/shared?groupId=com.example.group1", NULL},
        {"GET", "/assets?groupId=com.example.group1", NULL},
        {"GET", "/assets/shared?groupId=com.example.group1&returnType=ALL", NULL},
        {"PATCH", "/assets/shared?groupId=com.example.group1", "{\"dataLabelNormal1\":\"c\"}"},
        {"DELETE", "/assets/shared?groupId=com.example.group1", NULL},
        {"DELETE", "/assets?groupId=com.example.group1&alias=shared", NULL},
        {"POST", "/assets",
         "{\"alias\":\"mine\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.group1\"}"},
        {"GET", "/assets/nothing?groupId=com.example.group1", NULL},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        r = tl_http(srv, calls[i][0], calls[i][1], c.token, calls[i][2]);
        tl_expect_problem(r, 403, "PERMISSION_DENIED");
        tl_resp_free(r);
    }
    assert_string_equal(tl_list(srv, b.token, "groupId=com.example.group1", list, sizeof list),
                        "shared");

    /* The same group on another device is another owner. */
    tl_device e = tl_device_create(srv, NULL, NULL);
    tl_app ea = tl_app_install(srv, e.id, "com.example.ga", g1, false);
    tl_req_problem(srv, "GET", "/assets/shared?groupId=com.example.group1", ea.token, NULL, 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?groupId=com.example.group1", ea.token, NULL, 404,
                   "NOT_FOUND");

    /* Removal through the group. */
    r = tl_http(srv, "DELETE", "/assets?groupId=com.example.group1&dataLabelNormal1=g", b.token,
                NULL);
    tl_expect_status(r, 200);
    assert_int_equal(tl_jint(r->json, "removed"), 1);
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/shared?groupId=com.example.group1", a.token, NULL, 404,
                   "NOT_FOUND");
    assert_string_equal(tl_get_secret(srv, a.token, "shared", NULL, secret, sizeof secret), "own");
}

static long long assets_of(const char *device_id, const char *owner)
{
    return tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND owner = $2", device_id,
                       owner, NULL);
}

/* Uninstall removes the app's own non-persistent assets, keeps isPersistent ones and those
 * synced to TRUSTED_ACCOUNT (visible again after a reinstall, with a new token); the old token
 * is 401; group assets stay while another app of the group remains. */
static void test_uninstall(void **st)
{
    (void)st;
    char secret[64], list[256];
    const char *const grp[] = {"com.example.ugroup", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.ua", grp, true);
    tl_app b = tl_app_install(srv, d.id, "com.example.ub", grp, false);
    tl_app other = tl_app_install(srv, d.id, "com.example.uother", NULL, false);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"np\",\"secret\":\"bnA=\"}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"np-enc\",\"secret\":\"bnA=\",\"requireAttrEncrypted\":true}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"np-sync\",\"secret\":\"bnA=\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"p\",\"secret\":\"cGVyc2lzdGVudA==\",\"isPersistent\":true}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"ta\",\"secret\":\"dGE=\",\"syncType\":[\"TRUSTED_ACCOUNT\"]}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"g\",\"secret\":\"Z3JvdXA=\",\"groupId\":\"com.example.ugroup\"}"));
    json_decref(tl_asset_add(srv, other.token, "{\"alias\":\"np\",\"secret\":\"b3RoZXI=\"}"));
    /* The same app on another device keeps its assets whatever happens here. */
    tl_app far = tl_fresh_app(srv, "com.example.ua", NULL);
    json_decref(tl_asset_add(srv, far.token, "{\"alias\":\"np\",\"secret\":\"ZmFy\"}"));
    assert_int_equal(assets_of(d.id, "com.example.ua"), 5);

    tl_app_uninstall(srv, d.id, "com.example.ua");
    /* The old token is revoked. */
    tl_req_problem(srv, "GET", "/assets/p", a.token, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets", a.token, "{\"alias\":\"z\",\"secret\":\"c2VjcmV0\"}",
                   401, "PERMISSION_DENIED");
    /* Own non-persistent assets are gone; persistent and TRUSTED_ACCOUNT ones stay. */
    assert_int_equal(assets_of(d.id, "com.example.ua"), 2);
    /* The group asset stays: b is still in the group. */
    assert_string_equal(
        tl_get_secret(srv, b.token, "g", "groupId=com.example.ugroup", secret, sizeof secret),
        "group");
    /* Other apps and devices are untouched. */
    assert_string_equal(tl_get_secret(srv, other.token, "np", NULL, secret, sizeof secret),
                        "other");
    assert_string_equal(tl_get_secret(srv, far.token, "np", NULL, secret, sizeof secret), "far");

    /* Reinstalled: a new token, the kept assets visible again. */
    tl_app a2 = tl_app_install(srv, d.id, "com.example.ua", grp, true);
    assert_string_not_equal(a2.token, a.token);
    assert_string_equal(tl_get_secret(srv, a2.token, "p", NULL, secret, sizeof secret),
                        "persistent");
    assert_string_equal(tl_get_secret(srv, a2.token, "ta", NULL, secret, sizeof secret), "ta");
    assert_string_equal(tl_list(srv, a2.token, "", list, sizeof list), "p,ta");
    tl_req_problem(srv, "GET", "/assets/np", a2.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/np-enc?requireAttrEncrypted=true", a2.token, NULL, 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/np-sync", a2.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/p", a.token, NULL, 401, "PERMISSION_DENIED");

    /* When the last app of the group goes, the group's assets go. */
    tl_app_uninstall(srv, d.id, "com.example.ub");
    assert_string_equal(
        tl_get_secret(srv, a2.token, "g", "groupId=com.example.ugroup", secret, sizeof secret),
        "group");
    assert_int_equal(assets_of(d.id, "com.example.ugroup"), 1);
    tl_app_uninstall(srv, d.id, "com.example.ua");
    assert_int_equal(assets_of(d.id, "com.example.ugroup"), 0);
    tl_app a3 = tl_app_install(srv, d.id, "com.example.ua", grp, true);
    tl_req_problem(srv, "GET", "/assets/g?groupId=com.example.ugroup", a3.token, NULL, 404,
                   "NOT_FOUND");
    assert_string_equal(tl_list(srv, a3.token, "", list, sizeof list), "p,ta");
    /* An app not installed: 404; uninstall by the device token works. */
    char path[256];
    tl_req_problem(srv, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.never", d.id),
                   srv->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_status(srv, "DELETE",
                  tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.ua", d.id), d.token,
                  NULL, 204);
    tl_req_problem(srv, "GET", "/assets/p", a3.token, NULL, 401, "PERMISSION_DENIED");
}

/* A device token cannot reach another device; an installation token cannot manage its own. */
static void test_device_tokens_scope(void **st)
{
    (void)st;
    char path[256];
    tl_device x = tl_device_create(srv, NULL, NULL), y = tl_device_create(srv, NULL, NULL);
    tl_app ax = tl_app_install(srv, x.id, "com.example.s", NULL, false);
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", y.id), x.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", x.id), ax.token, NULL,
                   403, "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.s", x.id), ax.token,
                   NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.s", x.id), y.token,
                   NULL, 403, "PERMISSION_DENIED");
    /* Still installed. */
    tl_req_problem(srv, "GET", "/assets/none", ax.token, NULL, 404, "NOT_FOUND");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_app_same_device), cmocka_unit_test(test_same_app_other_device),
        cmocka_unit_test(test_group_assets),          cmocka_unit_test(test_uninstall),
        cmocka_unit_test(test_device_tokens_scope),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
