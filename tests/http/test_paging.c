/* HTTP black-box tests of paging: limit, offset, keyset cursors and orderBy (spec §4 GET
 * /assets, openapi.yaml "Paging"). */
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

/* One page: the aliases joined by ',' into out; the next cursor (malloc'd) or NULL. */
static char *page(const tl_app *a, const char *query, const char *cursor, char *out, size_t n,
                  int *count)
{
    char enc[2048];
    tl_resp *r;
    if (cursor)
        r = tl_httpf(srv, "GET", a->token, NULL, "/assets?%s%scursor=%s", query, *query ? "&" : "",
                     tl_urlenc(enc, sizeof enc, cursor));
    else
        r = tl_httpf(srv, "GET", a->token, NULL, "/assets%s%s", *query ? "?" : "", query);
    tl_expect_status(r, 200);
    json_t *arr = json_object_get(r->json, "assets"), *v;
    json_t *next = json_object_get(r->json, "nextCursor");
    assert_true(json_is_null(next) || (json_is_string(next) && json_string_length(next) > 0));
    size_t i, len = 0;
    out[0] = 0;
    json_array_foreach(arr, i, v)
    {
        int w = snprintf(out + len, n - len, "%s%s", len ? "," : "", tl_jstr(v, "alias"));
        assert_true(w > 0 && (size_t)w < n - len);
        len += (size_t)w;
    }
    *count = (int)json_array_size(arr);
    char *c = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
    tl_resp_free(r);
    return c;
}

static void add_n(const tl_app *a, int n, const char *prefix)
{
    for (int i = 0; i < n; i++)
        json_decref(tl_asset_addf(srv, a->token,
                                  "{\"alias\":\"%s%02d\",\"secret\":\"c2VjcmV0\","
                                  "\"dataLabelNormal2\":\"all\"}",
                                  prefix, i));
}

/* limit + nextCursor walk every row exactly once, in insertion order. */
static void test_cursor_walk_insertion_order(void **st)
{
    (void)st;
    char got[256], all[2048] = "", want[2048] = "";
    tl_app a = tl_fresh_app(srv, "com.example.paging", NULL);
    /* Inserted in an order that is not alphabetical. */
    const char *names[] = {"m", "c", "x", "a", "q", "b", "z"};
    for (int i = 0; i < 7; i++) {
        json_decref(
            tl_asset_addf(srv, a.token, "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\"}", names[i]));
        strcat(want, i ? "," : "");
        strcat(want, names[i]);
    }
    for (int limit = 1; limit <= 8; limit++) {
        char q[64], *cursor = NULL;
        int count, pages = 0;
        all[0] = 0;
        snprintf(q, sizeof q, "limit=%d", limit);
        do {
            char *next = page(&a, q, cursor, got, sizeof got, &count);
            free(cursor);
            cursor = next;
            pages++;
            /* Every page but the last is full; no page is empty. */
            assert_true(count >= 1 && count <= limit);
            if (cursor)
                assert_int_equal(count, limit);
            strcat(all, all[0] ? "," : "");
            strcat(all, got);
        } while (cursor && pages < 20);
        assert_string_equal(all, want);
        assert_int_equal(pages, (7 + limit - 1) / limit);
    }
    /* The cursor stays valid when rows are added after the page it came from; new rows come
     * last (keyset, not offset). */
    char *cursor;
    int count;
    cursor = page(&a, "limit=3", NULL, got, sizeof got, &count);
    assert_string_equal(got, "m,c,x");
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"new\",\"secret\":\"c2VjcmV0\"}"));
    tl_req_status(srv, "DELETE", "/assets/m", a.token, NULL, 204);
    char *c2 = page(&a, "limit=3", cursor, got, sizeof got, &count);
    assert_string_equal(got, "a,q,b");
    free(cursor);
    cursor = page(&a, "limit=3", c2, got, sizeof got, &count);
    assert_string_equal(got, "z,new");
    assert_null(cursor);
    free(c2);
    /* The limit may change between pages. */
    cursor = page(&a, "limit=2", NULL, got, sizeof got, &count);
    assert_string_equal(got, "c,x");
    c2 = page(&a, "limit=100", cursor, got, sizeof got, &count);
    assert_string_equal(got, "a,q,b,z,new");
    assert_null(c2);
    free(cursor);
}

/* orderBy: ascending by the label's bytes, ties in insertion order, assets without the label
 * last (in insertion order); with cursors too. */
