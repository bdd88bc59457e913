/* test_sqlbuf: service/store/sqlbuf.c on its own, no database. sqlbuf: the SQL text grows to any
 * length and keeps every fragment in order; parameters are numbered $1.. in the order they are
 * added, text is borrowed and sent in binary format, integers are copied; NULL is SQL NULL.
 * copybuf: COPY text format as PostgreSQL reads it (tab between fields, newline after a row,
 * backslash escapes for backslash, tab, newline and carriage return, \N for NULL, bytea as an
 * escaped \x hex literal), checked by decoding what it wrote, over random rows that make it
 * grow past its first block; copybuf_free wipes the rows before it frees them.
 *
 * Out of memory: malloc, calloc, realloc and free are wrapped at link time
 * (test_sqlbuf.ldflags). For N = 1, 2, ... every run fails its Nth allocation (and every later
 * one); it must end with the buffer marked failed, the statement refused (OUT_OF_MEMORY, no
 * database touched) and every allocation given back, until N passes the allocations a run
 * makes.
 * pgparams: an array parameter is array_recv's binary format (header, then each element as a
 * length and its bytes, -1 for NULL), its elements written by copybin's field functions; out
 * of memory, pgp_exec refuses the statement without the database and frees everything. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../service/store/pgparams.h"
#include "../../service/store/sqlbuf.h"

/* ---- the allocation wrappers ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

#define LIVE_MAX 1024

static struct {
    bool armed;
    long calls, fail_at; /* fail_at: 1-based; every later allocation fails too; 0: never */
    long failed;
    void *live[LIVE_MAX]; /* handed out while armed, not yet freed */
    int nlive;
    /* copybuf_free: the block to check at its free, and how many leading bytes must be 0 */
    const void *watch;
    size_t watch_len;
    bool watch_seen, watch_zero;
} g;

static bool refuse(void)
{
    if (!g.armed)
        return false;
    g.calls++;
    if (g.fail_at > 0 && g.calls >= g.fail_at) {
        g.failed++;
        return true;
    }
    return false;
}

static void live_add(void *p)
{
    if (!g.armed || !p)
        return;
    if (g.nlive == LIVE_MAX)
        abort();
    g.live[g.nlive++] = p;
}

static void live_remove(void *p)
{
    for (int i = 0; i < g.nlive; i++)
        if (g.live[i] == p) {
            g.live[i] = g.live[--g.nlive];
            return;
        }
}

