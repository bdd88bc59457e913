/* HTTP black-box tests: devices, installations, device tokens, and the operational endpoints
 * (/healthz, /readyz, /metrics). Spec §2, §4 (device and admin endpoints), §6. */
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

/* An Ed25519-sized public key (any 32 bytes will do for storage). */
static const char *PK1 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char *PK2 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static bool is_lower_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

static bool is_token(const char *s)
{
    if (!s || strlen(s) != 43)
        return false;
    for (int i = 0; i < 43; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]))
            return false;
    return true;
}

static void test_health_ready_metrics(void **st)
{
    (void)st;
    tl_resp *r = tl_http(srv, "GET", "/healthz", NULL, NULL);
    tl_expect_status(r, 200);
    assert_true(strncmp(r->content_type, "application/json", 16) == 0);
    assert_string_equal(tl_jstr(r->json, "status"), "ok");
    assert_true(r->request_id[0]);
    tl_resp_free(r);

    r = tl_http(srv, "GET", "/readyz", NULL, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "status"), "ready");
    tl_resp_free(r);

    /* A few requests so the counters have something to show, one carrying an alias that must
     * never appear in the metrics. */
    tl_app a = tl_fresh_app(srv, "com.example.metrics", NULL);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"metrics-private-alias\",\"secret\":\"c2VjcmV0\"}"));
    tl_req_status(srv, "GET", "/assets/metrics-private-alias", a.token, NULL, 200);

    r = tl_http(srv, "GET", "/metrics", NULL, NULL);
    tl_expect_status(r, 200);
    /* openapi.yaml: Content-Type: text/plain; version=0.0.4; charset=utf-8 */
    assert_true(strncmp(r->content_type, "text/plain", 10) == 0);
    assert_non_null(strstr(r->content_type, "version=0.0.4"));
    tl_expect_body_has(r, "# TYPE assetd_http_requests_total counter");
    tl_expect_body_has(r, "assetd_http_requests_total{");
    tl_expect_body_has(r, "route=\"/assets/{alias}\"");
    tl_expect_body_lacks(r, "metrics-private-alias");
    tl_expect_body_lacks(r, "com.example.metrics");
    tl_expect_body_lacks(r, a.token);
    tl_resp_free(r);
}

static void test_metrics_content_type_charset(void **st)
{
    (void)st;
    tl_resp *r = tl_http(srv, "GET", "/metrics", NULL, NULL);
    tl_expect_status(r, 200);
    /* The exact media type openapi.yaml records for GET /metrics. */
    assert_string_equal(r->content_type, "text/plain; version=0.0.4; charset=utf-8");
    tl_resp_free(r);
}

static void test_request_ids_unique_and_not_from_client(void **st)
{
    (void)st;
    static const char *const hdr[] = {"X-Request-Id: client-chosen-id", NULL};
    tl_http_opts o = {.headers = hdr};
    tl_resp *a = tl_http_raw(srv, "GET", "/healthz", NULL, NULL, 0, &o);
    tl_resp *b = tl_http(srv, "GET", "/healthz", NULL, NULL);
    tl_resp *c = tl_http(srv, "GET", "/no/such/route", NULL, NULL);
    tl_expect_status(a, 200);
    tl_expect_status(b, 200);
    assert_true(a->request_id[0] && b->request_id[0] && c->request_id[0]);
    assert_string_not_equal(a->request_id, "client-chosen-id");
    assert_string_not_equal(a->request_id, b->request_id);
    assert_string_not_equal(b->request_id, c->request_id);
    tl_resp_free(a);
    tl_resp_free(b);
    tl_resp_free(c);
}

