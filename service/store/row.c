#include "row.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"

static int find(const PGresult *res, const char *name)
{
    int n = PQnfields(res);
    for (int c = 0; c < n; c++)
        if (strcmp(PQfname(res, c), name) == 0)
            return c;
    return -1;
}

int row_bind(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache)
{
    r->res = res;
    if (t->n > ROW_MAX_COLS)
        return -1;
    if (cache && atomic_load_explicit(&cache->ready, memory_order_acquire) == 1 &&
        cache->nfields == PQnfields(res)) {
        memcpy(r->col, cache->col, sizeof(int) * (size_t)t->n);
        return 0;
    }
    for (int k = 0; k < t->n; k++)
        if ((r->col[k] = find(res, t->names[k])) < 0)
            return -1;
    if (cache && !atomic_load_explicit(&cache->ready, memory_order_acquire)) {
        /* Every thread computes the same positions; the first to claim the cache publishes. */
        int expected = 0;
        if (atomic_compare_exchange_strong(&cache->ready, &expected, 2)) {
            memcpy(cache->col, r->col, sizeof(int) * (size_t)t->n);
            cache->nfields = PQnfields(res);
            atomic_store_explicit(&cache->ready, 1, memory_order_release);
        }
    }
    return 0;
}

void *row_bind_array(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache,
                     arena *a, size_t elem, int *n, asset_err *e)
{
    void *rows = NULL;
    *n = 0;
    *e = ASSET_OK;
    if (row_bind(r, res, t, cache) != 0) {
        *e = ASSET_DATA_CORRUPTED;
        return NULL;
    }
    int count = row_count(r);
    if (count && !(rows = arena_alloc(a, (size_t)count * elem)))
        *e = ASSET_OUT_OF_MEMORY;
    else
        *n = count;
    return rows;
}

asset_err row_bind_one(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache)
{
    if (row_bind(r, res, t, cache) != 0)
        return ASSET_DATA_CORRUPTED;
    return row_count(r) == 1 ? ASSET_OK : ASSET_NOT_FOUND;
}

int row_count(const row_reader *r)
{
    return PQntuples(r->res);
}

bool row_null(const row_reader *r, int i, int k)
{
    return PQgetisnull(r->res, i, r->col[k]);
}

const char *row_text(const row_reader *r, int i, int k, size_t *len)
{
    if (len)
        *len = (size_t)PQgetlength(r->res, i, r->col[k]);
    return PQgetvalue(r->res, i, r->col[k]);
}

/* An int2/int4/int8 in binary format: big-endian, of its type's width. */
static int binary_int(const unsigned char *v, int len, int64_t *out)
{
    uint64_t u = 0;
    if (len != 2 && len != 4 && len != 8)
        return -1;
    for (int b = 0; b < len; b++)
        u = u << 8 | v[b];
    *out = len == 2 ? (int16_t)u : len == 4 ? (int32_t)u : (int64_t)u; /* sign-extended */
    return 0;
}

int row_i64_checked(const row_reader *r, int i, int k, int64_t *out)
{
    const char *s = PQgetvalue(r->res, i, r->col[k]);
    char *end;
    if (row_null(r, i, k))
        return -1;
    if (PQfformat(r->res, r->col[k]) == 1)
        return binary_int((const unsigned char *)s, PQgetlength(r->res, i, r->col[k]), out);
    if (!*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int64_t row_i64(const row_reader *r, int i, int k)
{
    int64_t v = 0;
    return row_i64_checked(r, i, k, &v) == 0 ? v : 0;
}

int row_int(const row_reader *r, int i, int k)
{
    return (int)row_i64(r, i, k);
}

bool row_bool(const row_reader *r, int i, int k)
{
    const char *v = PQgetvalue(r->res, i, r->col[k]);
    return PQfformat(r->res, r->col[k]) == 1 ? v[0] == 1 : v[0] == 't';
}

int row_bytea(const row_reader *r, int i, int k, arena *a, const unsigned char **p, size_t *n)
{
    int c = r->col[k];
    *p = NULL;
    *n = 0;
    if (PQgetisnull(r->res, i, c))
        return 0;
    size_t tl = (size_t)PQgetlength(r->res, i, c);
    const char *v = PQgetvalue(r->res, i, c);
    bool binary = PQfformat(r->res, c) == 1; /* then the bytes themselves */
    size_t cap = binary ? tl + 1 : tl / 2 + 1;
    unsigned char *buf = arena_alloc(a, cap);
    if (!buf)
        return -1;
    if (binary) {
        memcpy(buf, v, tl);
        *n = tl;
    } else if (db_bytea_decode(buf, cap, n, v, tl) != 0)
        return -1;
    *p = buf;
    return 0;
}

int row_bytea_ref(const row_reader *r, int i, int k, arena *a, const unsigned char **p, size_t *n)
{
    int c = r->col[k];
    if (PQgetisnull(r->res, i, c) || PQfformat(r->res, c) != 1)
        return row_bytea(r, i, k, a, p, n);
    *p = (const unsigned char *)PQgetvalue(r->res, i, c);
    *n = (size_t)PQgetlength(r->res, i, c);
    return 0;
}
