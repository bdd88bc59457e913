/* GET /openapi.yaml: public (no token needed, a token is not refused either), served as
 * application/yaml with an X-Request-Id, and byte for byte the repository's openapi.yaml that
 * the binary was built from. */
#include <stdio.h>
#include <stdlib.h>
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

/* <repo>/openapi.yaml, the repository found from ASSETD_MIGRATIONS_DIR (<repo>/migrations). */
static char *read_repo_contract(size_t *len)
{
    const char *mig = getenv("ASSETD_MIGRATIONS_DIR");
    char path[1024] = "openapi.yaml";
    if (mig && strlen(mig) > 11 && strcmp(mig + strlen(mig) - 11, "/migrations") == 0)
        snprintf(path, sizeof path, "%.*s/openapi.yaml", (int)(strlen(mig) - 11), mig);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 22);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 22, f);
    fclose(f);
    assert_true(*len > 1000 && *len < (1 << 22));
    return buf;
}

static void test_served_contract_is_the_repo_file(void **st)
{
    (void)st;
    size_t len = 0;
    char *want = read_repo_contract(&len);
    tl_resp *r = tl_http(srv, "GET", "/openapi.yaml", NULL, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(r->content_type, "application/yaml");
    assert_true(r->request_id[0] != 0);
    if (r->body_len != len || memcmp(r->body, want, len) != 0)
        fail_msg("GET /openapi.yaml served %zu bytes that differ from the repository's "
                 "openapi.yaml (%zu bytes): rebuild, or the embedding is broken",
                 r->body_len, len);
    assert_non_null(strstr(r->body, "operationId: getOpenApi"));
    tl_resp_free(r);
    free(want);
}

static void test_token_not_needed_nor_refused(void **st)
{
    (void)st;
    tl_device d = tl_device_create(srv, NULL, NULL);
    tl_resp *r = tl_http(srv, "GET", "/openapi.yaml", d.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(r->content_type, "application/yaml");
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/openapi.yaml", srv->admin_token, NULL);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    /* Only the exact path is the document. */
    r = tl_http(srv, "GET", "/openapi.json", NULL, NULL);
    tl_expect_problem(r, 404, "NOT_FOUND");
    tl_resp_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_contract_is_the_repo_file),
        cmocka_unit_test(test_token_not_needed_nor_refused),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