static void test_unknown_route_and_method(void **st)
{
    (void)st;
    tl_req_problem(srv, "GET", "/nope", NULL, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/devices", srv->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "PUT", "/assets", srv->admin_token, "{}", 404, "NOT_FOUND");
    tl_req_problem(srv, "POST", "/healthz", NULL, "{}", 404, "NOT_FOUND");
}

static void test_create_and_get_device(void **st)
{
    (void)st;
    tl_resp *r = tl_http(srv, "POST", "/devices", srv->admin_token, "{\"name\":\"phone 1\"}");
    tl_expect_status(r, 201);
    assert_true(strncmp(r->content_type, "application/json", 16) == 0);
    const char *id = tl_jstr(r->json, "id"), *tok = tl_jstr(r->json, "deviceToken");
    assert_true(is_lower_uuid(id));
    assert_true(is_token(tok));
    assert_int_equal(json_object_size(r->json), 2);
    char idc[64], tokc[64], path[128];
    snprintf(idc, sizeof idc, "%s", id);
    snprintf(tokc, sizeof tokc, "%s", tok);
    tl_resp_free(r);

    /* Admin and the device itself may read it; defaults filled. */
    const char *readers[] = {srv->admin_token, tokc};
    for (int i = 0; i < 2; i++) {
        r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", idc), readers[i], NULL);
        tl_expect_status(r, 200);
        assert_string_equal(tl_jstr(r->json, "id"), idc);
        assert_string_equal(tl_jstr(r->json, "name"), "phone 1");
        assert_true(json_is_null(json_object_get(r->json, "accountId")));
        assert_true(json_is_null(json_object_get(r->json, "userAuthPublicKey")));
        json_t *s = json_object_get(r->json, "state");
        assert_true(json_is_false(json_object_get(s, "lockScreenPasswordSet")));
        assert_true(json_is_false(json_object_get(s, "screenLocked")));
        assert_true(json_is_true(json_object_get(s, "unlockedSinceBoot")));
        assert_int_equal(json_object_size(r->json), 5);
        tl_resp_free(r);
    }

    /* With accountId and userAuthPublicKey. */
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", "tablet é", "accountId", "alice",
                             "userAuthPublicKey", PK1);
    r = tl_http_json(srv, "POST", "/devices", srv->admin_token, body);
    tl_expect_status(r, 201);
    snprintf(idc, sizeof idc, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", idc), srv->admin_token,
                NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "name"), "tablet é");
    assert_string_equal(tl_jstr(r->json, "accountId"), "alice");
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), PK1);
    tl_resp_free(r);

    /* Two devices never share an id or a token. */
    tl_device d1 = tl_device_create(srv, NULL, NULL), d2 = tl_device_create(srv, NULL, NULL);
    assert_string_not_equal(d1.id, d2.id);
    assert_string_not_equal(d1.token, d2.token);
}

