/* HTTP black-box tests of the configured limits, on a server started with
 * ASSETD_BODY_LIMIT=2048 and ASSETD_MAX_ASSETS=3: 413 for bodies over the limit (spec §3, §5),
 * 409 LIMIT_EXCEEDED for the per-owner asset limit (§5). */
#include <string.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_BODY_LIMIT=2048", "ASSETD_MAX_ASSETS=3", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* A valid add body of exactly `size` bytes (padded with spaces after the object). */
static char *add_body(char *out, size_t size, const char *alias)
{
    int n = snprintf(out, size + 1, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", alias);
    assert_true(n > 0 && (size_t)n <= size);
    memset(out + n, ' ', size - (size_t)n);
    out[size] = 0;
    return out;
}

static void test_body_limit(void **st)
{
    (void)st;
    static char body[8192];
    char auth[200], path[256];
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.body", &d);
    snprintf(auth, sizeof auth, "Bearer %s", a.token);

    /* At the limit: fine. One byte over: 413 INVALID_ARGUMENT. */
    tl_req_status(srv, "POST", "/assets", a.token, add_body(body, 2048, "at-limit"), 201);
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token, add_body(body, 2049, "over"));
    tl_expect_problem(r, 413, "INVALID_ARGUMENT");
    tl_resp_free(r);
    tl_req_problem(srv, "POST", "/assets", a.token, add_body(body, 6000, "over"), 413,
                   "INVALID_ARGUMENT");
    /* Sent chunked (no Content-Length), in pieces. */
    add_body(body, 6000, "chunked");
    tl_http_opts chunked = {.chunked = true};
    r = tl_http_raw(srv, "POST", "/assets", auth, body, strlen(body), &chunked);
    tl_expect_problem(r, 413, "INVALID_ARGUMENT");
    tl_resp_free(r);
    add_body(body, 1500, "chunked-small");
    r = tl_http_raw(srv, "POST", "/assets", auth, body, strlen(body), &chunked);
    tl_expect_status(r, 201);
    tl_resp_free(r);
    /* Over the limit and malformed: 413 comes before 400. */
    memset(body, '{', 3000);
    body[3000] = 0;
    tl_req_problem(srv, "POST", "/assets", a.token, body, 413, "INVALID_ARGUMENT");
    /* Other routes with bodies. */
    char big[3000];
    memset(big, 'x', 2100);
    big[2100] = 0;
    snprintf(body, sizeof body, "{\"dataLabelNormal1\":\"%s\"}", big);
    tl_req_problem(srv, "PATCH", "/assets/at-limit", a.token, body, 413, "INVALID_ARGUMENT");
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", big);
    tl_req_problem(srv, "POST", "/devices", srv->admin_token, body, 413, "INVALID_ARGUMENT");
    snprintf(body, sizeof body,
             "{\"lockScreenPasswordSet\":true,\"screenLocked\":true,\"unlockedSinceBoot\":true}%s",
             big);
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", d.id),
                   srv->admin_token, body, 413, "INVALID_ARGUMENT");
    /* Nothing was written; the server goes on serving. */
    char list[256];
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "at-limit,chunked-small");
    r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), d.token, NULL);
    tl_expect_status(r, 200);
    assert_true(json_is_false(json_object_get(json_object_get(r->json, "state"), "screenLocked")));
    tl_resp_free(r);
    tl_req_status(srv, "GET", "/healthz", NULL, NULL, 200);
}

/* openapi.yaml "Validation comes first": 401, then 403 for a principal that may not call the
 * operation, then 413. */
static void test_413_after_authentication(void **st)
{
    (void)st;
    static char body[4096];
    tl_device d;
    tl_fresh_app(srv, "com.example.order413", &d);
    add_body(body, 3000, "x");
    tl_req_problem(srv, "POST", "/assets", NULL, body, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets", "no-such-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", body, 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets", d.token, body, 403, "PERMISSION_DENIED");
}

static void test_max_assets_per_owner(void **st)
{
    (void)st;
    char list[256];
    const char *const grp[] = {"com.example.lgroup", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.la", grp, false);
    tl_app b = tl_app_install(srv, d.id, "com.example.lb", NULL, false);
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"a%d\",\"secret\":\"c2VjcmV0\"}", i));
    tl_req_problem(srv, "POST", "/assets", a.token, "{\"alias\":\"a4\",\"secret\":\"c2VjcmV0\"}",
                   409, "LIMIT_EXCEEDED");
    tl_req_problem(srv, "GET", "/assets/a4", a.token, NULL, 404, "NOT_FOUND");
    /* Replacing one of the three is not a fourth. */
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"a2\",\"secret\":\"bmV3\",\"conflictResolution\":\"OVERWRITE\"}",
                  200);
    /* Other owners have their own count: another app, the app's group. */
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(srv, b.token, "{\"alias\":\"b%d\",\"secret\":\"c2VjcmV0\"}", i));
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(
            srv, a.token,
            "{\"alias\":\"g%d\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.lgroup\"}", i));
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"g4\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.lgroup\"}",
                   409, "LIMIT_EXCEEDED");
    /* The same app on another device has its own count too. */
    tl_app far = tl_fresh_app(srv, "com.example.la", NULL);
    json_decref(tl_asset_add(srv, far.token, "{\"alias\":\"a4\",\"secret\":\"c2VjcmV0\"}"));
    /* Room again after a removal. */
    tl_req_status(srv, "DELETE", "/assets/a1", a.token, NULL, 204);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"a4\",\"secret\":\"c2VjcmV0\"}"));
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "a2,a3,a4");
}

/* OVERWRITE of an alias that does not exist adds an asset, so it counts like any add. */
static void test_max_assets_overwrite_new_alias(void **st)
{
    (void)st;
    char list[256];
    tl_app a = tl_fresh_app(srv, "com.example.lover", NULL);
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"o%d\",\"secret\":\"c2VjcmV0\"}", i));
    tl_req_problem(
        srv, "POST", "/assets", a.token,
        "{\"alias\":\"o4\",\"secret\":\"c2VjcmV0\",\"conflictResolution\":\"OVERWRITE\"}", 409,
        "LIMIT_EXCEEDED");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "o1,o2,o3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_413_after_authentication),
        cmocka_unit_test(test_max_assets_per_owner),
        cmocka_unit_test(test_max_assets_overwrite_new_alias),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
