/* HTTP black-box tests of the errors the contract lists for the asset and device operations
 * (spec §2, §3, §5; openapi.yaml "Conventions"): every one provoked over HTTP, with status,
 * problem+json and its fields checked, and nothing written by a refused request. */
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

static char *repeat(char *out, const char *unit, int times)
{
    out[0] = 0;
    for (int i = 0; i < times; i++)
        strcat(out, unit);
    return out;
}

/* ---- 401 / 403 ---- */

static void test_401_missing_or_bad_token(void **st)
{
    (void)st;
    char path[256], big[700];
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.auth", &d);
    struct {
        const char *method, *path, *body;
    } routes[] = {
        {"POST", "/assets", "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\"}"},
        {"GET", "/assets", NULL},
        {"DELETE", "/assets?alias=a", NULL},
        {"GET", "/assets/a", NULL},
        {"PATCH", "/assets/a", "{\"dataLabelNormal1\":\"x\"}"},
        {"DELETE", "/assets/a", NULL},
        {"POST", "/devices", "{\"name\":\"n\"}"},
        {"GET", "/devices/%s", NULL},
        {"PUT", "/devices/%s/state",
         "{\"lockScreenPasswordSet\":true,\"screenLocked\":true,\"unlockedSinceBoot\":true}"},
        {"PUT", "/devices/%s/user-auth-key",
         "{\"userAuthPublicKey\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}"},
        {"POST", "/devices/%s/apps", "{\"appId\":\"com.example.z\"}"},
        {"DELETE", "/devices/%s/apps/com.example.auth", NULL},
    };
    memset(big, 'A', 600);
    big[600] = 0;
    const char *auths[] = {NULL,
                           "Bearer ",
                           "Bearer",
                           "Bearer not-a-token",
                           "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                           "Basic dXNlcjpwYXNz",
                           a.token /* without the scheme */,
                           big};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        for (size_t k = 0; k < sizeof auths / sizeof auths[0]; k++) {
            char p[256], hdr[800];
            snprintf(p, sizeof p, routes[i].path, d.id);
            if (auths[k] == big)
                snprintf(hdr, sizeof hdr, "Bearer %s", big);
            else
                snprintf(hdr, sizeof hdr, "%s", auths[k] ? auths[k] : "");
            tl_resp *r =
                tl_http_raw(srv, routes[i].method, p, auths[k] ? hdr : NULL, routes[i].body,
                            routes[i].body ? strlen(routes[i].body) : 0, NULL);
            tl_expect_problem(r, 401, "PERMISSION_DENIED");
            tl_resp_free(r);
        }
    /* Authentication comes before validation: a malformed request without a token is 401. */
    tl_req_problem(srv, "POST", "/assets", NULL, "{not json", 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets?bogus=1", NULL, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/devices/not-a-uuid", NULL, NULL, 401, "PERMISSION_DENIED");
    /* Nothing was done by any of them. */
    tl_req_problem(srv, "GET", "/assets/a", a.token, NULL, 404, "NOT_FOUND");
    tl_req_status(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), d.token, NULL, 200);
}

static void test_403_token_kind_not_allowed(void **st)
{
    (void)st;
    char path[256];
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.kind", &d);
    const char *asset_calls[][3] = {
        {"POST", "/assets", "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\"}"},
        {"GET", "/assets", NULL},
        {"GET", "/assets/a", NULL},
        {"PATCH", "/assets/a", "{\"dataLabelNormal1\":\"x\"}"},
        {"DELETE", "/assets/a", NULL},
        {"DELETE", "/assets?alias=a", NULL},
        /* 403 comes before 400: malformed requests with the wrong kind of token. */
        {"POST", "/assets", "{not json"},
        {"GET", "/assets?bogus=1", NULL},
    };
    const char *not_apps[] = {d.token, srv->admin_token};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof asset_calls / sizeof asset_calls[0]; i++) {
            tl_resp *r =
                tl_http(srv, asset_calls[i][0], asset_calls[i][1], not_apps[k], asset_calls[i][2]);
            tl_expect_problem(r, 403, "PERMISSION_DENIED");
            tl_resp_free(r);
        }
    /* Installation tokens on device routes. */
    tl_req_problem(srv, "POST", "/devices", a.token, "{\"name\":\"n\"}", 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/devices", a.token, "{bad", 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", d.id), a.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", d.id), a.token,
                   "{\"appId\":\"com.example.more\"}", 403, "PERMISSION_DENIED");
    /* Nothing was written. */
    tl_req_problem(srv, "GET", "/assets/a", a.token, NULL, 404, "NOT_FOUND");
}

