#include "asset_add.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "asset_ops.h"
#include "audit.h"
#include "store/store.h"
#include "store/store_devices.h"
#include "store/store_group.h"

/* An add on its way: what to write, what became of it, its place in the queue. */
typedef struct add_item {
    svc *s;
    const principal *p;
    bool overwrite;
    store_scope sc;
    asset_record r;
    store_label_cols cols;
    audit_event ev;
    unsigned char key[STORE_ALIAS_KEY_LEN];
    /* outcome */
    asset_err err;
    bool stale; /* p (unverified) turned out not to be current: nothing was written */
    store_group_written w;
    /* queue */
    struct add_item *next;
    bool done;
    sem_t wake;    /* posted when done, or when it may lead the next group */
    int posts_due; /* under the queue's lock: posts decided for it, each to be waited for */
} add_item;

/* The most adds one transaction writes: also what one group's arrays hold. */
#define GROUP_MAX_LIMIT 256

/* What the leader works with: one group is written at a time, so one of these per queue, on the
 * heap (request workers' stacks stay small: touched stack pages stay resident). */
typedef struct {
    add_item *items[GROUP_MAX_LIMIT];
    store_principal_ref refs[GROUP_MAX_LIMIT];
    int ref[GROUP_MAX_LIMIT], pick_new[GROUP_MAX_LIMIT], pick_over[GROUP_MAX_LIMIT];
    bool held[GROUP_MAX_LIMIT], current[GROUP_MAX_LIMIT];
    store_group_row rows[GROUP_MAX_LIMIT];
    store_group_written w[GROUP_MAX_LIMIT];
} group_work;

/* Holds no pointer to its svc: an svc may be copied (its items carry the one they run in). */
struct add_group {
    int max;
    group_work *work; /* the leader's, while g->writing */
    pthread_mutex_t mu;
    add_item *head;
    bool writing;                /* a leader is writing a group */
    uint64_t transactions, adds; /* groups written so far, and the adds they held */
};

/* ---- one add alone: with a store limit, after a group failed, or with group commit off ---- */

static asset_err add_tx(db_conn *c, void *arg)
{
    add_item *it = arg;
    const config *cfg = it->s->cfg;
    asset_err e;
    memset(&it->w, 0, sizeof it->w); /* a retried attempt starts afresh */
    it->stale = false;
    if (it->p->unverified) {
        bool current = false;
        if ((e = svc_principal_current(c, it->p, &current)) != ASSET_OK)
            return e;
        if (!current) {
            it->stale = true;
            return ASSET_OK;
        }
    }
    if ((e = svc_installation_hold(c, it->p)) != ASSET_OK)
        return e;
    if (cfg->max_assets > 0) {
        /* Count and insert under a lock of the store, or concurrent adds overshoot the limit.
         * Full: only replacing an existing alias (OVERWRITE) is still allowed. */
        long n = 0;
        PGresult *ex = NULL;
        if ((e = store_scope_lock(c, &it->sc)) != ASSET_OK ||
            (e = store_asset_count(c, &it->sc, &n)) != ASSET_OK)
            return e;
        if (n >= cfg->max_assets && it->overwrite &&
            (e = store_asset_get(c, &it->sc, it->r.alias, &ex)) == ASSET_OK && PQntuples(ex) == 1)
            n = 0;
        PQclear(ex);
        if (e != ASSET_OK)
            return e;
        if (n >= cfg->max_assets)
            return ASSET_LIMIT_EXCEEDED;
    }
    it->w.written = true;
    return store_asset_insert(c, &it->sc, &it->r, &it->cols, &it->ev, it->overwrite,
                              &it->w.inserted, &it->w.seq, &it->w.update_ms, &it->w.version);
}

static asset_err add_alone(add_item *it)
{
    asset_err e = db_tx(it->s->pool, DB_READ_COMMITTED, add_tx, it);
    if (e != ASSET_OK)
        it->w.written = false;
    return e;
}

/* ---- a group: one transaction for the adds of many callers ---- */

typedef struct {
    group_work *wk;
    add_item **items;
    int n;
    batch_conflict mode; /* of the adds without OVERWRITE: BATCH_FAIL first, then BATCH_SKIP */
} group_ctx;

/* Installations of the group, each once: refs[], and ref[k] for item k. */
static int group_refs(add_item **items, int n, store_principal_ref *refs, int *ref)
{
    int nrefs = 0;
    for (int k = 0; k < n; k++)
        ref[k] = svc_principal_ref_index(items[k]->p, refs, &nrefs);
    return nrefs;
}

