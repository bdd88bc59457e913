#include "pgparams.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(pg_params *ps, pg_array *a, const void *p, size_t n)
{
    if (ps->failed)
        return;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n)
            cap *= 2;
        unsigned char *nb = malloc(cap);
        if (!nb) {
            ps->failed = true;
            return;
        }
        if (a->len)
            memcpy(nb, a->buf, a->len);
        if (a->buf) {
            sodium_memzero(a->buf, a->cap); /* rows hold sealed values and labels */
            free(a->buf);
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void put32(pg_params *ps, pg_array *a, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(ps, a, b, 4);
}

pg_array *pgp_array(pg_params *ps, uint32_t oid, int n)
{
    static pg_array spill; /* past PGP_MAX: never written to (put() sees the failure first) */
    if (ps->n == PGP_MAX) {
        ps->failed = true;
        return &spill;
    }
    pg_array *a = &ps->arr[ps->n];
    ps->fmts[ps->n] = 1;
    ps->n++;
    put32(ps, a, 1);
    put32(ps, a, 0);
    put32(ps, a, oid);
    put32(ps, a, (uint32_t)n);
    put32(ps, a, 1);
    return a;
}

void pgp_el_bytes(pg_params *ps, pg_array *a, const void *p, size_t n)
{
    if (!p) {
        put32(ps, a, UINT32_MAX); /* -1: NULL */
        return;
    }
    put32(ps, a, (uint32_t)n);
    put(ps, a, p, n);
}

void pgp_el_int(pg_params *ps, pg_array *a, int size, int64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < size; k++)
        b[k] = (unsigned char)((uint64_t)v >> (8 * (size - 1 - k)));
    put32(ps, a, (uint32_t)size);
    put(ps, a, b, (size_t)size);
}

void pgp_el_bool(pg_params *ps, pg_array *a, bool v)
{
    unsigned char b = v ? 1 : 0;
    put32(ps, a, 1);
    put(ps, a, &b, 1);
}

void pgp_text(pg_params *ps, const char *p, long n)
{
    if (ps->n == PGP_MAX) {
        ps->failed = true;
        return;
    }
    ps->vals[ps->n] = p;
    ps->lens[ps->n] = n >= 0 ? (int)n : 0;
    ps->fmts[ps->n] = n >= 0 ? 1 : 0;
    ps->n++;
}

void pgp_int(pg_params *ps, long long v)
{
    if (ps->n == PGP_MAX) {
        ps->failed = true;
        return;
    }
    snprintf(ps->num[ps->n], sizeof ps->num[0], "%lld", v);
    pgp_text(ps, ps->num[ps->n], -1);
}

asset_err pgp_exec(pg_params *ps, db_conn *c, const db_stmt *st, PGresult **out)
{
    asset_err e = ASSET_OUT_OF_MEMORY;
    *out = NULL;
    if (!ps->failed) {
        for (int i = 0; i < ps->n; i++)
            if (ps->arr[i].buf) {
                ps->vals[i] = (const char *)ps->arr[i].buf;
                ps->lens[i] = (int)ps->arr[i].len;
            }
        e = db_exec_stmt(c, st, ps->n, ps->vals, ps->lens, ps->fmts, out);
    }
    for (int i = 0; i < ps->n; i++)
        if (ps->arr[i].buf) {
            sodium_memzero(ps->arr[i].buf, ps->arr[i].cap);
            free(ps->arr[i].buf);
        }
    memset(ps, 0, sizeof *ps);
    return e;
}
