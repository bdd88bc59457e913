#include "asset_update.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store/store_group.h"

static atomic_ullong transactions, updates;

typedef struct {
    svc *s;
    asset_update_group *g;
    int n;                           /* updates in the transaction */
    int pick[ASSET_GET_GROUP_MAX];   /* item of update j */
    bool alone[ASSET_GET_GROUP_MAX]; /* by item: runs alone afterwards (assets_update_if) */
    store_scope sc[ASSET_GET_GROUP_MAX];
    unsigned char key[ASSET_GET_GROUP_MAX][STORE_ALIAS_KEY_LEN];
    store_group_key keys[ASSET_GET_GROUP_MAX];
    /* update j as written */
    store_label_cols cols[ASSET_GET_GROUP_MAX];
    audit_event ev[ASSET_GET_GROUP_MAX];
    store_group_change rows[ASSET_GET_GROUP_MAX];
    store_group_written written[ASSET_GET_GROUP_MAX];
    int write[ASSET_GET_GROUP_MAX];
} update_ctx;

/* Only an update selecting by alias alone (what PATCH /assets/{alias} asks). */
static bool by_key(const asset_req *sel)
{
    return (sel->has & FBIT(F_ALIAS)) && sel->has == (sel->has & (FBIT(F_ALIAS) | FBIT(F_GROUP_ID) |
                                                                  FBIT(F_REQUIRE_ATTR_ENCRYPTED)));
}

/* The secret an update opened, wiped once it is re-sealed or refused. */
static void forget_secret(asset_update_item *it)
{
    asset_out *o = it->out.items;
    if (o && o->secret) {
        sodium_memzero((void *)o->secret, o->secret_len);
        o->secret = NULL;
        o->secret_len = 0;
    }
}

/* Update j on its locked row i: opened, checked, re-sealed; written later (x->write). */
static asset_err change(update_ctx *x, db_conn *c, int j, const row_reader *rows, int i)
{
    asset_update_item *it = &x->g->items[x->pick[j]];
    bool touch = false;
    asset_out *o = arena_alloc(&it->out.mem, sizeof *o);
    if (!o)
        return ASSET_OUT_OF_MEMORY;
    it->out.items = o;
    asset_err e = assets_open_read(x->s, c, it->p, rows, i, true, &it->out, o);
    /* The row is locked (FOR UPDATE) until COMMIT: check and write are one step. */
    if (e == ASSET_OK && !asset_precond_holds(it->pre, o->rec.version))
        e = ASSET_PRECONDITION_FAILED;
    if (e == ASSET_OK)
        e = assets_apply_update(x->s, c, it->p, it->upd, &it->out, o, &x->cols[j], &touch);
    if (e != ASSET_OK)
        return e;
    audit_event_for(&x->ev[j], x->s, it->p, AUDIT_OP_UPDATE_ASSET, it->sel->group.p,
                    it->sel->group.n, it->sel->alias.p, it->sel->alias.n);
    x->rows[j] = (store_group_change){it->p->device_id, &o->rec, &x->cols[j], touch, &x->ev[j]};
    return ASSET_OK;
}