static void test_403_group_and_permission(void **st)
{
    (void)st;
    const char *const grp[] = {"com.example.mine", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.noperm", grp, false);
    /* isPersistent: true needs STORE_PERSISTENT_DATA; false does not. */
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true}", 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets/p", a.token, NULL, 404, "NOT_FOUND");
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":false}", 201);
    /* A group the app is not in. */
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.theirs\"}",
                   403, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets?groupId=com.example.theirs", a.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets/g?groupId=com.example.theirs", a.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "PATCH", "/assets/g?groupId=com.example.theirs", a.token,
                   "{\"dataLabelNormal1\":\"x\"}", 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE", "/assets/g?groupId=com.example.theirs", a.token, NULL, 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE", "/assets?groupId=com.example.theirs&alias=g", a.token, NULL, 403,
                   "PERMISSION_DENIED");
    /* Its own group works. */
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.mine\"}",
                  201);
}

/* ---- 400 INVALID_ARGUMENT ---- */

static void test_400_add_body(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.badadd", NULL);
    const char *cases[][2] = {
        /* unknown, duplicate, missing fields */
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"colour\":\"red\"}", "colour"},
        {"{\"alias\":\"a\",\"alias\":\"b\",\"secret\":\"c2VjcmV0\"}", "alias"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"secret\":\"c2VjcmV0\"}", "secret"},
        {"{\"alias\":\"a\"}", "secret"},
        {"{\"secret\":\"c2VjcmV0\"}", "alias"},
        /* fields an add does not take */
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"returnType\":\"ALL\"}", "returnType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"limit\":10}", "limit"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"authValidityPeriod\":60}",
         "authValidityPeriod"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"updateTime\":\"2026-01-01T00:00:00.000Z\"}",
         "updateTime"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"authChallenge\":"
         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
         "authChallenge"},
        /* wrong JSON types */
        {"{\"alias\":5,\"secret\":\"c2VjcmV0\"}", "alias"},
        {"{\"alias\":\"a\",\"secret\":true}", "secret"},
        {"{\"alias\":\"a\",\"secret\":[\"c2VjcmV0\"]}", "secret"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"requirePasswordSet\":\"true\"}",
         "requirePasswordSet"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"isPersistent\":1}", "isPersistent"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"requireAttrEncrypted\":null}",
         "requireAttrEncrypted"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":\"THIS_DEVICE\"}", "syncType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":[1]}", "syncType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":null}", "syncType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":null}", "dataLabelNormal1"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":7}", "dataLabelNormal1"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"accessibility\":[\"DEVICE_UNLOCKED\"]}",
         "accessibility"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"groupId\":{}}", "groupId"},
        /* values out of range */
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"accessibility\":\"ALWAYS\"}", "accessibility"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"accessibility\":\"device_unlocked\"}",
         "accessibility"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"authType\":\"BIOMETRIC\"}", "authType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"conflictResolution\":\"MERGE\"}",
         "conflictResolution"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"wrapType\":\"ALWAYS\"}", "wrapType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"NEVER\"]}", "syncType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"THIS_DEVICE\",\"THIS_DEVICE\"]}",
         "syncType"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"TRUSTED_DEVICE\",\"THIS_"
         "DEVICE\","
         "\"TRUSTED_DEVICE\"]}",
         "syncType"},
        /* empty texts */
        {"{\"alias\":\"\",\"secret\":\"c2VjcmV0\"}", "alias"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"dataLabelCritical1\":\"\"}",
         "dataLabelCritical1"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"groupId\":\"\"}", "groupId"},
        /* invalid base64 */
        {"{\"alias\":\"a\",\"secret\":\"\"}", "secret"},
        {"{\"alias\":\"a\",\"secret\":\"not base64!\"}", "secret"},
        {"{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q\"}", "secret"},   /* padding missing */
        {"{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2R=\"}", "secret"},  /* not canonical */
        {"{\"alias\":\"a\",\"secret\":\"ZGVt b19wd2Q=\"}", "secret"}, /* a space */
        {"{\"alias\":\"a\",\"secret\":\"__8=\"}", "secret"},          /* base64url */
        {"{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q==\"}", "secret"}, /* too much padding */
        /* U+0000 in text (valid JSON, invalid text): the field is named */
        {"{\"alias\":\"a\\u0000b\",\"secret\":\"c2VjcmV0\"}", "alias"},
        {"{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal2\":\"x\\u0000\"}",
         "dataLabelNormal2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_resp *r = tl_http(srv, "POST", "/assets", a.token, cases[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", cases[i][1]);
        tl_resp_free(r);
    }
    /* Not JSON, or not an object: the body is named. */
    const char *bodies[] = {"{",
                            "{\"alias\":}",
                            "{\"alias\":\"a\",}",
                            "[]",
                            "\"text\"",
                            "42",
                            "null",
                            "true",
                            "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\"} trailing",
                            "{\"alias\":\"\\ud800\",\"secret\":\"c2VjcmV0\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        tl_resp *r = tl_http(srv, "POST", "/assets", a.token, bodies[i]);
        tl_expect_problem(r, 400, "INVALID_ARGUMENT");
        tl_resp_free(r);
    }
    tl_req_problem(srv, "POST", "/assets", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/assets", a.token, "", 400, "INVALID_ARGUMENT");
    /* Invalid UTF-8 bytes in the body: a lone continuation byte, an invalid byte, an overlong
     * encoding, an encoded surrogate, a truncated sequence. */
    const char *raw[] = {"{\"alias\":\"a\x80\",\"secret\":\"c2VjcmV0\"}",
                         "{\"alias\":\"a\xff\",\"secret\":\"c2VjcmV0\"}",
                         "{\"alias\":\"\xc0\xaf\",\"secret\":\"c2VjcmV0\"}",
                         "{\"alias\":\"\xed\xa0\x80\",\"secret\":\"c2VjcmV0\"}",
                         "{\"alias\":\"\xe2\x82\",\"secret\":\"c2VjcmV0\"}",
                         "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"\xfe\"}"};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        char auth[200];
        snprintf(auth, sizeof auth, "Bearer %s", a.token);
        tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, raw[i], strlen(raw[i]), NULL);
        tl_expect_problem(r, 400, "INVALID_ARGUMENT");
        tl_resp_free(r);
    }
    /* POST /assets takes no query parameters. */
    tl_req_problem(srv, "POST", "/assets?alias=a", a.token,
                   "{\"alias\":\"a\",\"secret\":\"c2VjcmV0\"}", 400, "INVALID_ARGUMENT");
    /* Nothing was written by any of it. */
    tl_req_problem(srv, "GET", "/assets", a.token, NULL, 404, "NOT_FOUND");
    /* The Content-Type header is not used to refuse a body. */
    static const char *const text_plain[] = {"Content-Type: text/plain", NULL};
    tl_http_opts o = {.headers = text_plain, .no_content_type = true};
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    const char *ok = "{\"alias\":\"ok\",\"secret\":\"c2VjcmV0\"}";
    tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, ok, strlen(ok), &o);
    tl_expect_status(r, 201);
    tl_resp_free(r);
}

