/* Secrets in memory (issue 6.9): the serving process disables core dumps at start, so a crash
 * never writes keys or secrets to disk; and it still serves secrets with its key pages locked
 * away between requests (every request opens and closes its thread's page). */
#include <stdio.h>
#include <string.h>

#include "../../lib/testlib.h"

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

/* "Max core file size  0  0  bytes" in /proc/<pid>/limits. */
static void test_core_dumps_disabled(void **st)
{
    char path[64], line[256];
    bool seen = false;
    (void)st;
    snprintf(path, sizeof path, "/proc/%d/limits", (int)srv->proc->pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        unsigned long soft = 1, hard = 1;
        if (strncmp(line, "Max core file size", 18) == 0 &&
            sscanf(line + 18, "%lu %lu", &soft, &hard) == 2) {
            assert_int_equal(soft, 0);
            assert_int_equal(hard, 0);
            seen = true;
        }
    }
    fclose(f);
    assert_true(seen);
}

/* Many requests on the request workers' key pages, secrets and errors interleaved: each must
 * see its own principal (a page left readable or stale would leak one caller's device key or
 * identity into the next request). */
static void test_key_pages_per_request(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.keypage.a", NULL);
    tl_app b = tl_fresh_app(srv, "com.example.keypage.b", NULL);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"k\",\"secret\":\"YWFh\"}"));
    json_decref(tl_asset_add(srv, b.token, "{\"alias\":\"k\",\"secret\":\"YmJi\"}"));
    for (int i = 0; i < 40; i++) {
        char got[16];
        tl_get_secret(srv, i % 2 ? a.token : b.token, "k", NULL, got, sizeof got);
        assert_string_equal(got, i % 2 ? "aaa" : "bbb");
        tl_req_problem(srv, "GET", "/assets/k", "not-a-token", NULL, 401, "PERMISSION_DENIED");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_dumps_disabled),
        cmocka_unit_test(test_key_pages_per_request),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