static void test_create_device_invalid(void **st)
{
    (void)st;
    char big[400];
    memset(big, 'n', 257);
    big[257] = 0;
    char body[600];
    const char *cases[][2] = {
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":5}", "name"},
        {"{\"name\":\"a\",\"color\":\"red\"}", "color"},
        {"{\"name\":\"a\",\"accountId\":\"\"}", "accountId"},
        {"{\"name\":\"a\",\"accountId\":null}", "accountId"},
        {"{\"name\":\"a\",\"userAuthPublicKey\":\"AAAA\"}", "userAuthPublicKey"},
        {"{\"name\":\"a\",\"userAuthPublicKey\":\"not base64!\"}", "userAuthPublicKey"},
        {"{\"name\":\"a\",\"userAuthPublicKey\":null}", "userAuthPublicKey"},
        {"{\"name\":\"a\\u0000b\"}", "name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_resp *r = tl_http(srv, "POST", "/devices", srv->admin_token, cases[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", cases[i][1]);
        tl_resp_free(r);
    }
    tl_pathf(body, sizeof body, "{\"name\":\"%s\"}", big);
    tl_resp *r = tl_http(srv, "POST", "/devices", srv->admin_token, body);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "name");
    tl_resp_free(r);
    big[256] = 0; /* 256 bytes is fine */
    tl_pathf(body, sizeof body, "{\"name\":\"%s\"}", big);
    tl_req_status(srv, "POST", "/devices", srv->admin_token, body, 201);
    /* Not JSON / not an object / a query string. */
    tl_req_problem(srv, "POST", "/devices", srv->admin_token, "{\"name\":", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/devices", srv->admin_token, "[\"name\"]", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/devices?x=1", srv->admin_token, "{\"name\":\"a\"}", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/devices", srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
}

static void test_device_tokens_and_principals(void **st)
{
    (void)st;
    char path[256];
    tl_device x = tl_device_create(srv, NULL, NULL), y = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, x.id, "com.example.p", NULL, false);

    /* Only the admin registers devices. */
    tl_req_problem(srv, "POST", "/devices", x.token, "{\"name\":\"n\"}", 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/devices", a.token, "{\"name\":\"n\"}", 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/devices", NULL, "{\"name\":\"n\"}", 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/devices", "not-a-token-at-all-xxxxxxxxxxxxxxxxxxxxxxx",
                   "{\"name\":\"n\"}", 401, "PERMISSION_DENIED");

    /* A device token manages its own device only; an installation token no device. */
    tl_req_status(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", x.id), x.token, NULL, 200);
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", y.id), x.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", x.id), a.token, NULL, 403,
                   "PERMISSION_DENIED");
    const char *state = "{\"lockScreenPasswordSet\":true,\"screenLocked\":false,"
                        "\"unlockedSinceBoot\":true}";
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", y.id), x.token,
                   state, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", x.id), a.token,
                   state, 403, "PERMISSION_DENIED");
    char key[128];
    tl_pathf(key, sizeof key, "{\"userAuthPublicKey\":\"%s\"}", PK1);
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", y.id),
                   x.token, key, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", y.id), x.token,
                   "{\"appId\":\"com.example.q\"}", 403, "PERMISSION_DENIED");
    tl_app b = tl_app_install(srv, y.id, "com.example.q", NULL, false);
    tl_req_problem(srv, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/%s", y.id, b.app_id), x.token,
                   NULL, 403, "PERMISSION_DENIED");
    /* ... and y's app is still there. */
    tl_req_problem(srv, "GET", "/assets/anything", b.token, NULL, 404, "NOT_FOUND");

    /* The device token does work on its own device for every device route. */
    tl_req_status(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", x.id), x.token,
                  state, 200);
    tl_req_status(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", x.id),
                  x.token, key, 200);
    tl_resp *r = tl_http(srv, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", x.id),
                         x.token, "{\"appId\":\"com.example.own\"}");
    tl_expect_status(r, 201);
    assert_true(is_token(tl_jstr(r->json, "token")));
    assert_string_equal(tl_jstr(r->json, "appId"), "com.example.own");
    tl_resp_free(r);
    tl_req_status(srv, "DELETE",
                  tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.own", x.id), x.token,
                  NULL, 204);

    /* Device tokens and the admin token may not use /assets. */
    tl_req_problem(srv, "GET", "/assets?alias=a", x.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets", x.token, "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\"}",
                   403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets/a", srv->admin_token, NULL, 403, "PERMISSION_DENIED");
}

static void test_device_not_found_and_bad_ids(void **st)
{
    (void)st;
    char path[256];
    const char *ghost = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", ghost), srv->admin_token,
                   NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", ghost),
                   srv->admin_token,
                   "{\"lockScreenPasswordSet\":false,\"screenLocked\":false,"
                   "\"unlockedSinceBoot\":true}",
                   404, "NOT_FOUND");
    tl_req_problem(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", ghost),
                   srv->admin_token,
                   "{\"userAuthPublicKey\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", ghost),
                   srv->admin_token, "{\"appId\":\"com.example.a\"}", 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE",
                   tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.a", ghost),
                   srv->admin_token, NULL, 404, "NOT_FOUND");

    /* Malformed UUIDs are 400, before anything is looked up. */
    const char *bad[] = {"not-a-uuid",
                         "6f1c2d3e4b5a4c6d8e7f0a1b2c3d4e5f",
                         "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5",
                         "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5g",
                         "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f0",
                         "%00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_resp *r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", bad[i]),
                             srv->admin_token, NULL);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "id");
        tl_resp_free(r);
        r = tl_http(srv, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", bad[i]),
                    srv->admin_token,
                    "{\"lockScreenPasswordSet\":false,\"screenLocked\":false,"
                    "\"unlockedSinceBoot\":true}");
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "id");
        tl_resp_free(r);
    }
    /* A query string on GET /devices/{id}. */
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s?verbose=true", d.id),
                   srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
}