static asset_err group_tx(db_conn *c, void *arg)
{
    group_ctx *x = arg;
    group_work *wk = x->wk;
    add_item **items = x->items;
    int n = x->n, nrefs, nnew = 0, nover = 0;
    store_principal_ref *refs = wk->refs;
    int *ref = wk->ref, *pick_new = wk->pick_new, *pick_over = wk->pick_over;
    bool *held = wk->held, *current = wk->current;
    store_group_row *rows = wk->rows;
    store_group_written *w = wk->w;
    asset_err e;
    nrefs = group_refs(items, n, refs, ref);
    if ((e = store_group_hold(c, refs, nrefs, held, current)) != ASSET_OK)
        return e;
    for (int k = 0; k < n; k++) {
        add_item *it = items[k];
        /* A retried attempt starts afresh. */
        it->err = ASSET_OK;
        it->stale = false;
        memset(&it->w, 0, sizeof it->w);
        if (it->p->unverified && (!held[ref[k]] || !current[ref[k]]))
            it->stale = true; /* afresh, it is refused (401) or runs again with the new state */
        else if (!held[ref[k]])
            it->err = ASSET_UNAUTHENTICATED;
        else if (it->overwrite)
            pick_over[nover++] = k;
        else
            pick_new[nnew++] = k;
        rows[k] = (store_group_row){&it->sc, &it->r, &it->cols, &it->ev, it->key};
    }
    if ((nnew && (e = store_group_insert(c, rows, pick_new, nnew, x->mode, w)) != ASSET_OK) ||
        (nover &&
         (e = store_group_insert(c, rows, pick_over, nover, BATCH_REPLACE, w)) != ASSET_OK))
        return e;
    for (int j = 0; j < nnew + nover; j++) {
        int k = j < nnew ? pick_new[j] : pick_over[j - nnew];
        items[k]->w = w[k];
        if (!w[k].written)
            items[k]->err = ASSET_DUPLICATED;
    }
    return ASSET_OK;
}

static void group_write(group_work *wk, add_item **items, int n)
{
    group_ctx x = {wk, items, n, BATCH_FAIL};
    asset_err e = db_tx(items[0]->s->pool, DB_READ_COMMITTED, group_tx, &x);
    if (e == ASSET_DUPLICATED) {
        /* Some alias exists: once more, each one that does left alone (409 for its add). */
        x.mode = BATCH_SKIP;
        e = db_tx(items[0]->s->pool, DB_READ_COMMITTED, group_tx, &x);
    }
    /* Nothing of the group was written. The database refused something: each add again, in a
     * transaction of its own, so that only a bad one fails. The database unreachable or too
     * slow: the same answer for all, at once (alone, each would wait as long again). */
    bool alone = n > 1 && e != ASSET_SERVICE_UNAVAILABLE;
    for (int k = 0; e != ASSET_OK && k < n; k++) {
        items[k]->stale = false;
        items[k]->err = alone ? add_alone(items[k]) : e;
    }
}

/* Under g->mu: moves up to g->max queued adds into items, in queue order, leaving queued an add
 * whose alias key one taken already has (one statement may write a key only once). */
static int group_take(struct add_group *g, add_item **items)
{
    int n = 0;
    add_item **link = &g->head;
    while (*link && n < g->max) {
        add_item *it = *link;
        bool clash = false;
        for (int k = 0; k < n && !clash; k++)
            clash = memcmp(items[k]->key, it->key, STORE_ALIAS_KEY_LEN) == 0;
        if (clash) {
            link = &it->next;
            continue;
        }
        *link = it->next;
        it->next = NULL;
        items[n++] = it;
    }
    return n;
}

/* Queues it and returns once it is written (or refused): led by this thread or another. Threads
 * are woken by semaphore after the queue's lock is released, so that none wakes only to wait for
 * the lock. Every post is decided under the lock (posts_due) and the add's thread returns only
 * once it has waited for all of them: nobody posts to it after it is gone. */
