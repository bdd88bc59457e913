/* Self-test of tests/lib (testlib): encoders, the HTTP client's captured headers and bodies,
 * child process management and the DB helper, so the other suites can rely on them. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

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

static void test_encoders(void **st)
{
    (void)st;
    char buf[256], raw[64];
    assert_string_equal(tl_urlenc(buf, sizeof buf, "a b+c/d%é~_.-Z9"),
                        "a%20b%2Bc%2Fd%25%C3%A9~_.-Z9");
    assert_string_equal(tl_urlencn(buf, sizeof buf, "a\0b", 3), "a%00b");
    assert_string_equal(tl_b64(buf, sizeof buf, "demo_pwd", 8), "ZGVtb19wd2Q=");
    assert_string_equal(tl_b64(buf, sizeof buf, "", 0), "");
    assert_int_equal(tl_b64_decode(raw, sizeof raw, "ZGVtb19wd2Q="), 8);
    assert_memory_equal(raw, "demo_pwd", 8);
    assert_int_equal(tl_b64_decode(raw, sizeof raw, "ZGVtb19wd2Q"), -1);
    assert_int_equal(tl_b64_decode(raw, sizeof raw, "!!!!"), -1);
    assert_int_equal(tl_b64_decode(raw, 4, "ZGVtb19wd2Q="), -1); /* does not fit */
    assert_string_equal(tl_pathf(buf, sizeof buf, "/x/%s/%d", "y", 7), "/x/y/7");
    char a[64], b[64];
    tl_unique(a, sizeof a, "p");
    tl_unique(b, sizeof b, "p");
    assert_int_equal(strlen(a), 18);
    assert_int_equal(strncmp(a, "p-", 2), 0);
    assert_string_not_equal(a, b);
    tl_random_token(a);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(tl_error_code("NOT_FOUND"), 24000002);
    assert_int_equal(tl_error_code("PERMISSION_DENIED"), 201);
    assert_int_equal(tl_error_code("nope"), -1);
}

static void test_http_client(void **st)
{
    (void)st;
    tl_resp *r = tl_http(srv, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
    assert_string_equal(tl_jstr(r->json, "status"), "ok");
    assert_int_equal(r->body_len, strlen(r->body));
    assert_true(r->request_id[0]);
    char v[128];
    assert_true(tl_resp_header(r, "x-request-id", v, sizeof v));
    assert_string_equal(v, r->request_id);
    assert_false(tl_resp_header(r, "X-No-Such-Header", v, sizeof v));
    assert_string_equal(r->request, "GET /healthz");
    tl_resp_free(r);
    /* 401 carries WWW-Authenticate; the problem checks pass on it. */
    r = tl_http(srv, "GET", "/assets", NULL, NULL);
    tl_expect_problem(r, 401, "PERMISSION_DENIED");
    assert_int_equal(strncmp(r->www_authenticate, "Bearer", 6), 0);
    tl_resp_free(r);
    /* Transport errors are status 0 with a message. */
    tl_server dead = *srv;
    snprintf(dead.base_url, sizeof dead.base_url, "http://127.0.0.1:1");
    r = tl_http(&dead, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r->status, 0);
    assert_true(r->error[0]);
    assert_null(r->json);
    tl_resp_free(r);
    /* Convenience helpers. */
    tl_device d;
    tl_app app = tl_fresh_app(srv, "com.example.self", &d);
    json_t *j =
        tl_asset_addf(srv, app.token, "{\"alias\":\"%s\",\"secret\":\"%s\"}", "x", "ZGVtb19wd2Q=");
    assert_string_equal(tl_jstr(j, "alias"), "x");
    assert_true(tl_jbool(j, "isPersistent") == false);
    assert_int_equal(tl_jint(j, "nope"), -1);
    json_decref(j);
    json_decref(tl_asset_add(srv, app.token, "{\"alias\":\"y\",\"secret\":\"c2VjcmV0\"}"));
    char list[64], secret[64];
    assert_string_equal(tl_list(srv, app.token, "", list, sizeof list), "x,y");
    assert_string_equal(tl_list(srv, app.token, "limit=1", list, sizeof list), "x,y");
    assert_string_equal(tl_list(srv, app.token, "alias=z", list, sizeof list), "404");
    assert_string_equal(tl_get_secret(srv, app.token, "x", NULL, secret, sizeof secret),
                        "demo_pwd");
    tl_device_set_state(srv, d.id, true, false, true);
    r = tl_httpf(srv, "GET", d.token, NULL, "/devices/%s", d.id);
    tl_expect_status(r, 200);
    assert_true(tl_jbool(json_object_get(r->json, "state"), "lockScreenPasswordSet"));
    tl_resp_free(r);
}

static void test_processes_and_db(void **st)
{
    (void)st;
    /* A worker runs with the server's environment until stopped; kill -9 reports 137. */
    tl_proc *w = tl_worker_start(srv, NULL);
    usleep(300 * 1000);
    assert_true(tl_proc_running(w));
    assert_int_equal(tl_proc_stop(w), 0);
    w = tl_worker_start(srv, NULL);
    usleep(100 * 1000);
    assert_int_equal(tl_proc_kill9(w), 128 + SIGKILL);
    /* A tool run to completion, its output captured. */
    char *out = NULL;
    static const char *const version[] = {"version", NULL};
    assert_int_equal(tl_assetd_run(srv, version, NULL, 30000, &out), 0);
    assert_non_null(strstr(out, "assetd"));
    free(out);
    static const char *const bogus[] = {"no-such-command", NULL};
    assert_int_not_equal(tl_assetd_run(NULL, bogus, NULL, 30000, NULL), 0);
    /* A second server on the same database, with a chosen admin token. */
    static const char *const env[] = {"ASSETD_ADMIN_TOKEN=0123456789abcdef0123456789", NULL};
    tl_server *s2 = tl_server_start(env);
    assert_string_equal(s2->admin_token, "0123456789abcdef0123456789");
    assert_int_not_equal(s2->port, srv->port);
    tl_device d = tl_device_create(s2, "second", NULL);
    /* Both servers share the database: the first one sees the device. */
    tl_resp *r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/devices/%s", d.id);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "name"), "second");
    tl_resp_free(r);
    assert_int_equal(tl_server_stop(s2), 0);
    /* The DB helper. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM devices WHERE id = $1", d.id, NULL), 1);
    assert_int_equal(tl_db_count("SELECT $1::int + $2::int", "40", "2", NULL), 42);
    char *dump = tl_db_dump("SELECT 'a', NULL, 3 UNION ALL SELECT 'b', 'c', 4", NULL);
    assert_string_equal(dump, "a\t\\N\t3\nb\tc\t4\n");
    free(dump);
    PGresult *res = tl_db_exec("SELECT name FROM devices WHERE id = $1", d.id, NULL);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "second");
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_http_client),
        cmocka_unit_test(test_processes_and_db),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