void *__wrap_malloc(size_t n)
{
    if (refuse())
        return NULL;
    void *p = __real_malloc(n);
    live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (refuse())
        return NULL;
    void *p = __real_calloc(n, m);
    live_add(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (refuse())
        return NULL; /* the old block stays valid, as realloc promises */
    void *p = __real_realloc(old, n);
    if (p) {
        live_remove(old);
        live_add(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p && p == g.watch) {
        g.watch_seen = true;
        g.watch_zero = true;
        for (size_t i = 0; i < g.watch_len; i++)
            if (((const unsigned char *)p)[i] != 0)
                g.watch_zero = false;
    }
    live_remove(p);
    __real_free(p);
}

static void arm(long fail_at)
{
    memset(&g, 0, sizeof g);
    g.fail_at = fail_at;
    g.armed = true;
}

static void disarm(void)
{
    g.armed = false;
}

/* ---- sqlbuf ---- */

static void test_sqlbuf_growth(void **state)
{
    (void)state;
    sqlbuf b;
    sqlbuf_init(&b);
    /* Many small fragments, then one far longer than the first block: the text is all there,
     * in order, NUL-terminated. */
    size_t cap = 200000;
    char *want = malloc(cap);
    assert_non_null(want);
    size_t len = 0;
    for (int i = 0; i < 20000; i++) {
        sqlbuf_add(&b, "%s$%d", i ? "," : "", i);
        len += (size_t)snprintf(want + len, cap - len, "%s$%d", i ? "," : "", i);
    }
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    sqlbuf_add(&b, " %s", big);
    len += (size_t)snprintf(want + len, cap - len, " %s", big);
    assert_false(b.failed);
    assert_int_equal(b.len, len);
    assert_true(b.cap > b.len);
    assert_string_equal(b.sql, want);
    /* a fragment that fills the block to its last byte exactly */
    sqlbuf_free(&b);
    sqlbuf_init(&b);
    char edge[1024];
    memset(edge, 'e', sizeof edge - 1);
    edge[1023] = 0;
    sqlbuf_add(&b, "%s", edge); /* 1023 bytes + NUL: exactly the first block */
    sqlbuf_add(&b, "!");
    assert_false(b.failed);
    assert_int_equal(b.len, 1024);
    assert_int_equal(b.sql[1023], '!');
    assert_int_equal(b.sql[1024], 0);
    sqlbuf_free(&b);
    free(want);
}

static void test_sqlbuf_params(void **state)
{
    (void)state;
    sqlbuf b;
    sqlbuf_init(&b);
    const char text[] = {'a', 0, 'b', '\'', 'c'}; /* binary: NUL and quote are just bytes */
    assert_int_equal(sqlbuf_text(&b, text, sizeof text), 1);
    assert_int_equal(sqlbuf_cstr(&b, "plain"), 2);
    assert_int_equal(sqlbuf_int(&b, LLONG_MIN), 3);
    assert_int_equal(sqlbuf_bool(&b, true), 4);
    assert_int_equal(sqlbuf_bool(&b, false), 5);
    assert_int_equal(sqlbuf_text(&b, NULL, 0), 6);
    /* integers are copied: each keeps its own value */
    int last = 0;
    for (int i = 0; i < 100; i++)
        last = sqlbuf_int(&b, 1000 + i);
    assert_int_equal(last, 106);
    assert_int_equal(b.n, 106);
    assert_false(b.failed);

    assert_ptr_equal(b.vals[0], text); /* borrowed */
    assert_int_equal(b.lens[0], sizeof text);
    assert_int_equal(b.fmts[0], 1);
    assert_string_equal(b.vals[1], "plain");
    assert_int_equal(b.fmts[1], 0);
    assert_string_equal(b.vals[2], "-9223372036854775808");
    assert_int_equal(b.fmts[2], 0);
    assert_string_equal(b.vals[3], "t");
    assert_string_equal(b.vals[4], "f");
    assert_null(b.vals[5]);
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", 1000 + i);
        assert_string_equal(b.vals[6 + i], want);
    }
    sqlbuf_free(&b);
    assert_null(b.sql);
    assert_int_equal(b.n, 0);
    sqlbuf_free(&b); /* twice, and NULL: nothing happens */
    sqlbuf_free(NULL);

    /* Nothing written: the statement is refused without reaching the database. */
    PGresult *res = (PGresult *)&b;
    sqlbuf_init(&b);
    assert_int_equal(sqlbuf_exec(&b, NULL, &res), ASSET_OUT_OF_MEMORY);
    assert_null(res);
}

/* One statement built the way the stores build theirs. */
static void build_statement(sqlbuf *b)
{
    static const char alias[] = "alias";
    sqlbuf_add(b, "SELECT 1 FROM assets WHERE device_id = $%d", sqlbuf_cstr(b, "d"));
    for (int i = 0; i < 40; i++)
        sqlbuf_add(b, " AND (alias = $%d OR seq > $%d OR persistent = $%d)",
                   sqlbuf_text(b, alias, sizeof alias - 1), sqlbuf_int(b, i),
                   sqlbuf_bool(b, i & 1));
    char tail[3000];
    memset(tail, ' ', sizeof tail - 1);
    tail[sizeof tail - 1] = 0;
    sqlbuf_add(b, "%s LIMIT $%d", tail, sqlbuf_int(b, 10));
}

static void test_sqlbuf_out_of_memory(void **state)
{
    (void)state;
    long n;
    for (n = 1;; n++) {
        sqlbuf b;
        sqlbuf_init(&b);
        arm(n);
        build_statement(&b);
        long failed = g.failed;
        bool marked = b.failed;
        PGresult *res = NULL;
        asset_err e = failed ? sqlbuf_exec(&b, NULL, &res) : ASSET_OK;
        sqlbuf_free(&b);
        int leaked = g.nlive;
        disarm();
        if (!failed)
            break; /* the run made fewer than n allocations */
        if (!marked || e != ASSET_OUT_OF_MEMORY)
            fail_msg("allocation %ld failed, yet the statement would run (%d)", n, (int)e);
        assert_null(res);
        if (leaked)
            fail_msg("allocation %ld failed: %d blocks not given back", n, leaked);
    }
    assert_true(n > 3); /* it did allocate: the text, the parameter arrays, their growth */
    /* and it is whole when nothing fails */
    sqlbuf b;
    sqlbuf_init(&b);
    build_statement(&b);
    assert_false(b.failed);
    assert_int_equal(b.n, 122);
    assert_non_null(strstr(b.sql, "LIMIT $122"));
    sqlbuf_free(&b);
}

/* ---- copybuf ---- */

/* The rows copybuf wrote, decoded as PostgreSQL's COPY text format reads them: fields[r][f]
 * (malloc'd, with their lengths; NULL for \N). bytea fields are left as their text (\x...). */
typedef struct {
    char *v;
    size_t n;
} field;

static int decode(const char *buf, size_t len, field rows[][8], int max_rows, int *nfields)
{
    int r = 0, f = 0;
    size_t i = 0;
    while (i < len) {
        assert_true(r < max_rows && f < 8);
        char *out = malloc(len - i + 1);
        assert_non_null(out);
        size_t o = 0;
        bool null = false;
        if (len - i >= 2 && buf[i] == '\\' && buf[i + 1] == 'N' &&
            (i + 2 == len || buf[i + 2] == '\t' || buf[i + 2] == '\n')) {
            null = true;
            i += 2;
        }
        while (!null && i < len && buf[i] != '\t' && buf[i] != '\n') {
            if (buf[i] == '\\') {
                assert_true(i + 1 < len);
                char c = buf[i + 1];
                out[o++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
                if (c != 't' && c != 'n' && c != 'r' && c != '\\')
                    fail_msg("an escape PostgreSQL would read differently: \\%c", c);
                i += 2;
            } else {
                /* a raw tab, newline or CR would split the field or the row */
                assert_true(buf[i] != '\r');
                out[o++] = buf[i++];
            }
        }
        out[o] = 0;
        if (null) {
            free(out);
            out = NULL;
        }
        rows[r][f] = (field){out, o};
        f++;
        assert_true(i < len); /* every row ends with a newline */
        if (buf[i++] == '\n') {
            nfields[r++] = f;
            f = 0;
        }
    }
    assert_int_equal(f, 0);
    return r;
}

static void free_rows(field rows[][8], int n, const int *nfields)
{
    for (int r = 0; r < n; r++)
        for (int f = 0; f < nfields[r]; f++)
            free(rows[r][f].v);
}

static void test_copybuf_format(void **state)
{
    (void)state;
    copybuf b;
    copybuf_init(&b);
    static const char tricky[] = "a\tb\nc\rd\\e\\N.\xc3\xa9";
    static const unsigned char bytes[] = {0x00, 0xff, 0x10, 0x5c, 0x0a};
    copybuf_text(&b, tricky, sizeof tricky - 1);
    copybuf_text(&b, NULL, 0);
    copybuf_text(&b, "", 0);
    copybuf_bytea(&b, bytes, sizeof bytes);
    copybuf_bytea(&b, NULL, 0);
    copybuf_int(&b, LLONG_MIN);
    copybuf_bool(&b, true);
    copybuf_row(&b);
    copybuf_bool(&b, false);
    copybuf_bytea(&b, bytes, 0);
    copybuf_row(&b);
    assert_false(b.failed);
    static const char want[] = "a\\tb\\nc\\rd\\\\e\\\\N.\xc3\xa9\t\\N\t\t\\\\x00ff105c0a\t\\N\t"
                               "-9223372036854775808\tt\nf\t\\\\x\n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.buf, want, sizeof want - 1);

    field rows[2][8];
    int nf[2];
    assert_int_equal(decode(b.buf, b.len, rows, 2, nf), 2);
    assert_int_equal(nf[0], 7);
    assert_int_equal(nf[1], 2);
    assert_int_equal(rows[0][0].n, sizeof tricky - 1);
    assert_memory_equal(rows[0][0].v, tricky, sizeof tricky - 1);
    assert_null(rows[0][1].v);
    assert_non_null(rows[0][2].v); /* an empty text is not NULL */
    assert_int_equal(rows[0][2].n, 0);
    assert_string_equal(rows[0][3].v, "\\x00ff105c0a"); /* what bytea's input reads */
    assert_null(rows[0][4].v);
    assert_string_equal(rows[1][1].v, "\\x");
    free_rows(rows, 2, nf);
    copybuf_free(&b);
    assert_null(b.buf);
    copybuf_free(&b);
    copybuf_free(NULL);
}

/* Random rows, far past the first 64 KiB block: every field decodes to what was added. */
static void test_copybuf_growth_roundtrip(void **state)
{
    (void)state;
    enum { ROWS = 3000 };
    static field rows[ROWS][8];
    static int nf[ROWS];
    static unsigned char text[ROWS][64], bin[ROWS][40];
    static size_t tlen[ROWS], blen[ROWS];
    copybuf b;
    copybuf_init(&b);
    for (int r = 0; r < ROWS; r++) {
        tlen[r] = randombytes_uniform(sizeof text[r]);
        blen[r] = randombytes_uniform(sizeof bin[r]);
        randombytes_buf(text[r], tlen[r]);
        randombytes_buf(bin[r], blen[r]);
        for (size_t i = 0; i < tlen[r]; i++) /* text never holds NUL; bias towards escapes */
            text[r][i] = text[r][i] == 0  ? '\\'
                         : text[r][i] < 8 ? "\t\n\r\\"[text[r][i] & 3]
                                          : text[r][i];
        copybuf_int(&b, r);
        copybuf_text(&b, (const char *)text[r], tlen[r]);
        copybuf_bytea(&b, bin[r], blen[r]);
        copybuf_row(&b);
    }
    assert_false(b.failed);
    assert_true(b.len > 65536);
    assert_true(b.cap > b.len);
    assert_int_equal(decode(b.buf, b.len, rows, ROWS, nf), ROWS);
    for (int r = 0; r < ROWS; r++) {
        assert_int_equal(nf[r], 3);
        assert_int_equal(atoi(rows[r][0].v), r);
        assert_int_equal(rows[r][1].n, tlen[r]);
        assert_memory_equal(rows[r][1].v, text[r], tlen[r]);
        char hex[2 + 2 * sizeof bin[r] + 1] = "\\x";
        sodium_bin2hex(hex + 2, sizeof hex - 2, bin[r], blen[r]);
        assert_string_equal(rows[r][2].v, hex);
    }
    free_rows(rows, ROWS, nf);
    copybuf_free(&b);
}

/* copybuf_free wipes the rows (sealed values) before the block goes back to the allocator. */
static void test_copybuf_free_wipes(void **state)
{
    (void)state;
    copybuf b;
    copybuf_init(&b);
    static const unsigned char sealed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 100; i++) {
        copybuf_text(&b, "secret-ish", 10);
        copybuf_bytea(&b, sealed, sizeof sealed);
        copybuf_row(&b);
    }
    assert_false(b.failed);
    arm(0);
    g.watch = b.buf;
    g.watch_len = b.len;
    copybuf_free(&b);
    disarm();
    assert_true(g.watch_seen);
    assert_true(g.watch_zero);
}

static void fill_copy(copybuf *b)
{
    static const unsigned char v[200] = {0xab};
    for (int r = 0; r < 400; r++) {
        copybuf_int(b, r);
        copybuf_text(b, "x\ty", 3);
        copybuf_bytea(b, v, sizeof v);
        copybuf_bool(b, r & 1);
        copybuf_text(b, NULL, 0);
        copybuf_row(b);
    }
}

static void test_copybuf_out_of_memory(void **state)
{
    (void)state;
    long n;
    for (n = 1;; n++) {
        copybuf b;
        copybuf_init(&b);
        arm(n);
        fill_copy(&b);
        long failed = g.failed;
        bool marked = b.failed;
        size_t len = b.len;
        asset_err e = failed ? copybuf_send(&b, NULL, "COPY t FROM STDIN") : ASSET_OK;
        copybuf_free(&b);
        int leaked = g.nlive;
        disarm();
        if (!failed)
            break;
        if (!marked || e != ASSET_OUT_OF_MEMORY)
            fail_msg("allocation %ld failed, yet the rows would be sent (%zu bytes)", n, len);
        if (leaked)
            fail_msg("allocation %ld failed: %d blocks not given back", n, leaked);
    }
    assert_true(n > 2); /* the first block and at least one growth */
}

/* ---- pgparams ---- */

static void fill_params(pg_params *ps)
{
    pg_array *a = pgp_array(ps, OID_INT4, 2);
    copybin_i32(a, 7);
    copybin_i32(a, -1);
    a = pgp_array(ps, OID_BYTEA, 3);
    copybin_bytes(a, "ab", 2);
    copybin_bytes(a, NULL, 0);
    static unsigned char big[5000]; /* grows the array past its first block */
    copybin_bytes(a, big, sizeof big);
    pgp_int(ps, 42);
}

static void test_pgparams_array_format(void **state)
{
    (void)state;
    pg_params ps = {0};
    fill_params(&ps);
    assert_int_equal(ps.n, 3);
    static const unsigned char want[] = {
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0,    0,    0,    2,
        0, 0, 0, 1,                                                   /* 1 dim, int4, 2 from 1 */
        0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 4,  0xff, 0xff, 0xff, 0xff}; /* 7, -1 */
    assert_int_equal(ps.arr[0].len, sizeof want);
    assert_memory_equal(ps.arr[0].buf, want, sizeof want);
    static const unsigned char want2[] = {
        0, 0, 0, 1, 0, 0, 0,   0,   0,    0,    0,    17,   0, 0, 0,    3,   0, 0,
        0, 1, 0, 0, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88}; /* "ab", NULL, then
                                                                                  5000 bytes */
    assert_int_equal(ps.arr[1].len, sizeof want2 + 5000);
    assert_memory_equal(ps.arr[1].buf, want2, sizeof want2);
    assert_string_equal(ps.vals[2], "42");
    assert_int_equal(ps.fmts[0], 1);
    assert_int_equal(ps.fmts[2], 0);
    for (int i = 0; i < ps.n; i++)
        copybin_free(&ps.arr[i]);
}

static void test_pgparams_out_of_memory(void **state)
{
    (void)state;
    long n;
    for (n = 1;; n++) {
        pg_params ps = {0};
        PGresult *res = NULL;
        arm(n);
        fill_params(&ps);
        long failed = g.failed;
        asset_err e = failed ? pgp_exec(&ps, NULL, NULL, &res) : ASSET_OK;
        if (!failed)
            for (int i = 0; i < ps.n; i++)
                copybin_free(&ps.arr[i]);
        int leaked = g.nlive;
        disarm();
        if (!failed)
            break;
        if (e != ASSET_OUT_OF_MEMORY || res)
            fail_msg("allocation %ld failed, yet the statement would run", n);
        if (leaked)
            fail_msg("allocation %ld failed: %d blocks not given back", n, leaked);
        assert_int_equal(ps.n, 0); /* pgp_exec leaves it empty */
    }
    assert_true(n > 3); /* two arrays and a growth */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlbuf_growth),
        cmocka_unit_test(test_sqlbuf_params),
        cmocka_unit_test(test_sqlbuf_out_of_memory),
        cmocka_unit_test(test_copybuf_format),
        cmocka_unit_test(test_copybuf_growth_roundtrip),
        cmocka_unit_test(test_copybuf_free_wipes),
        cmocka_unit_test(test_copybuf_out_of_memory),
        cmocka_unit_test(test_pgparams_array_format),
        cmocka_unit_test(test_pgparams_out_of_memory),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
