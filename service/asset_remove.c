#include "asset_remove.h"

#include <stdatomic.h>
#include <string.h>

#include "audit.h"
#include "store/store_group.h"

static atomic_ullong statements, removes;

/* Only a remove by alias alone (what DELETE /assets/{alias} asks), without a precondition. */
static bool by_key(const asset_remove_item *it)
{
    const asset_req *q = it->q;
    return !(it->pre && it->pre->present) && (q->has & FBIT(F_ALIAS)) &&
           q->has == (q->has & (FBIT(F_ALIAS) | FBIT(F_GROUP_ID) | FBIT(F_REQUIRE_ATTR_ENCRYPTED)));
}

typedef struct {
    int n;
    store_group_key keys[ASSET_GET_GROUP_MAX];
    const audit_event *ev[ASSET_GET_GROUP_MAX];
    bool removed[ASSET_GET_GROUP_MAX];
} remove_ctx;

static asset_err remove_stmt(db_conn *c, void *arg)
{
    remove_ctx *x = arg;
    return store_group_delete(c, x->keys, x->ev, x->n, x->removed);
}

void assets_remove_group(svc *s, asset_remove_item *items, int n)
{
    remove_ctx x = {0};
    int pick[ASSET_GET_GROUP_MAX];
    bool alone[ASSET_GET_GROUP_MAX];
    store_scope sc;
    unsigned char key[ASSET_GET_GROUP_MAX][STORE_ALIAS_KEY_LEN];
    audit_event ev[ASSET_GET_GROUP_MAX];
    for (int k = 0; k < n && k < ASSET_GET_GROUP_MAX; k++) {
        asset_remove_item *it = &items[k];
        it->err = ASSET_OK;
        alone[k] = !by_key(it) || assets_scope(it->p, it->q, &sc) != ASSET_OK;
        if (alone[k])
            continue;
        store_alias_key(key[x.n], &sc, it->q->alias);
        audit_event_for(&ev[x.n], s, it->p, AUDIT_OP_DELETE_ASSET, it->q->group.p, it->q->group.n,
                        it->q->alias.p, it->q->alias.n);
        x.keys[x.n] = (store_group_key){key[x.n], it->p->device_id, 0};
        x.ev[x.n] = &ev[x.n];
        pick[x.n++] = k;
    }
    asset_err e = x.n ? db_run(s->pool, remove_stmt, &x) : ASSET_OK;
    if (x.n) {
        atomic_fetch_add_explicit(&statements, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&removes, (unsigned long long)x.n, memory_order_relaxed);
    }
    for (int j = 0; j < x.n; j++)
        items[pick[j]].err = e != ASSET_OK ? e : x.removed[j] ? ASSET_OK : ASSET_NOT_FOUND;
    for (int k = 0; k < n && k < ASSET_GET_GROUP_MAX; k++) {
        long gone = 0;
        if (alone[k])
            items[k].err = assets_remove_if(s, items[k].p, items[k].q, true, items[k].pre, &gone);
    }
}

void assets_remove_group_counts(uint64_t *out_statements, uint64_t *out_removes)
{
    *out_statements = atomic_load_explicit(&statements, memory_order_relaxed);
    *out_removes = atomic_load_explicit(&removes, memory_order_relaxed);
}