static void test_device_state(void **st)
{
    (void)st;
    char path[256];
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_pathf(path, sizeof path, "/devices/%s/state", d.id);
    tl_resp *r = tl_http(srv, "PUT", path, srv->admin_token,
                         "{\"lockScreenPasswordSet\":true,\"screenLocked\":true,"
                         "\"unlockedSinceBoot\":false}");
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "id"), d.id);
    json_t *s = json_object_get(r->json, "state");
    assert_true(json_is_true(json_object_get(s, "lockScreenPasswordSet")));
    assert_true(json_is_true(json_object_get(s, "screenLocked")));
    assert_true(json_is_false(json_object_get(s, "unlockedSinceBoot")));
    tl_resp_free(r);
    /* Persisted. */
    char gpath[128];
    r = tl_http(srv, "GET", tl_pathf(gpath, sizeof gpath, "/devices/%s", d.id), d.token, NULL);
    tl_expect_status(r, 200);
    s = json_object_get(r->json, "state");
    assert_true(json_is_true(json_object_get(s, "screenLocked")));
    assert_true(json_is_false(json_object_get(s, "unlockedSinceBoot")));
    tl_resp_free(r);

    /* All three fields, booleans, nothing else. */
    const char *bad[][2] = {
        {"{\"lockScreenPasswordSet\":true,\"screenLocked\":true}", "unlockedSinceBoot"},
        {"{\"lockScreenPasswordSet\":\"true\",\"screenLocked\":true,\"unlockedSinceBoot\":true}",
         "lockScreenPasswordSet"},
        {"{\"lockScreenPasswordSet\":true,\"screenLocked\":1,\"unlockedSinceBoot\":true}",
         "screenLocked"},
        {"{\"lockScreenPasswordSet\":true,\"screenLocked\":true,\"unlockedSinceBoot\":null}",
         "unlockedSinceBoot"},
        {"{\"lockScreenPasswordSet\":true,\"screenLocked\":true,\"unlockedSinceBoot\":true,"
         "\"faceId\":true}",
         "faceId"},
        {"{}", "lockScreenPasswordSet"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_http(srv, "PUT", path, srv->admin_token, bad[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", bad[i][1]);
        tl_resp_free(r);
    }
    /* Nothing was written by the refused requests. */
    r = tl_http(srv, "GET", gpath, d.token, NULL);
    s = json_object_get(r->json, "state");
    assert_true(json_is_true(json_object_get(s, "lockScreenPasswordSet")));
    assert_true(json_is_true(json_object_get(s, "screenLocked")));
    assert_true(json_is_false(json_object_get(s, "unlockedSinceBoot")));
    tl_resp_free(r);
}

static void test_user_auth_key(void **st)
{
    (void)st;
    char path[256], body[256];
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", d.id);
    tl_resp *r = tl_http(srv, "PUT", path, srv->admin_token,
                         tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", PK1));
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), PK1);
    tl_resp_free(r);
    /* Replaced. */
    r = tl_http(srv, "PUT", path, d.token,
                tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", PK2));
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), PK2);
    tl_resp_free(r);
    const char *bad[] = {
        "{}",
        "{\"userAuthPublicKey\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\"}", /* 31 bytes */
        "{\"userAuthPublicKey\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\"}", /* 33 bytes */
        "{\"userAuthPublicKey\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}",  /* no padding */
        "{\"userAuthPublicKey\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_\"}", /* base64url */
        "{\"userAuthPublicKey\":32}",
        "{\"userAuthPublicKey\":null}", /* the schema is a string: no null */
        "{\"userAuthPublicKey\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\",\"x\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_http(srv, "PUT", path, srv->admin_token, bad[i]);
        tl_expect_problem(r, 400, "INVALID_ARGUMENT");
        tl_resp_free(r);
    }
    /* Still PK2. */
    r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), d.token, NULL);
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), PK2);
    tl_resp_free(r);
}