static void test_400_lengths(void **st)
{
    (void)st;
    static char big[16384], body[20000], enc[20000];
    const char *const grp[] = {"1234567", "com.example.g127", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    /* a 127-byte group id */
    char g127[128], g128[129];
    memset(g127, 'g', 127);
    g127[127] = 0;
    memset(g128, 'g', 128);
    g128[128] = 0;
    const char *const grps[] = {grp[0], g127, NULL};
    tl_app a = tl_app_install(srv, d.id, "com.example.len", grps, false);

    /* alias: 256 bytes fine, 257 not; bytes count, not characters. */
    memset(big, 'a', 257);
    big[257] = 0;
    tl_req_problem(srv, "POST", "/assets", a.token,
                   tl_pathf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", big),
                   400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", tl_pathf(body, sizeof body, "/assets/%s", big), a.token, NULL, 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", tl_pathf(body, sizeof body, "/assets?alias=%s", big), a.token, NULL,
                   400, "INVALID_ARGUMENT");
    big[256] = 0;
    tl_req_status(srv, "POST", "/assets", a.token,
                  tl_pathf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", big),
                  201);
    repeat(big, "é", 129); /* 129 characters, 258 bytes */
    tl_resp *r =
        tl_http(srv, "POST", "/assets", a.token,
                tl_pathf(body, sizeof body, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", big));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "alias");
    tl_resp_free(r);
    tl_req_problem(srv, "GET",
                   tl_pathf(body, sizeof body, "/assets/%s", tl_urlenc(enc, sizeof enc, big)),
                   a.token, NULL, 400, "INVALID_ARGUMENT");

    /* labels: 2048 bytes fine, 2049 not, for every kind. */
    const char *labels[] = {"dataLabelCritical3", "dataLabelNormal2", "dataLabelNormalLocal4"};
    for (int i = 0; i < 3; i++) {
        memset(big, 'l', 2049);
        big[2049] = 0;
        r = tl_http(srv, "POST", "/assets", a.token,
                    tl_pathf(body, sizeof body,
                             "{\"alias\":\"l%d\",\"secret\":\"c2VjcmV0\",\"%s\":\"%s\"}", i,
                             labels[i], big));
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", labels[i]);
        tl_resp_free(r);
        r = tl_httpf(srv, "GET", a.token, NULL, "/assets?%s=%s", labels[i], big);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", labels[i]);
        tl_resp_free(r);
        big[2048] = 0;
        tl_req_status(srv, "POST", "/assets", a.token,
                      tl_pathf(body, sizeof body,
                               "{\"alias\":\"l%d\",\"secret\":\"c2VjcmV0\",\"%s\":\"%s\"}", i,
                               labels[i], big),
                      201);
    }
    repeat(big, "é", 1025); /* 2050 bytes */
    r = tl_http(srv, "PATCH", "/assets/l1", a.token,
                tl_pathf(body, sizeof body, "{\"dataLabelNormal2\":\"%s\"}", big));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "dataLabelNormal2");
    tl_resp_free(r);
    repeat(big, "é", 1024); /* 2048 bytes */
    tl_req_status(srv, "PATCH", "/assets/l1", a.token,
                  tl_pathf(body, sizeof body, "{\"dataLabelNormal2\":\"%s\"}", big), 200);

    /* secret: 1..1024 bytes. */
    unsigned char raw[1025];
    memset(raw, 0xA5, sizeof raw);
    char b64[2000];
    tl_b64(b64, sizeof b64, raw, 1025);
    r = tl_http(srv, "POST", "/assets", a.token,
                tl_pathf(body, sizeof body, "{\"alias\":\"s\",\"secret\":\"%s\"}", b64));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "secret");
    tl_resp_free(r);
    tl_b64(b64, sizeof b64, raw, 1024);
    tl_req_status(srv, "POST", "/assets", a.token,
                  tl_pathf(body, sizeof body, "{\"alias\":\"s\",\"secret\":\"%s\"}", b64), 201);
    tl_b64(b64, sizeof b64, raw, 1025);
    r = tl_http(srv, "PATCH", "/assets/s", a.token,
                tl_pathf(body, sizeof body, "{\"secret\":\"%s\"}", b64));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "secret");
    tl_resp_free(r);
    tl_req_status(srv, "POST", "/assets", a.token, "{\"alias\":\"s1\",\"secret\":\"AA==\"}", 201);

    /* groupId: 7..127 bytes. */
    r = tl_http(srv, "POST", "/assets", a.token,
                "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"123456\"}");
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "groupId");
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/assets", a.token,
                tl_pathf(body, sizeof body,
                         "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"%s\"}", g128));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "groupId");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets?groupId=123456", a.token, NULL);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "groupId");
    tl_resp_free(r);
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"1234567\"}", 201);
    tl_req_status(srv, "POST", "/assets", a.token,
                  tl_pathf(body, sizeof body,
                           "{\"alias\":\"g\",\"secret\":\"c2VjcmV0\",\"groupId\":\"%s\"}", g127),
                  201);
}

