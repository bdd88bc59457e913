#include "asset_get.h"

#include <stdatomic.h>
#include <string.h>

#include "store/store_group.h"

static atomic_ullong statements, reads;

typedef struct {
    svc *s;
    asset_get_group *g;
    int n, nrefs;                    /* reads in the statement; their distinct principals */
    int pick[ASSET_GET_GROUP_MAX];   /* item of read j */
    bool alone[ASSET_GET_GROUP_MAX]; /* by item: runs alone afterwards (assets_query) */
    store_scope sc[ASSET_GET_GROUP_MAX];
    unsigned char key[ASSET_GET_GROUP_MAX][STORE_ALIAS_KEY_LEN];
    store_group_key keys[ASSET_GET_GROUP_MAX];
    store_principal_ref refs[ASSET_GET_GROUP_MAX];
    bool check[ASSET_GET_GROUP_MAX];
} get_ctx;

/* Only a read by alias alone (what GET /assets/{alias} asks) is looked up by its key. */
static bool by_key(const asset_req *q)
{
    return (q->has & FBIT(F_ALIAS)) &&
           q->has == (q->has & (FBIT(F_ALIAS) | FBIT(F_GROUP_ID) | FBIT(F_REQUIRE_ATTR_ENCRYPTED) |
                                FBIT(F_RETURN_TYPE)));
}

/* Item it's answer from row i of the group's rows. */
static asset_err open_item(svc *s, db_conn *c, asset_get_item *it, const row_reader *rows, int i)
{
    bool with_secret = it->q->return_type == RETURN_ALL;
    asset_out *o = arena_alloc(&it->out.mem, sizeof *o);
    asset_err e =
        o ? assets_open_read(s, c, it->p, rows, i, with_secret, &it->out, o) : ASSET_OUT_OF_MEMORY;
    if (e == ASSET_OK && with_secret)
        e = assets_secret_readable(it->p, &o->rec);
    if (e != ASSET_OK)
        return e;
    it->out.items = o;
    it->out.n = 1;
    return ASSET_OK;
}

static asset_err get_tx(db_conn *c, void *arg)
{
    get_ctx *x = arg;
    asset_get_group *g = x->g;
    int row[ASSET_GET_GROUP_MAX];
    bool current[ASSET_GET_GROUP_MAX];
    row_reader rows;
    /* A retried attempt starts afresh. */
    for (int j = 0; j < x->n; j++) {
        asset_list_free(&g->items[x->pick[j]].out);
        g->items[x->pick[j]].err = ASSET_OK;
        x->alone[x->pick[j]] = false;
    }
    PQclear(g->res);
    g->res = NULL;
    asset_err e = store_group_get(c, x->keys, x->n, x->refs, x->check, x->nrefs, &g->res);
    if (e != ASSET_OK)
        return e;
    if (store_group_got(g->res, x->n, row, current, &rows) != 0)
        return ASSET_DATABASE_ERROR;
    for (int j = 0; j < x->n; j++) {
        asset_get_item *it = &g->items[x->pick[j]];
        if (!current[j]) /* alone, it is read again as its token's owner is now */
            x->alone[x->pick[j]] = true;
        else if (row[j] < 0)
            it->err = ASSET_NOT_FOUND;
        else if ((it->err = open_item(x->s, c, it, &rows, row[j])) != ASSET_OK)
            asset_list_free(&it->out);
    }
    return ASSET_OK;
}

void assets_get_group(svc *s, asset_get_group *g)
{
    get_ctx x = {.s = s, .g = g};
    for (int k = 0; k < g->n; k++) {
        asset_get_item *it = &g->items[k];
        memset(&it->out, 0, sizeof it->out);
        it->err = ASSET_OK;
        x.alone[k] = !by_key(it->q) || assets_scope(it->p, it->q, &x.sc[x.n]) != ASSET_OK;
        if (x.alone[k])
            continue;
        store_alias_key(x.key[x.n], &x.sc[x.n], it->q->alias);
        int ref = svc_principal_ref_index(it->p, x.refs, &x.nrefs);
        x.check[ref] |= it->p->unverified;
        x.keys[x.n] = (store_group_key){x.key[x.n], it->p->device_id, ref};
        x.pick[x.n++] = k;
    }
    asset_err e = x.n ? db_run(s->pool, get_tx, &x) : ASSET_OK;
    if (x.n) {
        atomic_fetch_add_explicit(&statements, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&reads, (unsigned long long)x.n, memory_order_relaxed);
    }
    for (int j = 0; e != ASSET_OK && j < x.n; j++) {
        asset_get_item *it = &g->items[x.pick[j]];
        asset_list_free(&it->out);
        it->err = e;
        x.alone[x.pick[j]] = false;
    }
    for (int k = 0; k < g->n; k++)
        if (x.alone[k])
            g->items[k].err = assets_query(s, g->items[k].p, g->items[k].q, &g->items[k].out);
}

void asset_get_group_clear(asset_get_group *g)
{
    if (!g)
        return;
    for (int k = 0; k < g->n; k++)
        asset_list_free(&g->items[k].out);
    PQclear(g->res);
    g->res = NULL;
}

void assets_get_group_counts(uint64_t *out_statements, uint64_t *out_reads)
{
    *out_statements = atomic_load_explicit(&statements, memory_order_relaxed);
    *out_reads = atomic_load_explicit(&reads, memory_order_relaxed);
}