static void group_join(struct add_group *g, add_item *it)
{
    add_item **tail = &g->head;
    int consumed = 0;
    /* Waiting, or writing for many on one connection: either way this add leaves its place among
     * the requests that run (svc.wait_begin), so that more adds can join the group. */
    if (it->s->wait_begin)
        it->s->wait_begin();
    sem_init(&it->wake, 0, 0);
    pthread_mutex_lock(&g->mu);
    while (*tail)
        tail = &(*tail)->next;
    *tail = it;
    for (;;) {
        if (it->done && consumed == it->posts_due)
            break;
        if (it->done || g->writing) {
            pthread_mutex_unlock(&g->mu);
            while (sem_wait(&it->wake) != 0)
                ; /* EINTR */
            consumed++;
            pthread_mutex_lock(&g->mu);
            continue;
        }
        add_item **items = g->work->items;
        int n = group_take(g, items);
        g->writing = true;
        pthread_mutex_unlock(&g->mu);
        group_write(g->work, items, n);
        pthread_mutex_lock(&g->mu);
        g->transactions++;
        g->adds += (uint64_t)n;
        for (int k = 0; k < n; k++) {
            items[k]->done = true;
            items[k]->posts_due += items[k] != it;
        }
        pthread_mutex_unlock(&g->mu);
        /* Still g->writing: g->work->items is this leader's until it says otherwise. */
        for (int k = 0; k < n; k++)
            if (items[k] != it)
                sem_post(&items[k]->wake);
        pthread_mutex_lock(&g->mu);
        g->writing = false;
        add_item *next = g->head; /* the next group's leader */
        if (next)
            next->posts_due++;
        pthread_mutex_unlock(&g->mu);
        if (next)
            sem_post(&next->wake);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    sem_destroy(&it->wake);
    if (it->s->wait_end)
        it->s->wait_end();
}

int add_group_start(svc *s)
{
    s->adds = NULL;
    if (s->cfg->group_commit_max <= 1 || s->cfg->max_assets > 0)
        return 0;
    struct add_group *g = calloc(1, sizeof *g);
    if (!g || !(g->work = calloc(1, sizeof *g->work))) {
        free(g);
        return -1;
    }
    g->max =
        s->cfg->group_commit_max < GROUP_MAX_LIMIT ? s->cfg->group_commit_max : GROUP_MAX_LIMIT;
    pthread_mutex_init(&g->mu, NULL);
    s->adds = g;
    return 0;
}

void add_group_stop(svc *s)
{
    if (!s->adds)
        return;
    pthread_mutex_destroy(&s->adds->mu);
    free(s->adds->work);
    free(s->adds);
    s->adds = NULL;
}

void add_group_counts(svc *s, uint64_t *transactions, uint64_t *adds)
{
    *transactions = *adds = 0;
    if (!s->adds)
        return;
    pthread_mutex_lock(&s->adds->mu);
    *transactions = s->adds->transactions;
    *adds = s->adds->adds;
    pthread_mutex_unlock(&s->adds->mu);
}

/* ---- assets_add ---- */

/* The add as principal p. *stale: p was unverified (svc_authenticate_deferred) and is not
 * current any more; then nothing was written, and the answer is the one a fresh principal
 * gets. */
static asset_err add_as(svc *s, const principal *p, const asset_req *q, asset_list *out,
                        bool *stale)
{
    add_item it = {.s = s, .p = p, .overwrite = q->conflict == CONFLICT_OVERWRITE};
    asset_out *o;
    bool current = true;
    memset(out, 0, sizeof *out);
    *stale = false;
    asset_err e = assets_scope(p, q, &it.sc);
    if (e == ASSET_OK && !(out->items = o = arena_alloc(&out->mem, sizeof *o)))
        e = ASSET_OUT_OF_MEMORY;
    if (e == ASSET_OK)
        e = assets_seal_add(p, q, &it.sc, &out->mem, &it.r, &it.cols);
    if (e != ASSET_OK) {
        /* Refused before any statement ran, maybe on a state that changed since p was read. */
        asset_err ce = svc_principal_check(s, p, &current);
        *stale = ce == ASSET_OK && !current;
        e = ce != ASSET_OK ? ce : e;
        goto done;
    }
    audit_event_for(&it.ev, s, p, AUDIT_OP_ADD_ASSET, q->group.p, q->group.n, q->alias.p,
                    q->alias.n);
    store_alias_key(it.key, &it.sc, it.r.alias);
    if (s->adds) {
        group_join(s->adds, &it);
        e = it.err;
    } else {
        e = add_alone(&it);
    }
    *stale = e == ASSET_OK && it.stale;
    if (e == ASSET_OK && !*stale) {
        it.r.seq = it.w.seq;
        it.r.update_ms = it.w.update_ms;
        it.r.version = it.w.version;
        o->rec = it.r;
        o->has_group = it.sc.owner_kind == OWNER_GROUP;
        out->n = 1;
        out->replaced = !it.w.inserted;
    }
done:
    if (e != ASSET_OK || *stale)
        asset_list_free(out);
    return e;
}

asset_err assets_add(svc *s, const principal *p, const asset_req *q, asset_list *out)
{
    return assets_as_current(s, p, q, out, add_as);
}