/* An alias path segment longer than any alias is still a malformed alias (400), not an
 * unknown route. */
static void test_400_very_long_alias_path(void **st)
{
    (void)st;
    static char big[3000], path[3100];
    tl_app a = tl_fresh_app(srv, "com.example.longpath", NULL);
    memset(big, 'a', 1100);
    big[1100] = 0;
    tl_resp *r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/assets/%s", big), a.token, NULL);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "alias");
    tl_resp_free(r);
    r = tl_http(srv, "DELETE", tl_pathf(path, sizeof path, "/assets/%s", big), a.token, NULL);
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "alias");
    tl_resp_free(r);
}

static void test_400_query_string(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.badq", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\"}"));
    struct {
        const char *method, *path, *field;
    } cases[] = {
        {"GET", "/assets?foo=1", "foo"},
        {"GET", "/assets?alias=x&alias=y", "alias"},
        {"GET", "/assets?alias=x&alias=x", "alias"},
        {"GET", "/assets?limit=2&limit=2", "limit"},
        {"GET", "/assets?requirePasswordSet=yes", "requirePasswordSet"},
        {"GET", "/assets?isPersistent=TRUE", "isPersistent"},
        {"GET", "/assets?requireAttrEncrypted=1", "requireAttrEncrypted"},
        {"GET", "/assets?accessibility=SOMETIMES", "accessibility"},
        {"GET", "/assets?authType=any", "authType"},
        {"GET", "/assets?wrapType=", "wrapType"},
        {"GET", "/assets?returnType=SOME", "returnType"},
        {"GET", "/assets?secret=c2VjcmV0", "secret"},
        {"GET", "/assets?conflictResolution=OVERWRITE", "conflictResolution"},
        {"GET", "/assets?authValidityPeriod=5", "authValidityPeriod"},
        {"GET", "/assets?updateTime=2026-01-01T00:00:00.000Z", "updateTime"},
        {"GET", "/assets?alias=", "alias"},
        {"GET", "/assets?alias=a%00b", "alias"},
        {"GET", "/assets?alias=%FF", "alias"},
        {"GET", "/assets?dataLabelNormal1=%C0%AF", "dataLabelNormal1"},
        {"GET", "/assets?groupId=abc", "groupId"},
        {"GET", "/assets/x?limit=1", "limit"},
        {"GET", "/assets/x?offset=0", "offset"},
        {"GET", "/assets/x?dataLabelNormal1=a", "dataLabelNormal1"},
        {"GET", "/assets/x?alias=x", "alias"},
        {"GET", "/assets/x?requireAttrEncrypted=maybe", "requireAttrEncrypted"},
        {"DELETE", "/assets/x?returnType=ALL", "returnType"},
        {"DELETE", "/assets/x?dataLabelNormal1=a", "dataLabelNormal1"},
        {"DELETE", "/assets?alias=x&limit=1", "limit"},
        {"DELETE", "/assets?alias=x&returnType=ALL", "returnType"},
        {"DELETE", "/assets?alias=x&orderBy=dataLabelNormal1", "orderBy"},
        {"DELETE", "/assets?alias=x&offset=0", "offset"},
        {"DELETE", "/assets?alias=x&cursor=AAAA", "cursor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_resp *r = tl_http(srv, cases[i].method, cases[i].path, a.token, NULL);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", cases[i].field);
        tl_resp_free(r);
    }
    /* Malformed percent escapes. */
    tl_req_problem(srv, "GET", "/assets?alias=%ZZ", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets?alias=%4", a.token, NULL, 400, "INVALID_ARGUMENT");
    /* Nothing was removed by the refused deletes. */
    tl_req_status(srv, "GET", "/assets/x", a.token, NULL, 200);
}

