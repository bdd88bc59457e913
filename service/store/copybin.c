#include "copybin.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The signature, the flags (no OIDs) and the length of the (empty) header extension. */
static const unsigned char header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                         0,   0,   0,   0,   0,   0,   0,    0,    0};

static bool reserve(copybin *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    /* Not realloc: the old buffer is wiped before it is freed. */
    unsigned char *nb = malloc(cap);
    if (!nb) {
        b->failed = true;
        return false;
    }
    if (b->buf) {
        memcpy(nb, b->buf, b->len);
        sodium_memzero(b->buf, b->len);
        free(b->buf);
    }
    b->buf = nb;
    b->cap = cap;
    return true;
}

static void put(copybin *b, const void *p, size_t n)
{
    if (reserve(b, n)) {
        memcpy(b->buf + b->len, p, n);
        b->len += n;
    }
}

static void put32(copybin *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}

static void put16(copybin *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 2);
}

void copybin_init(copybin *b, size_t size_hint)
{
    memset(b, 0, sizeof *b);
    copybin_restart(b, size_hint);
}

void copybin_init_raw(copybin *b, size_t size_hint)
{
    memset(b, 0, sizeof *b);
    (void)reserve(b, size_hint);
}

void copybin_put32(copybin *b, uint32_t v)
{
    put32(b, v);
}

void copybin_restart(copybin *b, size_t size_hint)
{
    unsigned char *buf = b->buf;
    size_t cap = b->cap;
    if (buf)
        sodium_memzero(buf, b->len);
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = cap;
    if (reserve(b, size_hint + sizeof header))
        put(b, header, sizeof header);
}

/* Only the bytes written are wiped: the rest of the buffer never held anything of ours, and
 * touching it would only fault in pages nobody used. */
void copybin_free(copybin *b)
{
    if (!b)
        return;
    if (b->buf) {
        sodium_memzero(b->buf, b->len);
        free(b->buf);
    }
    memset(b, 0, sizeof *b);
}

void copybin_row(copybin *b, int nfields)
{
    if (b->ended)
        b->failed = true;
    put16(b, (uint16_t)nfields);
}

void copybin_bytes(copybin *b, const void *p, size_t n)
{
    if (!p) {
        put32(b, UINT32_MAX); /* -1: NULL */
        return;
    }
    if (n > INT32_MAX) {
        b->failed = true;
        return;
    }
    put32(b, (uint32_t)n);
    put(b, p, n);
}

void copybin_i16(copybin *b, int v)
{
    put32(b, 2);
    put16(b, (uint16_t)v);
}

void copybin_i32(copybin *b, int32_t v)
{
    put32(b, 4);
    put32(b, (uint32_t)v);
}

void copybin_i64(copybin *b, int64_t v)
{
    put32(b, 8);
    put32(b, (uint32_t)((uint64_t)v >> 32));
    put32(b, (uint32_t)v);
}

void copybin_bool(copybin *b, bool v)
{
    unsigned char x = v ? 1 : 0;
    put32(b, 1);
    put(b, &x, 1);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int copybin_uuid_bytes(unsigned char out[16], const char *text)
{
    int n = 0;
    for (const char *p = text; *p && n < 32; p++) {
        if (*p == '-')
            continue;
        int d = hex_digit(*p);
        if (d < 0)
            break;
        out[n / 2] = (unsigned char)(n % 2 ? (out[n / 2] | d) : d << 4);
        n++;
    }
    return n == 32 ? 0 : -1;
}

void copybin_uuid(copybin *b, const char *text)
{
    unsigned char u[16];
    if (copybin_uuid_bytes(u, text) != 0) {
        b->failed = true;
        return;
    }
    put32(b, 16);
    put(b, u, 16);
}

void copybin_finish(copybin *b)
{
    if (!b->ended)
        put16(b, UINT16_MAX); /* -1: the trailer */
    b->ended = true;
}

asset_err copybin_send(copybin *b, db_conn *c, const char *copy_sql)
{
    copybin_finish(b);
    if (b->failed)
        return ASSET_OUT_OF_MEMORY;
    return db_copy_in(c, copy_sql, (const char *)b->buf, b->len);
}
