/* test_sqlbuf: what service/store/sqlbuf.c builds, as PostgreSQL reads it. Rows written with
 * copybuf and sent with COPY ... FROM STDIN come back from a SELECT byte for byte (text with
 * tabs, newlines, carriage returns, backslashes, "\." and "\N" in it, UTF-8, bytea with every
 * byte value, NULLs, integers at their limits, booleans), in batches large enough to cross
 * copybuf's first block and libpq's send chunks. A statement built with sqlbuf binds its text
 * (binary format), integer and boolean parameters to the right $n. (The format itself, growth and
 * out-of-memory paths without a database: tests/unit/test_sqlbuf.c.) */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../service/store/sqlbuf.h"
#include "lib/it.h"

/* A connection of its own, as the stores use one (db.h). */
static db_conn open_conn(void)
{
    db_conn c = {.timeout_ms = 10000};
    assert_int_equal(db_connect(test_url, 10000, &c.pg), ASSET_OK);
    return c;
}

static void exec_ok(db_conn *c, const char *q)
{
    PGresult *r = NULL;
    if (db_exec(c, q, 0, NULL, NULL, NULL, &r) != ASSET_OK)
        fail_msg("%s failed", q);
    PQclear(r);
}

enum { ROWS = 5000, TEXT_MAX = 80, BIN_MAX = 64 };

typedef struct {
    bool text_null, bin_null;
    unsigned char text[TEXT_MAX], bin[BIN_MAX];
    size_t tlen, blen;
    long long i;
    bool f;
} row;

/* Text PostgreSQL accepts: no NUL, valid UTF-8. Random printable ASCII with COPY's special
 * bytes mixed in, and a two-byte UTF-8 character now and then. */
static size_t random_text(unsigned char *out, size_t max)
{
    static const char *const pieces[] = {"\t", "\n", "\r", "\\", "\\.", "\\N", "\xc3\xa9", "'"};
    size_t n = 0, want = randombytes_uniform((uint32_t)max - 2);
    while (n < want) {
        uint32_t k = randombytes_uniform(12);
        const char *p = k < 8 ? pieces[k] : NULL;
        size_t len = p ? strlen(p) : 1;
        if (n + len > want)
            break;
        if (p)
            memcpy(out + n, p, len);
        else
            out[n] = (unsigned char)(0x20 + randombytes_uniform(0x5f));
        n += len;
    }
    return n;
}

static void test_copy_roundtrip(void **state)
{
    (void)state;
    db_conn c = open_conn();
    exec_ok(&c, "CREATE TEMP TABLE copy_check (id int PRIMARY KEY, t text, b bytea, i bigint, "
                "f boolean)");
    row *rows = calloc(ROWS, sizeof *rows);
    assert_non_null(rows);
    copybuf b;
    copybuf_init(&b);
    for (int k = 0; k < ROWS; k++) {
        row *r = &rows[k];
        r->text_null = k % 17 == 3;
        r->bin_null = k % 13 == 5;
        r->tlen = random_text(r->text, sizeof r->text);
        r->blen = k < 256 ? 1 : randombytes_uniform(BIN_MAX);
        if (k < 256)
            r->bin[0] = (unsigned char)k; /* every byte value once */
        else
            randombytes_buf(r->bin, r->blen);
        r->i = k == 0 ? LLONG_MIN : k == 1 ? LLONG_MAX : (long long)randombytes_random() - k;
        r->f = k & 1;
        copybuf_int(&b, k);
        copybuf_text(&b, r->text_null ? NULL : (const char *)r->text, r->tlen);
        copybuf_bytea(&b, r->bin_null ? NULL : r->bin, r->blen);
        copybuf_int(&b, r->i);
        copybuf_bool(&b, r->f);
        copybuf_row(&b);
    }
    assert_false(b.failed);
    assert_true(b.len > 65536);
    assert_int_equal(copybuf_send(&b, &c, "COPY copy_check (id, t, b, i, f) FROM STDIN"), ASSET_OK);
    copybuf_free(&b);

    /* Read back in binary format: the bytes as stored, no text decoding in between. */
    PGresult *res =
        PQexecParams(c.pg, "SELECT id, t, b, i::text, f::text FROM copy_check ORDER BY id", 0, NULL,
                     NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), ROWS);
    for (int k = 0; k < ROWS; k++) {
        const row *r = &rows[k];
        assert_int_equal(PQgetisnull(res, k, 1), r->text_null);
        if (!r->text_null) {
            if ((size_t)PQgetlength(res, k, 1) != r->tlen ||
                memcmp(PQgetvalue(res, k, 1), r->text, r->tlen) != 0)
                fail_msg("row %d: the text did not come back as written", k);
        }
        assert_int_equal(PQgetisnull(res, k, 2), r->bin_null);
        if (!r->bin_null) {
            if ((size_t)PQgetlength(res, k, 2) != r->blen ||
                memcmp(PQgetvalue(res, k, 2), r->bin, r->blen) != 0)
                fail_msg("row %d: the bytea did not come back as written", k);
        }
        char want[32];
        snprintf(want, sizeof want, "%lld", r->i);
        assert_int_equal((size_t)PQgetlength(res, k, 3), strlen(want));
        assert_memory_equal(PQgetvalue(res, k, 3), want, strlen(want));
        assert_memory_equal(PQgetvalue(res, k, 4), r->f ? "true" : "false", r->f ? 4 : 5);
    }
    PQclear(res);
    free(rows);
    PQfinish(c.pg);
}