static void test_order_by_label(void **st)
{
    (void)st;
    tl_app a = tl_fresh_app(srv, "com.example.order", NULL);
    struct {
        const char *alias, *label; /* NULL: no label */
    } rows[] = {
        {"r1", "b"},  {"r2", NULL}, {"r3", "B"},  {"r4", "a"},    {"r5", "é"},  {"r6", "a"},
        {"r7", NULL}, {"r8", "Z"},  {"r9", "ab"}, {"r10", "a b"}, {"r11", "~"}, {"r12", "0"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].label)
            json_decref(tl_asset_addf(
                srv, a.token,
                "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"%s\","
                "\"dataLabelNormalLocal2\":\"x\"}",
                rows[i].alias, rows[i].label));
        else
            json_decref(tl_asset_addf(srv, a.token,
                                      "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\","
                                      "\"dataLabelNormalLocal2\":\"x\"}",
                                      rows[i].alias));
    }
    /* Bytes: "0" < "B" < "Z" < "a" = "a" < "a b" < "ab" < "b" < "~" < "é" (0xC3 0xA9). */
    const char *want = "r12,r3,r8,r4,r6,r10,r9,r1,r11,r5,r2,r7";
    char got[512], all[512];
    assert_string_equal(tl_list(srv, a.token, "orderBy=dataLabelNormal1", got, sizeof got), want);
    for (int limit = 1; limit <= 5; limit++) {
        char q[128], *cursor = NULL;
        int count, pages = 0;
        all[0] = 0;
        snprintf(q, sizeof q, "orderBy=dataLabelNormal1&limit=%d", limit);
        do {
            char *next = page(&a, q, cursor, got, sizeof got, &count);
            free(cursor);
            cursor = next;
            strcat(all, all[0] ? "," : "");
            strcat(all, got);
        } while (cursor && ++pages < 30);
        assert_string_equal(all, want);
    }
    /* With a filter, and ordering by another label (all equal: insertion order). */
    assert_string_equal(
        tl_list(srv, a.token, "orderBy=dataLabelNormal1&dataLabelNormal1=a", got, sizeof got),
        "r4,r6");
    assert_string_equal(
        tl_list(srv, a.token, "orderBy=dataLabelNormalLocal2&limit=5", got, sizeof got),
        "r1,r2,r3,r4,r5,r6,r7,r8,r9,r10,r11,r12");
    /* A label nobody has: insertion order. */
    assert_string_equal(
        tl_list(srv, a.token, "orderBy=dataLabelCritical4&limit=4", got, sizeof got),
        "r1,r2,r3,r4,r5,r6,r7,r8,r9,r10,r11,r12");
    /* offset with orderBy. */
    int count;
    char *c = page(&a, "orderBy=dataLabelNormal1&offset=9&limit=2", NULL, got, sizeof got, &count);
    assert_string_equal(got, "r5,r2");
    free(c);
    c = page(&a, "orderBy=dataLabelNormal1&offset=10", NULL, got, sizeof got, &count);
    assert_string_equal(got, "r2,r7");
    assert_null(c);
    /* Not an orderable name. */
    tl_req_problem(srv, "GET", "/assets?orderBy=alias", a.token, NULL, 400, "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets?orderBy=updateTime", a.token, NULL, 400,
                   "INVALID_ARGUMENT");
    tl_req_problem(srv, "GET", "/assets?orderBy=", a.token, NULL, 400, "INVALID_ARGUMENT");
}

