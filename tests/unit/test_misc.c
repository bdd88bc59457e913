/* test_misc: the small building blocks — the request arena, bytea decoding, percent-decoding
 * of query strings, UUID text, the UTF-8 check used for every text field, and the error codes
 * and names of spec §5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/http.h"
#include "../../service/arena.h"
#include "../../service/asset_req.h"
#include "../../service/config.h"
#include "../../service/store/db.h"
#include "../../service/err.h"
#include "../../service/svc.h"

/* ---- arena ---- */

static void test_arena_alloc_zeroed_aligned(void **state)
{
    (void)state;
    arena a = {0};
    const size_t sizes[] = {1, 7, 16, 17, 100, 4096, 8192, 8193, 100000, 3};
    unsigned char *ptrs[10];
    for (size_t i = 0; i < 10; i++) {
        unsigned char *p = arena_alloc(&a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (size_t k = 0; k < sizes[i]; k++)
            if (p[k] != 0)
                fail_msg("arena memory not zeroed at %zu of %zu", k, sizes[i]);
        memset(p, (int)i + 1, sizes[i]); /* ASan: every byte is really ours */
        ptrs[i] = p;
    }
    /* allocations do not overlap: each still holds its own pattern */
    for (size_t i = 0; i < 10; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (ptrs[i][k] != (unsigned char)(i + 1))
                fail_msg("allocation %zu overwritten at %zu", i, k);
    arena_free(&a);
    assert_null(a.head);
    /* reusable after free */
    char *s = arena_alloc(&a, 10);
    assert_non_null(s);
    arena_free(&a);
    arena_free(&a); /* twice is fine */
    arena_free(NULL);
}

static void test_arena_many_small(void **state)
{
    (void)state;
    arena a = {0};
    /* enough to need many chunks */
    for (int i = 0; i < 5000; i++) {
        int *p = arena_alloc(&a, sizeof(int) * 3);
        assert_non_null(p);
        p[0] = i;
        p[2] = -i;
    }
    arena_free(&a);
}

static void test_arena_strndup(void **state)
{
    (void)state;
    arena a = {0};
    char *s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *e = arena_strndup(&a, "xyz", 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    char *n = arena_strndup(&a, "a\0b", 3); /* embedded NUL copied, still terminated */
    assert_memory_equal(n, "a\0b\0", 4);
    arena_free(&a);
}

static void test_arena_overflow_refused(void **state)
{
    (void)state;
    arena a = {0};
    /* "NULL when out of memory": a size that cannot be represented after rounding must be
     * refused, not turned into a tiny allocation. */
    void *p = arena_alloc(&a, SIZE_MAX);
    if (p != NULL) {
        arena_free(&a);
        fail_msg("arena_alloc(SIZE_MAX) returned memory: the size rounding overflowed");
    }
    p = arena_alloc(&a, SIZE_MAX - 7);
    if (p != NULL) {
        arena_free(&a);
        fail_msg("arena_alloc(SIZE_MAX - 7) returned memory: the size rounding overflowed");
    }
    arena_free(&a);
}

static void test_arena_reset_reuses_newest_chunk_zeroed(void **state)
{
    (void)state;
    arena a = {0};
    arena_reset(&a); /* empty: nothing to do */
    arena_reset(NULL);
    /* Rounds of the sync worker: two allocations, then a reset. The chunks grow over the first
     * rounds until one holds a round; from then on the same memory comes back each round,
     * zeroed (a secret written in one round is not readable in the next). */
    unsigned char *steady = NULL;
    for (int round = 0; round < 8; round++) {
        unsigned char *p = arena_alloc(&a, 1040), *q = arena_alloc(&a, 1072);
        assert_non_null(p);
        assert_non_null(q);
        for (size_t k = 0; k < 1040; k++)
            if (p[k] != 0 || (k < 1072 && q[k] != 0))
                fail_msg("round %d: memory not zeroed after reset at %zu", round, k);
        memset(p, 0xab, 1040);
        memset(q, 0xcd, 1072);
        if (round == 4)
            steady = p;
        else if (round > 4 && p != steady)
            fail_msg("round %d: the arena did not reuse its chunk after a reset", round);
        arena_reset(&a);
        assert_non_null(a.head);
    }
    /* A large allocation after a reset still works, then everything is freed. */
    assert_non_null(arena_alloc(&a, 100000));
    arena_free(&a);
    assert_null(a.head);
}

/* ---- db_bytea_decode ---- */

static void test_bytea_decode(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t n = 99;
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "\\x", 2), 0);
    assert_int_equal(n, 0);
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "\\x00ff7Fa0", 10), 0);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0x00);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0x7f);
    assert_int_equal(out[3], 0xa0);
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "\\xDEADBEEF", 10), 0);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0xde);
    assert_int_equal(out[3], 0xef);
    /* exactly the capacity */
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "\\x0102030405060708", 18), 0);
    assert_int_equal(n, 8);
    assert_int_equal(out[7], 8);
    /* malformed */
    const char *bad[] = {"",
                         "\\",
                         "x00",
                         "\\X00",
                         "\\x0",
                         "\\x000",
                         "\\x0g",
                         "\\xg0",
                         "\\x 0",
                         "00ff",
                         "\\\\x00",
                         "\\x-1",
                         "\\x0102030405060708ff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (db_bytea_decode(out, sizeof out, &n, bad[i], strlen(bad[i])) != -1)
            fail_msg("bytea \"%s\" accepted", bad[i]);
    /* the escape format is not accepted */
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "abc\\000", 7), -1);
    /* the length given is honoured, not strlen */
    assert_int_equal(db_bytea_decode(out, sizeof out, &n, "\\x0102zz", 6), 0);
    assert_int_equal(n, 2);
}