static asset_err update_tx(db_conn *c, void *arg)
{
    update_ctx *x = arg;
    asset_update_group *g = x->g;
    int row[ASSET_GET_GROUP_MAX], nw = 0;
    row_reader rows;
    /* A retried attempt starts afresh. */
    for (int j = 0; j < x->n; j++) {
        asset_update_item *it = &g->items[x->pick[j]];
        forget_secret(it);
        asset_list_free(&it->out);
        it->err = ASSET_OK;
    }
    PQclear(g->res);
    g->res = NULL;
    asset_err e = store_group_lock(c, x->keys, x->n, &g->res);
    if (e != ASSET_OK)
        return e;
    if (store_group_locked(g->res, x->n, row, &rows) != 0)
        return ASSET_DATABASE_ERROR;
    for (int j = 0; j < x->n; j++) {
        asset_update_item *it = &g->items[x->pick[j]];
        if (row[j] < 0)
            it->err = it->pre && it->pre->present ? ASSET_PRECONDITION_FAILED : ASSET_NOT_FOUND;
        else if ((it->err = change(x, c, j, &rows, row[j])) == ASSET_OK)
            x->write[nw++] = j;
        forget_secret(it);
        if (it->err != ASSET_OK)
            asset_list_free(&it->out);
    }
    if (nw && (e = store_group_update(c, x->rows, x->write, nw, x->written)) != ASSET_OK)
        return e;
    for (int k = 0; k < nw; k++) {
        int j = x->write[k];
        asset_update_item *it = &g->items[x->pick[j]];
        if (!x->written[j].written)
            return ASSET_DATABASE_ERROR; /* locked, yet not updated */
        it->out.items->rec.update_ms = x->written[j].update_ms;
        it->out.items->rec.version = x->written[j].version;
        it->out.n = 1;
    }
    return ASSET_OK;
}

void assets_update_group(svc *s, asset_update_group *g)
{
    update_ctx *x = calloc(1, sizeof *x); /* a few pages: not on a request worker's stack */
    for (int k = 0; k < g->n; k++) {
        asset_update_item *it = &g->items[k];
        memset(&it->out, 0, sizeof it->out);
        it->err = x ? ASSET_OK : ASSET_OUT_OF_MEMORY;
    }
    if (!x)
        return;
    x->s = s;
    x->g = g;
    for (int k = 0; k < g->n; k++) {
        asset_update_item *it = &g->items[k];
        x->alone[k] = !by_key(it->sel) || assets_scope(it->p, it->sel, &x->sc[x->n]) != ASSET_OK;
        if (x->alone[k])
            continue;
        store_alias_key(x->key[x->n], &x->sc[x->n], it->sel->alias);
        /* An asset updated twice: the second after the group, on what the first wrote. */
        for (int j = 0; j < x->n && !x->alone[k]; j++)
            x->alone[k] = memcmp(x->key[j], x->key[x->n], STORE_ALIAS_KEY_LEN) == 0;
        if (x->alone[k])
            continue;
        x->keys[x->n] = (store_group_key){x->key[x->n], it->p->device_id, 0};
        x->pick[x->n++] = k;
    }
    asset_err e = x->n ? db_tx(s->pool, DB_READ_COMMITTED, update_tx, x) : ASSET_OK;
    if (x->n) {
        atomic_fetch_add_explicit(&transactions, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&updates, (unsigned long long)x->n, memory_order_relaxed);
    }
    /* Nothing of the group was written. The database refused something: each update again on
     * its own, so that only a bad one fails; unreachable or too slow: the same answer for all. */
    for (int j = 0; e != ASSET_OK && j < x->n; j++) {
        asset_update_item *it = &g->items[x->pick[j]];
        forget_secret(it);
        asset_list_free(&it->out);
        it->err = e;
        x->alone[x->pick[j]] = x->n > 1 && e != ASSET_SERVICE_UNAVAILABLE;
    }
    if (e != ASSET_OK) {
        PQclear(g->res);
        g->res = NULL;
    }
    for (int k = 0; k < g->n; k++)
        if (x->alone[k])
            g->items[k].err = assets_update_if(s, g->items[k].p, g->items[k].sel, g->items[k].upd,
                                               g->items[k].pre, &g->items[k].out);
    free(x);
}

void asset_update_group_clear(asset_update_group *g)
{
    if (!g)
        return;
    for (int k = 0; k < g->n; k++)
        asset_list_free(&g->items[k].out);
    PQclear(g->res);
    g->res = NULL;
}

void assets_update_group_counts(uint64_t *out_transactions, uint64_t *out_updates)
{
    *out_transactions = atomic_load_explicit(&transactions, memory_order_relaxed);
    *out_updates = atomic_load_explicit(&updates, memory_order_relaxed);
}