/* A malformed row is refused as a whole: COPY writes nothing. */
static void test_copy_refused_writes_nothing(void **state)
{
    (void)state;
    db_conn c = open_conn();
    exec_ok(&c, "CREATE TEMP TABLE copy_bad (id int PRIMARY KEY, t text)");
    copybuf b;
    copybuf_init(&b);
    for (int k = 0; k < 100; k++) {
        copybuf_int(&b, k % 50); /* the second half repeats the keys */
        copybuf_text(&b, "x", 1);
        copybuf_row(&b);
    }
    asset_err e = copybuf_send(&b, &c, "COPY copy_bad (id, t) FROM STDIN");
    copybuf_free(&b);
    assert_int_not_equal(e, ASSET_OK);
    PGresult *r = NULL;
    assert_int_equal(db_exec(&c, "SELECT count(*) FROM copy_bad", 0, NULL, NULL, NULL, &r),
                     ASSET_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(c.pg);
}

static void test_sqlbuf_binds(void **state)
{
    (void)state;
    db_conn c = open_conn();
    sqlbuf b;
    sqlbuf_init(&b);
    static const char text[] = "it's \\ a \"quote\"\t\xc3\xa9"; /* binary: nothing to escape */
    sqlbuf_add(&b, "SELECT $%d::text, ", sqlbuf_text(&b, text, sizeof text - 1));
    sqlbuf_add(&b, "$%d::text, ", sqlbuf_cstr(&b, "plain"));
    sqlbuf_add(&b, "$%d::bigint, ", sqlbuf_int(&b, LLONG_MIN));
    sqlbuf_add(&b, "$%d::boolean, ", sqlbuf_bool(&b, true));
    sqlbuf_add(&b, "$%d::text IS NULL", sqlbuf_text(&b, NULL, 0));
    /* many parameters: the arrays grow past their first size, numbering stays right */
    for (int i = 0; i < 70; i++)
        sqlbuf_add(&b, ", $%d::int", sqlbuf_int(&b, 1000 + i));
    PGresult *r = NULL;
    assert_int_equal(sqlbuf_exec(&b, &c, &r), ASSET_OK);
    sqlbuf_free(&b);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), text);
    assert_string_equal(PQgetvalue(r, 0, 1), "plain");
    assert_string_equal(PQgetvalue(r, 0, 2), "-9223372036854775808");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    assert_string_equal(PQgetvalue(r, 0, 4), "t");
    for (int i = 0; i < 70; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", 1000 + i);
        assert_string_equal(PQgetvalue(r, 0, 5 + i), want);
    }
    PQclear(r);
    PQfinish(c.pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_copy_roundtrip),
        IT_TEST(test_copy_refused_writes_nothing),
        IT_TEST(test_sqlbuf_binds),
    };
    return IT_MAIN("test_sqlbuf", tests);
}