/* ---- http_pct_decode ---- */

static void test_pct_decode(void **state)
{
    (void)state;
    arena a = {0};
    const char *out = NULL;
    size_t n = 0;
    struct {
        const char *in;
        bool plus;
        const char *want;
        size_t want_n;
    } ok[] = {
        {"abc", true, "abc", 3},         {"", true, "", 0},
        {"a%20b", true, "a b", 3},       {"a+b", true, "a b", 3},
        {"a+b", false, "a+b", 3},        {"%2B", true, "+", 1},
        {"%2b%2F", false, "+/", 2},      {"%41%42%43", true, "ABC", 3},
        {"%C3%A9", true, "\xc3\xa9", 2}, {"%00", true, "\0", 1},
        {"x%00y", false, "x\0y", 3},     {"%25", true, "%", 1},
        {"%2525", true, "%25", 3},       {"100%ff", true, "100\xff", 4},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (http_pct_decode(&a, ok[i].in, strlen(ok[i].in), ok[i].plus, &out, &n) != 0)
            fail_msg("\"%s\" refused", ok[i].in);
        assert_int_equal(n, ok[i].want_n);
        assert_memory_equal(out, ok[i].want, n);
        assert_int_equal(out[n], 0); /* NUL-terminated */
    }
    const char *bad[] = {"%", "%2", "a%", "a%2", "%zz", "%g0", "%0g", "% 20", "%%20", "%-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_pct_decode(&a, bad[i], strlen(bad[i]), true, &out, &n) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    /* the length given is honoured */
    assert_int_equal(http_pct_decode(&a, "ab%41", 2, true, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out, "ab");
    assert_int_equal(http_pct_decode(&a, "ab%4", 4, true, &out, &n), -1);
    arena_free(&a);
}

/* ---- secure allocator ---- */

static void test_secure_alloc(void **state)
{
    (void)state;
    char *p = http_secure_malloc(100);
    assert_non_null(p);
    memset(p, 'x', 100);
    http_secure_free(p);
    http_secure_free(NULL);
    assert_null(http_secure_malloc(SIZE_MAX));
    p = http_secure_malloc(0);
    assert_non_null(p);
    http_secure_free(p);
}

/* ---- UUIDs ---- */

static void test_uuid_valid(void **state)
{
    (void)state;
    const char *good[] = {
        "00000000-0000-0000-0000-000000000000", "123e4567-e89b-12d3-a456-426614174000",
        "ABCDEF01-2345-6789-ABCD-EF0123456789", "abcdef01-2345-6789-abcd-ef0123456789"};
    const char *bad[] = {"",
                         "123e4567-e89b-12d3-a456-42661417400",   /* 35 */
                         "123e4567-e89b-12d3-a456-4266141740000", /* 37 */
                         "123e4567e89b-12d3-a456-4266141740000",  /* dash missing */
                         "123e4567-e89b-12d3-a456_426614174000",  /* wrong separator */
                         "123e4567-e89b-12d3-a4566-26614174000",  /* dash moved */
                         "g23e4567-e89b-12d3-a456-426614174000",  /* not hex */
                         "123e4567-e89b-12d3-a456-42661417400 ",  /* space */
                         "{23e4567-e89b-12d3-a456-426614174000",
                         "123e4567-e89b-12d3-a456-42661417400\n",
                         "------------------------------------"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(uuid_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (uuid_valid(bad[i], strlen(bad[i])))
            fail_msg("\"%s\" taken for a UUID", bad[i]);
    /* an embedded NUL in the right length */
    char withnul[37];
    memcpy(withnul, good[1], 36);
    withnul[3] = 0;
    assert_false(uuid_valid(withnul, 36));
    /* the length given is honoured */
    assert_false(uuid_valid(good[1], 35));
}

static void test_uuid_new(void **state)
{
    (void)state;
    char a[UUID_TEXT_LEN], b[UUID_TEXT_LEN];
    uuid_new(a);
    uuid_new(b);
    assert_int_equal(strlen(a), 36);
    assert_true(uuid_valid(a, 36));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
    for (int i = 0; i < 36; i++)
        assert_false(a[i] >= 'A' && a[i] <= 'F'); /* lowercase */
}

/* ---- UTF-8 ---- */

static void test_utf8(void **state)
{
    (void)state;
    struct {
        const char *p;
        size_t n;
        bool ok;
        const char *what;
    } cases[] = {
        {"", 0, true, "empty"},
        {"plain ascii", 11, true, "ascii"},
        {"\x7f", 1, true, "DEL"},
        {"\xc2\x80", 2, true, "U+0080"},
        {"\xdf\xbf", 2, true, "U+07FF"},
        {"\xe0\xa0\x80", 3, true, "U+0800"},
        {"\xef\xbf\xbf", 3, true, "U+FFFF"},
        {"\xee\x80\x80", 3, true, "U+E000"},
        {"\xf0\x90\x80\x80", 4, true, "U+10000"},
        {"\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF"},
        {"\0", 1, false, "U+0000"},
        {"ab\0", 3, false, "trailing U+0000"},
        {"\xc0\x80", 2, false, "overlong U+0000"},
        {"\xc1\xbf", 2, false, "overlong 2-byte"},
        {"\xe0\x9f\xbf", 3, false, "overlong 3-byte"},
        {"\xf0\x8f\xbf\xbf", 4, false, "overlong 4-byte"},
        {"\xed\xa0\x80", 3, false, "high surrogate"},
        {"\xed\xbf\xbf", 3, false, "low surrogate"},
        {"\xf4\x90\x80\x80", 4, false, "above U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, false, "F5 lead"},
        {"\xf8\x88\x80\x80\x80", 5, false, "5-byte form"},
        {"\xfe", 1, false, "FE"},
        {"\xff", 1, false, "FF"},
        {"\x80", 1, false, "lone continuation"},
        {"\xbf", 1, false, "lone continuation BF"},
        {"\xc2", 1, false, "truncated 2-byte"},
        {"\xe2\x82", 2, false, "truncated 3-byte"},
        {"\xf0\x9f\x94", 3, false, "truncated 4-byte"},
        {"\xc2\x41", 2, false, "bad continuation"},
        {"\xe2\x28\xa1", 3, false, "bad continuation in 3-byte"},
        {"a\xc3\xa9z", 4, true, "mixed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (text_valid_utf8(cases[i].p, cases[i].n) != cases[i].ok)
            fail_msg("%s: expected %s", cases[i].what, cases[i].ok ? "valid" : "invalid");
    /* the length is honoured: a valid prefix of an invalid buffer is valid */
    assert_true(text_valid_utf8("ab\xff", 2));
    assert_false(text_valid_utf8("ab\xff", 3));
    /* a 4-byte sequence cut by n */
    assert_false(text_valid_utf8("\xf0\x9f\x94\x91", 3));
}

/* ---- error codes ---- */

static void test_err_codes_and_names(void **state)
{
    (void)state;
    /* spec §5 */
    struct {
        asset_err e;
        long code;
        const char *name;
    } t[] = {
        {ASSET_OK, 0, "OK"},
        {ASSET_PERMISSION_DENIED, 201, "PERMISSION_DENIED"},
        {ASSET_INVALID_ARGUMENT, 401, "INVALID_ARGUMENT"},
        {ASSET_SERVICE_UNAVAILABLE, 24000001, "SERVICE_UNAVAILABLE"},
        {ASSET_NOT_FOUND, 24000002, "NOT_FOUND"},
        {ASSET_DUPLICATED, 24000003, "DUPLICATED"},
        {ASSET_ACCESS_DENIED, 24000004, "ACCESS_DENIED"},
        {ASSET_STATUS_MISMATCH, 24000005, "STATUS_MISMATCH"},
        {ASSET_OUT_OF_MEMORY, 24000006, "OUT_OF_MEMORY"},
        {ASSET_DATA_CORRUPTED, 24000007, "DATA_CORRUPTED"},
        {ASSET_DATABASE_ERROR, 24000008, "DATABASE_ERROR"},
        {ASSET_CRYPTO_ERROR, 24000009, "CRYPTO_ERROR"},
        {ASSET_LIMIT_EXCEEDED, 24000016, "LIMIT_EXCEEDED"},
        {ASSET_UNSUPPORTED, 24000017, "UNSUPPORTED"},
        {ASSET_PARAM_VERIFICATION_FAILED, 24000018, "PARAM_VERIFICATION_FAILED"},
        {ASSET_INCONSISTENT_ATTRIBUTE, 24000019, "INCONSISTENT_ATTRIBUTE"},
        {ASSET_PRECONDITION_FAILED, 24100001, "PRECONDITION_FAILED"},
        {ASSET_IDEMPOTENCY_CONFLICT, 24100002, "IDEMPOTENCY_CONFLICT"},
        {ASSET_IN_PROGRESS, 24100003, "IN_PROGRESS"},
        {ASSET_UNAUTHENTICATED, 201, "PERMISSION_DENIED"},
    };
    assert_int_equal(sizeof t / sizeof t[0], ASSET_ERR_COUNT);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(asset_err_code(t[i].e), t[i].code);
        assert_string_equal(asset_err_name(t[i].e), t[i].name);
    }
    /* out of range: never NULL, and never mistaken for success */
    assert_non_null(asset_err_name(ASSET_ERR_COUNT));
    assert_string_not_equal(asset_err_name(ASSET_ERR_COUNT), "OK");
    assert_int_not_equal(asset_err_code(ASSET_ERR_COUNT), 0);
    assert_non_null(asset_err_name((asset_err)-1));
    assert_int_not_equal(asset_err_code((asset_err)-1), 0);
}

/* The settings table: defaults, ranges, and one line naming a bad variable. */
static void test_config_settings(void **state)
{
    (void)state;
    config c;
    char err[512];
    setenv("DATABASE_URL", "postgresql:///x", 1);
    unsetenv("ASSETD_LOG_REQUESTS");
    unsetenv("ASSETD_RESTORE_BATCH");
    unsetenv("ASSETD_REQUEST_WORKERS");
    unsetenv("ASSETD_DB_POOL_SIZE");
    assert_int_equal(config_load(&c, 0, err, sizeof err), 0);
    assert_true(c.log_requests);
    assert_int_equal(c.restore_batch, 2000);
    assert_int_equal(c.lease_seconds, 30);
    assert_int_equal(c.auth_cache_ms, 60000);
    assert_int_equal(c.request_workers, 8);
    assert_int_equal(c.db_pool_size, c.request_workers + 2); /* a default from another */
    assert_int_equal(c.group_commit_max, 64);
    assert_int_equal(c.body_limit, 65536);
    config_free(&c);
    setenv("ASSETD_REQUEST_WORKERS", "3", 1);
    assert_int_equal(config_load(&c, 0, err, sizeof err), 0);
    assert_int_equal(c.db_pool_size, 5);
    config_free(&c);
    unsetenv("ASSETD_REQUEST_WORKERS");
    const struct {
        const char *name, *value;
    } bad[] = {{"ASSETD_LOG_REQUESTS", "yes"},   {"ASSETD_RESTORE_BATCH", "0"},
               {"ASSETD_RESTORE_BATCH", "2001"}, {"ASSETD_AUTH_CACHE_MS", "-1"},
               {"ASSETD_LEASE_SECONDS", "30s"},  {"ASSETD_PORT", "70000"},
               {"ASSETD_MAX_ASSETS", "1e3"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i].name, bad[i].value, 1);
        err[0] = 0;
        assert_int_equal(config_load(&c, 0, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i].name));
        unsetenv(bad[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_zeroed_aligned),
        cmocka_unit_test(test_arena_reset_reuses_newest_chunk_zeroed),
        cmocka_unit_test(test_arena_many_small),
        cmocka_unit_test(test_arena_strndup),
        cmocka_unit_test(test_arena_overflow_refused),
        cmocka_unit_test(test_bytea_decode),
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_secure_alloc),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_uuid_new),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_err_codes_and_names),
        cmocka_unit_test(test_config_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
