/* HTTP black-box tests of the single-operation rules that came with the Asset Store Kit's API 26
 * (with the batch operations of test_batch.c): PATCH's extra match conditions (spec §4),
 * post-query with groupId (§4), isPersistent with groupId as the Kit's argument check (§3). */
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

/* §4: PATCH takes the asset's other query filters as extra match conditions. */
static void test_patch_match_conditions(void **st)
{
    (void)st;
    char secret[64];
    tl_app a = tl_fresh_app(srv, "com.example.pmatch", NULL);
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"m\",\"secret\":\"b2xk\",\"dataLabelNormal1\":\"x\","
                             "\"dataLabelCritical1\":\"c\",\"syncType\":[\"THIS_DEVICE\","
                             "\"TRUSTED_DEVICE\"]}"));
    const char *miss[] = {"dataLabelNormal1=y",
                          "dataLabelCritical1=d",
                          "accessibility=DEVICE_UNLOCKED",
                          "requirePasswordSet=true",
                          "authType=ANY",
                          "syncType=TRUSTED_ACCOUNT",
                          "isPersistent=true",
                          "wrapType=TRUSTED_ACCOUNT",
                          "dataLabelNormal2=x"};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        tl_resp *r =
            tl_httpf(srv, "PATCH", a.token, "{\"secret\":\"bmV3\"}", "/assets/m?%s", miss[i]);
        tl_expect_problem(r, 404, "NOT_FOUND");
        tl_resp_free(r);
    }
    assert_string_equal(tl_get_secret(srv, a.token, "m", NULL, secret, sizeof secret), "old");
    tl_req_problem(srv, "PATCH", "/assets/m?syncType=", a.token, "{\"secret\":\"bmV3\"}", 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "PATCH", "/assets/m?accessibility=SOMETIMES", a.token,
                   "{\"secret\":\"bmV3\"}", 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "PATCH", "/assets/m?alias=m", a.token, "{\"secret\":\"bmV3\"}", 400,
                   "INVALID_ARGUMENT");
    tl_req_status(srv, "PATCH",
                  "/assets/m?dataLabelNormal1=x&dataLabelCritical1=c&syncType=TRUSTED_DEVICE&"
                  "accessibility=DEVICE_FIRST_UNLOCKED&requirePasswordSet=false&authType=NONE&"
                  "isPersistent=false&wrapType=NEVER",
                  a.token, "{\"secret\":\"bmV3\"}", 200);
    assert_string_equal(tl_get_secret(srv, a.token, "m", NULL, secret, sizeof secret), "new");
}

/* §4: post-query accepts groupId; the app must belong to it. */
static void test_post_query_group(void **st)
{
    (void)st;
    const char *const grp[] = {"com.example.pqgroup", NULL};
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.pq", grp, false);
    const char *ch = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    tl_resp *r = tl_http_json(
        srv, "POST", "/assets/post-query", a.token,
        json_pack("{s:s, s:s}", "authChallenge", ch, "groupId", "com.example.notmine"));
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    r = tl_http_json(
        srv, "POST", "/assets/post-query", a.token,
        json_pack("{s:s, s:s}", "authChallenge", ch, "groupId", "com.example.pqgroup"));
    tl_expect_status(r, 204);
    tl_resp_free(r);
    r = tl_http_json(srv, "POST", "/assets/post-query", a.token,
                     json_pack("{s:s, s:s}", "authChallenge", ch, "groupId", "short"));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "groupId");
    tl_resp_free(r);
}

/* §3: isPersistent true with groupId is the Kit's argument check: 400 INVALID_ARGUMENT (401),
 * even for an app with neither the permission nor the group. */
static void test_persistent_with_group(void **st)
{
    (void)st;
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.pgrp", &d);
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token,
                         "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true,"
                         "\"groupId\":\"com.example.notmine\"}");
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "isPersistent");
    assert_int_equal(tl_jint(r->json, "code"), 401);
    tl_resp_free(r);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_match_conditions),
        cmocka_unit_test(test_post_query_group),
        cmocka_unit_test(test_persistent_with_group),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
