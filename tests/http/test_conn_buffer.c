/* HTTP black-box tests of what the connection's buffer (libmicrohttpd's per-connection memory
 * pool, 16 KiB: api/server.c) must still take: a query with two label filters at their
 * 2,048-byte maximum, every byte percent-encoded (12 KiB of URL), and bodies up to the
 * documented limits (the pool holds only the request line and headers; bodies stream to
 * assetd's own buffer). */
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

/* n bytes of label: "é" (2 bytes) repeated, so every byte is percent-encoded in a URL. */
static void label_of(char *out, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        memcpy(out + i, "\xc3\xa9", 2);
    out[n] = 0;
}

static void test_two_longest_label_filters(void **st)
{
    (void)st;
    static char l1[2049], l2[2049], e1[8 * 2048], e2[8 * 2048], body[8192], url[40000];
    tl_app a = tl_fresh_app(srv, "com.example.buffer", NULL);
    label_of(l1, 2048);
    label_of(l2, 2048);
    l2[2047] = 'x'; /* a second, different value */
    l2[2046] = 'y';
    snprintf(body, sizeof body,
             "{\"alias\":\"long-labels\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"%s\","
             "\"dataLabelNormal2\":\"%s\"}",
             l1, l2);
    tl_req_status(srv, "POST", "/assets", a.token, body, 201);
    tl_urlenc(e1, sizeof e1, l1);
    tl_urlenc(e2, sizeof e2, l2);
    assert_true(strlen(e1) >= 6000 && strlen(e2) >= 6000);
    snprintf(url, sizeof url, "/assets?dataLabelNormal1=%s&dataLabelNormal2=%s", e1, e2);
    assert_true(strlen(url) > 12000);
    tl_resp *r = tl_http(srv, "GET", url, a.token, NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\"alias\":\"long-labels\""));
    tl_resp_free(r);
}

/* A body of exactly `size` bytes: a valid add padded with spaces after the object. */
static char *add_body(size_t size, const char *alias)
{
    char *b = malloc(size + 1);
    assert_non_null(b);
    int n = snprintf(b, size + 1, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", alias);
    assert_true(n > 0 && (size_t)n <= size);
    memset(b + n, ' ', size - (size_t)n);
    b[size] = 0;
    return b;
}

static void test_body_at_default_limit(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.bodies", NULL);
    char *b = add_body(65536, "at-limit"); /* ASSETD_BODY_LIMIT's default, 64 KiB */
    tl_req_status(srv, "POST", "/assets", a.token, b, 201);
    free(b);
    b = add_body(65537, "over-limit");
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token, b);
    assert_int_equal(r->status, 413);
    tl_resp_free(r);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_longest_label_filters),
        cmocka_unit_test(test_body_at_default_limit),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