/* Input is validated before anything is looked up: malformed requests are 400 even where
 * nothing would match, or the caller may not use the group. */
static void test_validation_before_lookup(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.order", NULL);
    tl_req_problem(srv, "GET", "/assets?alias=nomatch&limit=0", a.token, NULL, 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets/nomatch?bogus=1", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "PATCH", "/assets/nomatch", a.token,
                   "{\"accessibility\":\"DEVICE_UNLOCKED\"}", 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "DELETE", "/assets?alias=nomatch&bogus=1", a.token, NULL, 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"x\",\"secret\":\"bad!\",\"groupId\":\"com.example.notmine\"}", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets?groupId=com.example.notmine&limit=0", a.token, NULL, 400,
                   "INVALID_ARGUMENT");
    /* The Kit's argument check comes before permissions: isPersistent with groupId by an app
     * that has neither the permission nor the group is 400 INVALID_ARGUMENT. */
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true,"
                   "\"groupId\":\"com.example.notmine\"}",
                   400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets?groupId=com.example.notmine&returnType=ALL", a.token, NULL,
                   400, "UNSUPPORTED");
}

static void test_400_delete_needs_a_filter(void **st)
{
    (void)st;
    char list[128];
    const char *const grp[] = {"com.example.dgrp", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.delall", grp, false);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"keep\",\"secret\":\"c2VjcmV0\"}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"keep-enc\",\"secret\":\"c2VjcmV0\",\"requireAttrEncrypted\":true}"));
    json_decref(tl_asset_add(
        srv, a.token,
        "{\"alias\":\"keep-grp\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.dgrp\"}"));
    const char *paths[] = {"/assets", "/assets?requireAttrEncrypted=true",
                           "/assets?requireAttrEncrypted=false", "/assets?groupId=com.example.dgrp",
                           "/assets?groupId=com.example.dgrp&requireAttrEncrypted=false"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        tl_req_problem(srv, "DELETE", paths[i], a.token, NULL, 400, "INVALID_ARGUMENT");
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "keep");
    assert_string_equal(tl_list(srv, a.token, "requireAttrEncrypted=true", list, sizeof list),
                        "keep-enc");
    assert_string_equal(tl_list(srv, a.token, "groupId=com.example.dgrp", list, sizeof list),
                        "keep-grp");
    /* Any real filter will do. */
    tl_req_status(srv, "DELETE", "/assets?isPersistent=false", a.token, NULL, 200);
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "404");
    assert_string_equal(tl_list(srv, a.token, "requireAttrEncrypted=true", list, sizeof list),
                        "keep-enc");
}