static void test_install_and_uninstall(void **st)
{
    (void)st;
    char path[512];
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_pathf(path, sizeof path, "/devices/%s/apps", d.id);
    tl_resp *r = tl_http(srv, "POST", path, srv->admin_token,
                         "{\"appId\":\"com.example.notes\",\"groups\":[\"com.example.shared\"],"
                         "\"permissions\":[\"STORE_PERSISTENT_DATA\"]}");
    tl_expect_status(r, 201);
    assert_string_equal(tl_jstr(r->json, "appId"), "com.example.notes");
    assert_true(is_token(tl_jstr(r->json, "token")));
    assert_int_equal(json_object_size(r->json), 2);
    char tok[64];
    snprintf(tok, sizeof tok, "%s", tl_jstr(r->json, "token"));
    tl_resp_free(r);
    /* The token works: the app's groups and permission are in force. */
    r = tl_http(srv, "POST", "/assets", tok,
                "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.shared\"}");
    tl_expect_status(r, 201);
    assert_string_equal(tl_jstr(r->json, "groupId"), "com.example.shared");
    tl_resp_free(r);
    tl_req_status(srv, "POST", "/assets", tok,
                  "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true}", 201);

    /* Installed twice: 409 DUPLICATED; the first token still works. */
    tl_req_problem(srv, "POST", path, srv->admin_token, "{\"appId\":\"com.example.notes\"}", 409,
                   "DUPLICATED");
    tl_req_status(srv, "GET", "/assets/p", tok, NULL, 200);

    /* Malformed installs. */
    char g6[] = "{\"appId\":\"com.example.x\",\"groups\":[\"abcdef\"]}";
    const char *bad[][2] = {
        {"{}", "appId"},
        {"{\"appId\":\"\"}", "appId"},
        {"{\"appId\":7}", "appId"},
        {g6, "groups"},
        {"{\"appId\":\"com.example.x\",\"groups\":[\"com.example.g\",\"com.example.g\"]}",
         "groups"},
        {"{\"appId\":\"com.example.x\",\"groups\":\"com.example.g\"}", "groups"},
        {"{\"appId\":\"com.example.x\",\"permissions\":[\"READ_EVERYTHING\"]}", "permissions"},
        {"{\"appId\":\"com.example.x\",\"permissions\":[\"STORE_PERSISTENT_DATA\","
         "\"STORE_PERSISTENT_DATA\"]}",
         "permissions"},
        {"{\"appId\":\"com.example.x\",\"version\":2}", "version"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_http(srv, "POST", path, srv->admin_token, bad[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", bad[i][1]);
        tl_resp_free(r);
    }
    /* None of them was installed. */
    tl_req_status(srv, "POST", path, srv->admin_token, "{\"appId\":\"com.example.x\"}", 201);

    /* Uninstall: 204, the token is revoked (401), a second uninstall is 404. */
    char del[512];
    tl_pathf(del, sizeof del, "/devices/%s/apps/com.example.notes", d.id);
    tl_req_status(srv, "DELETE", del, srv->admin_token, NULL, 204);
    tl_req_problem(srv, "GET", "/assets/p", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE", del, srv->admin_token, NULL, 404, "NOT_FOUND");
    /* An app id that needs escaping, and a malformed one. */
    char enc[128];
    tl_app odd = tl_app_install(srv, d.id, "com.example/odd app+1", NULL, false);
    (void)odd;
    tl_req_status(srv, "DELETE",
                  tl_pathf(del, sizeof del, "/devices/%s/apps/%s", d.id,
                           tl_urlenc(enc, sizeof enc, "com.example/odd app+1")),
                  srv->admin_token, NULL, 204);
    tl_req_problem(srv, "DELETE", tl_pathf(del, sizeof del, "/devices/%s/apps/a%%00b", d.id),
                   srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "DELETE", tl_pathf(del, sizeof del, "/devices/%s/apps/%%ZZ", d.id),
                   srv->admin_token, NULL, 400, "INVALID_ARGUMENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready_metrics),
        cmocka_unit_test(test_metrics_content_type_charset),
        cmocka_unit_test(test_request_ids_unique_and_not_from_client),
        cmocka_unit_test(test_unknown_route_and_method),
        cmocka_unit_test(test_create_and_get_device),
        cmocka_unit_test(test_create_device_invalid),
        cmocka_unit_test(test_device_tokens_and_principals),
        cmocka_unit_test(test_device_not_found_and_bad_ids),
        cmocka_unit_test(test_device_state),
        cmocka_unit_test(test_user_auth_key),
        cmocka_unit_test(test_install_and_uninstall),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