static void test_offset_and_limit(void **st)
{
    (void)st;
    char got[1024];
    int count;
    tl_app a = tl_fresh_app(srv, "com.example.offset", NULL);
    add_n(&a, 5, "o");
    char *c = page(&a, "offset=2&limit=2", NULL, got, sizeof got, &count);
    assert_string_equal(got, "o02,o03");
    free(c);
    c = page(&a, "offset=4", NULL, got, sizeof got, &count);
    assert_string_equal(got, "o04");
    assert_null(c);
    c = page(&a, "offset=0&limit=5", NULL, got, sizeof got, &count);
    assert_string_equal(got, "o00,o01,o02,o03,o04");
    assert_null(c);
    c = page(&a, "limit=4", NULL, got, sizeof got, &count);
    assert_non_null(c);
    free(c);
    /* Past the end: 404. */
    tl_req_problem(srv, "GET", "/assets?offset=5", a.token, NULL, 404, "NOT_FOUND");
    tl_req_problem(srv, "GET", "/assets?offset=2147483647", a.token, NULL, 404, "NOT_FOUND");
    /* Bounds. */
    const char *bad[] = {
        "limit=0",   "limit=1001", "limit=-1", "limit=abc",         "limit=",
        "limit=1.5", "offset=-1",  "offset=x", "offset=2147483648", "limit=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_resp *r = tl_httpf(srv, "GET", a.token, NULL, "/assets?%s", bad[i]);
        char field[16];
        snprintf(field, sizeof field, "%.*s", (int)strcspn(bad[i], "="), bad[i]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", field);
        tl_resp_free(r);
    }
    c = page(&a, "limit=1000", NULL, got, sizeof got, &count);
    assert_int_equal(count, 5);
    assert_null(c);
    c = page(&a, "limit=1", NULL, got, sizeof got, &count);
    assert_int_equal(count, 1);
    free(c);
}

/* The default page size is 100. */
static void test_default_limit(void **st)
{
    (void)st;
    char got[4096];
    int count;
    tl_app a = tl_fresh_app(srv, "com.example.many", NULL);
    for (int i = 0; i < 101; i++)
        json_decref(
            tl_asset_addf(srv, a.token, "{\"alias\":\"n%03d\",\"secret\":\"c2VjcmV0\"}", i));
    char *c = page(&a, "", NULL, got, sizeof got, &count);
    assert_int_equal(count, 100);
    assert_non_null(c);
    assert_int_equal(strncmp(got, "n000,n001,", 10), 0);
    char *c2 = page(&a, "", c, got, sizeof got, &count);
    assert_int_equal(count, 1);
    assert_string_equal(got, "n100");
    assert_null(c2);
    free(c);
}

/* Cursors: not with offset, not tampered, not another app's, not for another query. */
static void test_cursor_errors(void **st)
{
    (void)st;
    char got[256];
    int count;
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.cur", &d);
    tl_app b = tl_app_install(srv, d.id, "com.example.other", NULL, false);
    add_n(&a, 4, "c");
    add_n(&b, 4, "c");
    char *cur = page(&a, "limit=2", NULL, got, sizeof got, &count);
    assert_non_null(cur);
    char enc[2048];
    tl_urlenc(enc, sizeof enc, cur);

    /* The genuine one works, also with another limit. */
    tl_req_status(srv, "GET", tl_pathf(got, sizeof got, "/assets?limit=2&cursor=%s", enc), a.token,
                  NULL, 200);
    tl_req_status(srv, "GET", tl_pathf(got, sizeof got, "/assets?cursor=%s", enc), a.token, NULL,
                  200);
    char path[2300];
    /* With offset. */
    tl_resp *r = tl_httpf(srv, "GET", a.token, NULL, "/assets?limit=2&offset=0&cursor=%s", enc);
    tl_expect_problem_field(r, 400, "PARAM_VERIFICATION_FAILED", "cursor");
    tl_resp_free(r);
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/assets?offset=1&cursor=%s", enc),
                   a.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    /* Another app on the same device, same query. */
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/assets?limit=2&cursor=%s", enc),
                   b.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    /* Another query (other filters, returnType, orderBy, selector). */
    const char *other[] = {"dataLabelNormal2=all", "orderBy=dataLabelNormal2",
                           "returnType=ATTRIBUTES&alias=c00", "requireAttrEncrypted=true",
                           "syncType=THIS_DEVICE"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        tl_req_problem(srv, "GET",
                       tl_pathf(path, sizeof path, "/assets?%s&cursor=%s", other[i], enc), a.token,
                       NULL, 400, "PARAM_VERIFICATION_FAILED");
    /* Tampered: every character changed in turn must be refused (or decode to the same bytes,
     * which cannot happen for a change of the alphabet position). */
    size_t len = strlen(cur);
    for (size_t i = 0; i < len; i++) {
        char t[1024];
        snprintf(t, sizeof t, "%s", cur);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        tl_urlenc(enc, sizeof enc, t);
        r = tl_httpf(srv, "GET", a.token, NULL, "/assets?limit=2&cursor=%s", enc);
        if (r->status != 400)
            fail_msg("a cursor with character %zu changed was accepted (%ld)", i, r->status);
        tl_expect_problem(r, 400, "PARAM_VERIFICATION_FAILED");
        tl_resp_free(r);
    }
    /* Truncated, extended, garbage. */
    char t[1024];
    snprintf(t, sizeof t, "%.*s", (int)(len - 1), cur);
    tl_req_problem(srv, "GET",
                   tl_pathf(path, sizeof path, "/assets?cursor=%s", tl_urlenc(enc, sizeof enc, t)),
                   a.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    snprintf(t, sizeof t, "%sAA", cur);
    tl_req_problem(srv, "GET",
                   tl_pathf(path, sizeof path, "/assets?cursor=%s", tl_urlenc(enc, sizeof enc, t)),
                   a.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    tl_req_problem(srv, "GET", "/assets?cursor=AAAA", a.token, NULL, 400,
                   "PARAM_VERIFICATION_FAILED");
    tl_req_problem(srv, "GET", "/assets?cursor=!!!!", a.token, NULL, 400,
                   "PARAM_VERIFICATION_FAILED");
    free(cur);
    /* A cursor from the other app's own listing works for it only. */
    cur = page(&b, "limit=1", NULL, got, sizeof got, &count);
    tl_urlenc(enc, sizeof enc, cur);
    tl_req_status(srv, "GET", tl_pathf(path, sizeof path, "/assets?limit=1&cursor=%s", enc),
                  b.token, NULL, 200);
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/assets?limit=1&cursor=%s", enc),
                   a.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    /* The same app id on another device. */
    tl_app a2 = tl_fresh_app(srv, "com.example.other", NULL);
    add_n(&a2, 2, "c");
    tl_req_problem(srv, "GET", tl_pathf(path, sizeof path, "/assets?limit=1&cursor=%s", enc),
                   a2.token, NULL, 400, "PARAM_VERIFICATION_FAILED");
    free(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_walk_insertion_order),
        cmocka_unit_test(test_order_by_label),
        cmocka_unit_test(test_offset_and_limit),
        cmocka_unit_test(test_default_limit),
        cmocka_unit_test(test_cursor_errors),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