static void test_400_alias_path_escapes(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.esc", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"ab\",\"secret\":\"c2VjcmV0\"}"));
    const char *paths[] = {"/assets/a%00b", "/assets/%00",    "/assets/ab%00",
                           "/assets/%E9",   "/assets/%C0%AF", "/assets/%ED%A0%80"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        tl_resp *r = tl_http(srv, "GET", paths[i], a.token, NULL);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "alias");
        tl_resp_free(r);
        tl_req_problem(srv, "PATCH", paths[i], a.token, "{\"dataLabelNormal1\":\"x\"}", 400,
                       "INVALID_ARGUMENT");
        tl_req_problem(srv, "DELETE", paths[i], a.token, NULL, 400, "INVALID_ARGUMENT");
    }
    tl_req_problem(srv, "GET", "/assets/%ZZ", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets/ab%", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_status(srv, "GET", "/assets/ab", a.token, NULL, 200);
}

/* ---- 400 UNSUPPORTED ---- */

static void test_unsupported_combinations(void **st)
{
    (void)st;
    const char *const grp[] = {"com.example.ugrp", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.unsup", grp, true);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"l\"}"));
    struct {
        const char *method, *path, *body, *field;
    } cases[] = {
        {"GET", "/assets?returnType=ALL", NULL, "returnType"},
        {"GET", "/assets?returnType=ALL&dataLabelNormal1=l", NULL, "returnType"},
        {"GET", "/assets?returnType=ALL&limit=1", NULL, "returnType"},
        {"POST", "/assets",
         "{\"alias\":\"t\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.ugrp\",\"syncType\":"
         "[\"TRUSTED_ACCOUNT\"]}",
         "syncType"},
        {"POST", "/assets",
         "{\"alias\":\"t\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.ugrp\",\"syncType\":"
         "[\"THIS_DEVICE\",\"TRUSTED_ACCOUNT\"]}",
         "syncType"},
        {"POST", "/assets",
         "{\"alias\":\"w\",\"secret\":\"c2VjcmV0\",\"wrapType\":\"TRUSTED_ACCOUNT\",\"syncType\":"
         "[\"TRUSTED_ACCOUNT\"]}",
         "wrapType"},
        {"POST", "/assets",
         "{\"alias\":\"w\",\"secret\":\"c2VjcmV0\",\"wrapType\":\"TRUSTED_ACCOUNT\",\"syncType\":"
         "[\"TRUSTED_DEVICE\",\"TRUSTED_ACCOUNT\"]}",
         "wrapType"},
        {"GET", "/assets?orderBy=dataLabelNormal1&requireAttrEncrypted=true", NULL, "orderBy"},
        {"GET", "/assets?orderBy=dataLabelCritical1&requireAttrEncrypted=true&limit=5", NULL,
         "orderBy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_resp *r = tl_http(srv, cases[i].method, cases[i].path, a.token, cases[i].body);
        tl_expect_problem_field(r, 400, "UNSUPPORTED", cases[i].field);
        tl_resp_free(r);
    }
    /* isPersistent with groupId is the Kit's argument check: INVALID_ARGUMENT, not UNSUPPORTED. */
    tl_resp *ip = tl_http(srv, "POST", "/assets", a.token,
                          "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true,"
                          "\"groupId\":\"com.example.ugrp\"}");
    tl_expect_problem_field(ip, 400, "INVALID_ARGUMENT", "isPersistent");
    tl_resp_free(ip);
    /* Nothing was added; each part alone is fine. */
    char list[128];
    assert_string_equal(tl_list(srv, a.token, "", list, sizeof list), "x");
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true}", 201);
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"groupId\":\"com.example.ugrp\","
                  "\"syncType\":[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"]}",
                  201);
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"t\",\"secret\":\"c2VjcmV0\",\"syncType\":[\"TRUSTED_ACCOUNT\"]}",
                  201);
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"w\",\"secret\":\"c2VjcmV0\",\"wrapType\":\"TRUSTED_ACCOUNT\","
                  "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                  201);
    tl_req_status(srv, "GET", "/assets?orderBy=dataLabelNormal1", a.token, NULL, 200);
    tl_req_status(srv, "GET", "/assets?requireAttrEncrypted=true&limit=5", a.token, NULL, 404);
}

