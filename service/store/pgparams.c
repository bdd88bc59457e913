#include "pgparams.h"

#include <stdio.h>
#include <string.h>

pg_array *pgp_array(pg_params *ps, uint32_t oid, int n)
{
    static pg_array spill = {.failed = true}; /* past PGP_MAX: never written to */
    if (ps->n == PGP_MAX) {
        ps->failed = true;
        return &spill;
    }
    pg_array *a = &ps->arr[ps->n];
    ps->fmts[ps->n] = 1;
    ps->n++;
    copybin_init_raw(a, 20 + (size_t)n * 8);
    copybin_put32(a, 1); /* dimensions */
    copybin_put32(a, 0); /* no NULL bitmap flag */
    copybin_put32(a, oid);
    copybin_put32(a, (uint32_t)n);
    copybin_put32(a, 1); /* lower bound */
    return a;
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
    bool failed = ps->failed;
    *out = NULL;
    for (int i = 0; i < ps->n; i++)
        if (ps->arr[i].buf || ps->arr[i].failed) {
            failed |= ps->arr[i].failed;
            ps->vals[i] = (const char *)ps->arr[i].buf;
            ps->lens[i] = (int)ps->arr[i].len;
        }
    asset_err e = failed ? ASSET_OUT_OF_MEMORY
                  : ps->binary_result
                      ? db_exec_stmt_binary(c, st, ps->n, ps->vals, ps->lens, ps->fmts, out)
                      : db_exec_stmt(c, st, ps->n, ps->vals, ps->lens, ps->fmts, out);
    for (int i = 0; i < ps->n; i++)
        copybin_free(&ps->arr[i]);
    memset(ps, 0, sizeof *ps);
    return e;
}
