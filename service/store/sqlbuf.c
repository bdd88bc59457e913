#include "sqlbuf.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sqlbuf_init(sqlbuf *b)
{
    memset(b, 0, sizeof *b);
}

void sqlbuf_free(sqlbuf *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->sql);
    free(b->vals);
    free(b->lens);
    free(b->fmts);
    sqlbuf_init(b);
}

void sqlbuf_add(sqlbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = b->sql ? vsnprintf(b->sql + b->len, b->cap - b->len, fmt, ap) : -2;
        va_end(ap);
        if (w >= 0 && (size_t)w < b->cap - b->len) {
            b->len += (size_t)w;
            return;
        }
        if (w == -1) {
            b->failed = true;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (w > 0 && cap < b->len + (size_t)w + 1)
            cap *= 2;
        char *ns = realloc(b->sql, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->sql = ns;
        b->cap = cap;
    }
}

static int param(sqlbuf *b, const char *p, size_t n, int fmt)
{
    if (b->failed)
        return 1;
    if (b->n == b->pcap) {
        int cap = b->pcap ? b->pcap * 2 : 32;
        const char **v = realloc(b->vals, (size_t)cap * sizeof *v);
        if (v)
            b->vals = v;
        int *l = v ? realloc(b->lens, (size_t)cap * sizeof *l) : NULL;
        if (l)
            b->lens = l;
        int *f = l ? realloc(b->fmts, (size_t)cap * sizeof *f) : NULL;
        if (!f) {
            b->failed = true;
            return 1;
        }
        b->fmts = f;
        b->pcap = cap;
    }
    b->vals[b->n] = p;
    b->lens[b->n] = (int)n;
    b->fmts[b->n] = fmt;
    return ++b->n;
}

int sqlbuf_text(sqlbuf *b, const char *p, size_t n)
{
    return param(b, p, n, 1);
}

int sqlbuf_cstr(sqlbuf *b, const char *s)
{
    return param(b, s, 0, 0);
}

int sqlbuf_int(sqlbuf *b, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    char **o = realloc(b->owned, (size_t)(b->nowned + 1) * sizeof *o);
    char *copy = o ? strdup(num) : NULL;
    if (o)
        b->owned = o;
    if (!copy) {
        b->failed = true;
        return 1;
    }
    b->owned[b->nowned++] = copy;
    return param(b, copy, 0, 0);
}

int sqlbuf_bool(sqlbuf *b, bool v)
{
    return param(b, v ? "t" : "f", 0, 0);
}

asset_err sqlbuf_exec(sqlbuf *b, db_conn *c, PGresult **out)
{
    *out = NULL;
    if (b->failed || !b->sql)
        return ASSET_OUT_OF_MEMORY;
    return db_exec(c, b->sql, b->n, b->vals, b->lens, b->fmts, out);
}

asset_err sqlbuf_exec_binary(sqlbuf *b, db_conn *c, PGresult **out)
{
    *out = NULL;
    if (b->failed || !b->sql)
        return ASSET_OUT_OF_MEMORY;
    return db_exec_binary(c, b->sql, b->n, b->vals, b->lens, b->fmts, out);
}

/* ---- COPY text format ---- */

void copybuf_init(copybuf *b)
{
    memset(b, 0, sizeof *b);
}

void copybuf_free(copybuf *b)
{
    if (!b)
        return;
    if (b->buf) {
        sodium_memzero(b->buf, b->len); /* rows hold sealed values */
        free(b->buf);
    }
    copybuf_init(b);
}

static bool reserve(copybuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = true;
            return false;
        }
        b->buf = nb;
        b->cap = cap;
    }
    return true;
}

static void field_start(copybuf *b)
{
    if (b->row_open && reserve(b, 1))
        b->buf[b->len++] = '\t';
    b->row_open = true;
}

void copybuf_text(copybuf *b, const char *p, size_t n)
{
    field_start(b);
    if (!p) {
        if (reserve(b, 2)) {
            memcpy(b->buf + b->len, "\\N", 2);
            b->len += 2;
        }
        return;
    }
    if (!reserve(b, 2 * n))
        return;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i], esc = ch == '\\'   ? '\\'
                              : ch == '\t' ? 't'
                              : ch == '\n' ? 'n'
                              : ch == '\r' ? 'r'
                                           : 0;
        if (esc) {
            b->buf[b->len++] = '\\';
            b->buf[b->len++] = esc;
        } else {
            b->buf[b->len++] = ch;
        }
    }
}

void copybuf_bytea(copybuf *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    field_start(b);
    if (!p) {
        if (reserve(b, 2)) {
            memcpy(b->buf + b->len, "\\N", 2);
            b->len += 2;
        }
        return;
    }
    /* bytea's "\x..." input, with its backslash escaped for COPY */
    if (!reserve(b, 3 + 2 * n))
        return;
    memcpy(b->buf + b->len, "\\\\x", 3);
    b->len += 3;
    for (size_t i = 0; i < n; i++) {
        b->buf[b->len++] = hex[p[i] >> 4];
        b->buf[b->len++] = hex[p[i] & 15];
    }
}

void copybuf_int(copybuf *b, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v);
    field_start(b);
    if (reserve(b, (size_t)n)) {
        memcpy(b->buf + b->len, num, (size_t)n);
        b->len += (size_t)n;
    }
}

void copybuf_bool(copybuf *b, bool v)
{
    field_start(b);
    if (reserve(b, 1))
        b->buf[b->len++] = v ? 't' : 'f';
}

void copybuf_row(copybuf *b)
{
    if (reserve(b, 1))
        b->buf[b->len++] = '\n';
    b->row_open = false;
}

asset_err copybuf_send(copybuf *b, db_conn *c, const char *copy_sql)
{
    if (b->failed)
        return ASSET_OUT_OF_MEMORY;
    return db_copy_in(c, copy_sql, b->buf, b->len);
}