/* ---- 404 ---- */

static void test_404_not_found(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.nf", NULL);
    tl_req_problem(srv, "GET", "/assets", a.token, NULL, 404, "NOT_FOUND");
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"l\"}"));
    tl_req_problem(srv, "GET", "/assets/unknown", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/unknown?returnType=ALL", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "PATCH", "/assets/unknown", a.token, "{\"secret\":\"c2VjcmV0\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets/unknown", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?dataLabelNormal1=other", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?alias=x&dataLabelNormal1=other", a.token, NULL, 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?offset=1", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "DELETE", "/assets?dataLabelNormal1=other", a.token, NULL, 404,
                   "NOT_FOUND");
    /* Aliases are case-sensitive, exact. */
    tl_req_problem(srv, "GET", "/assets/X", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets/x%20", a.token, NULL, 404, "NOT_FOUND");
    tl_req_status(srv, "GET", "/assets/x", a.token, NULL, 200);
}

/* ---- 409 ---- */

static void test_409_conflicts(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.c409", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\"}"));
    tl_req_problem(srv, "POST", "/assets", a.token, "{\"alias\":\"x\",\"secret\":\"b3RoZXI=\"}",
                   409, "DUPLICATED");
    /* requirePasswordSet on a device without a lock-screen password. */
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"y\",\"secret\":\"c2VjcmV0\",\"requirePasswordSet\":true}", 409,
                   "STATUS_MISMATCH");
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\",\"requirePasswordSet\":true,"
                   "\"conflictResolution\":\"OVERWRITE\"}",
                   409, "STATUS_MISMATCH");
    char secret[64];
    assert_string_equal(tl_get_secret(srv, a.token, "x", NULL, secret, sizeof secret), "secret");
}

/* ---- no secret in any error ---- */

static void test_no_secret_in_errors(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.leak", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"x\",\"secret\":\"c2VjcmV0\"}"));
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    /* Malformed bodies whose secret text sits right where the JSON goes wrong. */
    const char *bodies[] = {
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\\u0000\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\\x\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\xff\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=",
        "{\"alias\":\"a\",\"secret\":ZGVtb19wd2Q=}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\" \"x\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\",\"secret\":\"ZGVtb19wd2Q=\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q\"}",
        "{\"alias\":\"a\",\"secret\":\"ZGVtb19wd2Q=\",\"colour\":1}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        const char *methods[][2] = {{"POST", "/assets"}, {"PATCH", "/assets/x"}};
        for (int m = 0; m < 2; m++) {
            tl_resp *r = tl_http_raw(srv, methods[m][0], methods[m][1], auth, bodies[i],
                                     strlen(bodies[i]), NULL);
            tl_expect_problem(r, 400, "INVALID_ARGUMENT");
            if (strstr(r->body, "ZGVtb") || strstr(r->body, "demo_pwd"))
                fail_msg("%s %s with body %s: the error shows the secret: %s", methods[m][0],
                         methods[m][1], bodies[i], r->body);
            tl_resp_free(r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_401_missing_or_bad_token),
        cmocka_unit_test(test_403_token_kind_not_allowed),
        cmocka_unit_test(test_403_group_and_permission),
        cmocka_unit_test(test_400_add_body),
        cmocka_unit_test(test_400_lengths),
        cmocka_unit_test(test_400_very_long_alias_path),
        cmocka_unit_test(test_400_query_string),
        cmocka_unit_test(test_validation_before_lookup),
        cmocka_unit_test(test_400_delete_needs_a_filter),
        cmocka_unit_test(test_400_alias_path_escapes),
        cmocka_unit_test(test_unsupported_combinations),
        cmocka_unit_test(test_404_not_found),
        cmocka_unit_test(test_409_conflicts),
        cmocka_unit_test(test_no_secret_in_errors),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
