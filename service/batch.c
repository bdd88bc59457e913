#include "batch.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store/store_batch.h"

void batch_result_free(batch_result *r)
{
    if (!r)
        return;
    free(r->fails);
    memset(r, 0, sizeof *r);
}

static asset_err issue(batch_issue *is, asset_err e, long index, const char *field, const char *why)
{
    is->index = index;
    is->field = field;
    snprintf(is->why, sizeof is->why, "%s", why);
    return e;
}

static bool text_eq(asset_text a, asset_text b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* The same alias twice in one batch (aliases picked from items of `stride` bytes). */
static asset_err check_unique(const asset_text *first, size_t stride, size_t n, batch_issue *is)
{
#define ALIAS_AT(i) (*(const asset_text *)((const char *)first + (i)*stride))
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (text_eq(ALIAS_AT(i), ALIAS_AT(j))) {
                issue(is, ASSET_INVALID_ARGUMENT, (long)i, "alias", "");
                snprintf(is->why, sizeof is->why, "repeats the alias of item %zu of this batch", j);
                return ASSET_INVALID_ARGUMENT;
            }
#undef ALIAS_AT
    return ASSET_OK;
}

/* The Kit's consistency check: every item like the first in the attributes that decide where
 * and how the batch is stored (absent fields have their defaults by now). */
static asset_err check_consistent(const asset_req *items, size_t n, batch_issue *is)
{
    const asset_req *a = &items[0];
    for (size_t i = 1; i < n; i++) {
        const asset_req *b = &items[i];
        const char *field = NULL;
        if ((a->has & FBIT(F_GROUP_ID)) != (b->has & FBIT(F_GROUP_ID)) ||
            !text_eq(a->group, b->group))
            field = "groupId";
        else if (a->attr_enc != b->attr_enc)
            field = "requireAttrEncrypted";
        else if (a->accessibility != b->accessibility)
            field = "accessibility";
        else if (a->require_password_set != b->require_password_set)
            field = "requirePasswordSet";
        else if (a->auth_type != b->auth_type)
            field = "authType";
        if (field)
            return issue(is, ASSET_INCONSISTENT_ATTRIBUTE, (long)i, field,
                         "differs from the first item's: the items of a batch must agree on it");
    }
    return ASSET_OK;
}

/* The alias hash of the audit log for each alias. */
static void alias_hashes(svc *s, const asset_text *first, size_t stride, size_t n, char (*out)[65])
{
    for (size_t i = 0; i < n; i++) {
        const asset_text *t = (const asset_text *)((const char *)first + i * stride);
        if (t->n)
            audit_alias_hash(out[i], s, t->p, t->n);
        else
            out[i][0] = 0;
    }
}

/* Refused items are recorded as the single operation's refusals would be (after the fact). */
static void audit_fails(svc *s, const principal *p, audit_op batch_op, asset_text group,
                        const asset_text *first, size_t stride, const batch_result *r)
{
    for (size_t k = 0; k < r->nfail; k++) {
        const asset_text *t =
            (const asset_text *)((const char *)first + r->fails[k].index * stride);
        audit_call call = {.op = audit_item_op(batch_op),
                           .refused = true,
                           .err = r->fails[k].err,
                           .alias = t->p,
                           .alias_len = t->n,
                           .group = group.p,
                           .group_len = group.n};
        audit_call_done(s, p, &call);
    }
}

/* ---- add ---- */

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *items;
    size_t n;
    store_scope sc;
    audit_event ev;
    asset_record *recs;
    store_label_cols *cols;
    char (*hashes)[65];
    int *pick;
    bool *done;
    bool some_exist; /* an alias to add without overwrite exists: skip it, don't fail */
    batch_result *out;
} add_ctx;

/* Items that would be new (their alias is not there yet) must fit under the owner's limit. */
static asset_err add_check_limit(db_conn *c, add_ctx *x)
{
    long count = 0, fresh = 0;
    PGresult *res = NULL;
    asset_text *aliases = calloc(x->n, sizeof *aliases);
    asset_err e = ASSET_OUT_OF_MEMORY;
    if (!aliases)
        return e;
    for (size_t i = 0; i < x->n; i++)
        aliases[i] = x->items[i].alias;
    if ((e = store_scope_lock(c, &x->sc)) != ASSET_OK ||
        (e = store_asset_count(c, &x->sc, &count)) != ASSET_OK ||
        (e = store_batch_select(c, &x->sc, aliases, (int)x->n, false, &res)) != ASSET_OK)
        goto done;
    fresh = (long)x->n - PQntuples(res);
    if (fresh > 0 && count + fresh > x->s->cfg->max_assets)
        e = ASSET_LIMIT_EXCEEDED;
done:
    PQclear(res);
    free(aliases);
    return e;
}

/* Writes the items with one conflict resolution; marks the ones written. */
static asset_err add_some(db_conn *c, add_ctx *x, bool overwrite)
{
    int n = 0;
    for (size_t i = 0; i < x->n; i++)
        if ((x->items[i].conflict == CONFLICT_OVERWRITE) == overwrite)
            x->pick[n++] = (int)i;
    if (n == 0)
        return ASSET_OK;
    batch_conflict mode = overwrite ? BATCH_REPLACE : x->some_exist ? BATCH_SKIP : BATCH_FAIL;
    return store_batch_insert(c, &x->sc, &x->ev, x->recs, x->cols, x->hashes, x->pick, n, mode,
                              x->done);
}

static asset_err add_tx(db_conn *c, void *arg)
{
    add_ctx *x = arg;
    asset_err e;
    x->out->nfail = 0; /* a retried attempt starts afresh */
    memset(x->done, 0, x->n * sizeof *x->done);
    /* Held against uninstall until commit, as a single add (svc_installation_hold). */
    if ((e = svc_installation_hold(c, x->p)) != ASSET_OK)
        return e;
    if (x->s->cfg->max_assets > 0 && (e = add_check_limit(c, x)) != ASSET_OK)
        return e;
    if ((e = add_some(c, x, false)) != ASSET_OK || (e = add_some(c, x, true)) != ASSET_OK)
        return e;
    for (size_t i = 0; i < x->n; i++)
        if (!x->done[i])
            x->out->fails[x->out->nfail++] = (batch_fail){i, ASSET_DUPLICATED};
    return ASSET_OK;
}

/* Whole-request checks that need no database, in the contract's order. */
static asset_err add_check(const principal *p, const asset_req *items, size_t n, store_scope *sc,
                           batch_issue *is)
{
    asset_err e = check_unique(&items[0].alias, sizeof items[0], n, is);
    if (e == ASSET_OK)
        e = check_consistent(items, n, is);
    if (e != ASSET_OK)
        return e;
    if (assets_scope(p, &items[0], sc) != ASSET_OK)
        return issue(is, ASSET_PERMISSION_DENIED, 0, "groupId", "is not a group of this app");
    for (size_t i = 0; i < n; i++)
        if (items[i].is_persistent && !p->perm_persistent)
            return issue(is, ASSET_PERMISSION_DENIED, (long)i, "isPersistent",
                         "needs the STORE_PERSISTENT_DATA permission");
    return ASSET_OK;
}

asset_err batch_add(svc *s, const principal *p, const asset_req *items, size_t n, batch_result *out,
                    batch_issue *is)
{
    add_ctx x = {.s = s, .p = p, .items = items, .n = n, .out = out};
    arena mem = {0};
    memset(out, 0, sizeof *out);
    issue(is, ASSET_OK, -1, NULL, "");
    if (n == 0 || n > BATCH_MAX)
        return issue(is, ASSET_INVALID_ARGUMENT, -1, NULL, "must hold 1 to 100 items");
    asset_err e = add_check(p, items, n, &x.sc, is);
    if (e != ASSET_OK)
        return e;
    x.recs = calloc(n, sizeof *x.recs);
    x.cols = calloc(n, sizeof *x.cols);
    x.hashes = calloc(n, sizeof *x.hashes);
    x.pick = calloc(n, sizeof *x.pick);
    x.done = calloc(n, sizeof *x.done);
    out->fails = calloc(n, sizeof *out->fails);
    if (!x.recs || !x.cols || !x.hashes || !x.pick || !x.done || !out->fails) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n && e == ASSET_OK; i++)
        if ((e = assets_seal_add(p, &items[i], &x.sc, &mem, &x.recs[i], &x.cols[i])) ==
            ASSET_STATUS_MISMATCH)
            issue(is, e, (long)i, "secret",
                  "cannot be written: the device's lock state does not allow it");
    if (e != ASSET_OK)
        goto done;
    alias_hashes(s, &items[0].alias, sizeof items[0], n, x.hashes);
    audit_event_for(&x.ev, s, p, audit_item_op(AUDIT_OP_BATCH_ADD), items[0].group.p,
                    items[0].group.n, NULL, 0);
    /* Most batches add only new aliases: first try that (each alias looked up once, by the
     * insert), and only if one exists, again skipping the existing ones. */
    if ((e = db_tx(s->pool, DB_READ_COMMITTED, add_tx, &x)) == ASSET_DUPLICATED) {
        x.some_exist = true;
        e = db_tx(s->pool, DB_READ_COMMITTED, add_tx, &x);
    }
    if (e == ASSET_LIMIT_EXCEEDED)
        issue(is, e, -1, NULL, "the batch would pass the owner's asset limit; nothing was written");
    if (e == ASSET_OK)
        audit_fails(s, p, AUDIT_OP_BATCH_ADD, items[0].group, &items[0].alias, sizeof items[0],
                    out);
done:
    arena_free(&mem);
    if (x.cols)
        sodium_memzero(x.cols, n * sizeof *x.cols);
    free(x.recs);
    free(x.cols);
    free(x.hashes);
    free(x.pick);
    free(x.done);
    if (e != ASSET_OK)
        batch_result_free(out);
    return e;
}

/* ---- update ---- */

/* Whether an opened row meets an item's extra match conditions (§4: the asset's other query
 * filters), with the meaning store.c's filters give them in SQL: equal values, and a syncType
 * that contains every bit asked for. Labels compare as opened plaintext, which is what their
 * blind index stands for in an encrypted store. */
static bool row_matches(const asset_record *r, const asset_req *q)
{
    uint64_t h = q->has;
    if (((h & FBIT(F_ACCESSIBILITY)) && r->accessibility != q->accessibility) ||
        ((h & FBIT(F_REQUIRE_PASSWORD_SET)) &&
         r->require_password_set != q->require_password_set) ||
        ((h & FBIT(F_AUTH_TYPE)) && r->auth_type != q->auth_type) ||
        ((h & FBIT(F_SYNC_TYPE)) && (r->sync_type & q->sync_type) != q->sync_type) ||
        ((h & FBIT(F_IS_PERSISTENT)) && r->is_persistent != q->is_persistent) ||
        ((h & FBIT(F_WRAP_TYPE)) && r->wrap_type != q->wrap_type))
        return false;
    for (int i = 0; i < ASSET_LABELS; i++)
        if ((h & FBIT(F_LABEL0 + i)) && (!r->labels[i].p || !text_eq(r->labels[i], q->labels[i])))
            return false;
    return true;
}

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *sels, *upds;
    size_t n;
    store_scope sc;
    audit_event ev;
    asset_text *aliases;
    char (*hashes)[65];
    asset_record *recs;
    store_label_cols *cols;
    bool *touch;
    int *pick;
    asset_list rows;
    batch_result *out;
    batch_issue *is;
} update_ctx;

/* Wipes the secrets the rows were opened with. */
static void update_forget(update_ctx *x)
{
    asset_list_free(&x->rows);
}

static asset_err update_tx(db_conn *c, void *arg)
{
    update_ctx *x = arg;
    asset_list *l = &x->rows;
    int n = 0;
    asset_err e;
    PGresult *res = NULL;
    x->out->nfail = 0; /* a retried attempt starts afresh */
    update_forget(x);
    if ((e = store_batch_select(c, &x->sc, x->aliases, (int)x->n, true, &l->res)) != ASSET_OK)
        return e;
    int rows = PQntuples(l->res);
    if (rows > 0 && !(l->items = arena_alloc(&l->mem, (size_t)rows * sizeof *l->items)))
        return ASSET_OUT_OF_MEMORY;
    for (int r = 0; r < rows; r++)
        if ((e = assets_open_row(x->s, c, x->p, l->res, r, true, l, &l->items[r])) != ASSET_OK)
            return e;
    for (size_t i = 0; i < x->n; i++) {
        asset_out *o = NULL;
        for (int r = 0; r < rows && !o; r++)
            if (text_eq(l->items[r].rec.alias, x->aliases[i]))
                o = &l->items[r];
        if (!o || !row_matches(&o->rec, &x->sels[i])) {
            x->out->fails[x->out->nfail++] = (batch_fail){i, ASSET_NOT_FOUND};
            continue;
        }
        e = assets_apply_update(x->s, c, x->p, &x->upds[i], l, o, &x->cols[i], &x->touch[i]);
        if (e == ASSET_STATUS_MISMATCH)
            issue(x->is, e, (long)i, "set.secret",
                  "cannot be written: the device's lock state does not allow it");
        if (e != ASSET_OK)
            return e;
        x->recs[i] = o->rec;
        x->pick[n++] = (int)i;
    }
    if (n > 0)
        e = store_batch_update(c, &x->ev, x->recs, x->cols, x->touch, x->hashes, x->pick, n, &res);
    PQclear(res);
    return e;
}

asset_err batch_update(svc *s, const principal *p, const asset_req *sels, const asset_req *upds,
                       size_t n, batch_result *out, batch_issue *is)
{
    update_ctx x = {.s = s, .p = p, .sels = sels, .upds = upds, .n = n, .out = out, .is = is};
    memset(out, 0, sizeof *out);
    issue(is, ASSET_OK, -1, NULL, "");
    if (n == 0 || n > BATCH_MAX)
        return issue(is, ASSET_INVALID_ARGUMENT, -1, NULL, "must hold 1 to 100 items");
    asset_err e = check_unique(&sels[0].alias, sizeof sels[0], n, is);
    if (e != ASSET_OK)
        return e;
    if (assets_scope(p, &sels[0], &x.sc) != ASSET_OK)
        return issue(is, ASSET_PERMISSION_DENIED, -1, "groupId", "is not a group of this app");
    x.aliases = calloc(n, sizeof *x.aliases);
    x.hashes = calloc(n, sizeof *x.hashes);
    x.recs = calloc(n, sizeof *x.recs);
    x.cols = calloc(n, sizeof *x.cols);
    x.touch = calloc(n, sizeof *x.touch);
    x.pick = calloc(n, sizeof *x.pick);
    out->fails = calloc(n, sizeof *out->fails);
    if (!x.aliases || !x.hashes || !x.recs || !x.cols || !x.touch || !x.pick || !out->fails) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        x.aliases[i] = sels[i].alias;
    alias_hashes(s, x.aliases, sizeof *x.aliases, n, x.hashes);
    audit_event_for(&x.ev, s, p, audit_item_op(AUDIT_OP_BATCH_UPDATE), sels[0].group.p,
                    sels[0].group.n, NULL, 0);
    e = db_tx(s->pool, DB_READ_COMMITTED, update_tx, &x);
    if (e == ASSET_OK)
        audit_fails(s, p, AUDIT_OP_BATCH_UPDATE, sels[0].group, x.aliases, sizeof *x.aliases, out);
done:
    update_forget(&x);
    if (x.cols)
        sodium_memzero(x.cols, n * sizeof *x.cols);
    free(x.aliases);
    free(x.hashes);
    free(x.recs);
    free(x.cols);
    free(x.touch);
    free(x.pick);
    if (e != ASSET_OK)
        batch_result_free(out);
    return e;
}

/* ---- remove ---- */

typedef struct {
    store_scope sc;
    audit_event ev;
    const asset_text *aliases;
    char (*hashes)[65];
    size_t n;
    long removed;
} remove_ctx;

static asset_err remove_tx(db_conn *c, void *arg)
{
    remove_ctx *x = arg;
    return store_batch_delete(c, &x->sc, &x->ev, x->aliases, x->hashes, (int)x->n, &x->removed);
}

asset_err batch_remove(svc *s, const principal *p, const asset_req *sel, const asset_text *aliases,
                       size_t n, long *removed, batch_issue *is)
{
    remove_ctx x = {.aliases = aliases, .n = n};
    *removed = 0;
    issue(is, ASSET_OK, -1, NULL, "");
    if (n == 0 || n > BATCH_MAX)
        return issue(is, ASSET_INVALID_ARGUMENT, -1, NULL, "must hold 1 to 100 items");
    asset_err e = check_unique(aliases, sizeof *aliases, n, is);
    is->field = NULL; /* the item is the alias */
    if (e != ASSET_OK)
        return e;
    if (assets_scope(p, sel, &x.sc) != ASSET_OK)
        return issue(is, ASSET_PERMISSION_DENIED, -1, "groupId", "is not a group of this app");
    if (!(x.hashes = calloc(n, sizeof *x.hashes)))
        return ASSET_OUT_OF_MEMORY;
    alias_hashes(s, aliases, sizeof *aliases, n, x.hashes);
    /* One audit row per asset removed, as DELETE /assets/{alias} records it. */
    audit_event_for(&x.ev, s, p, audit_item_op(AUDIT_OP_BATCH_REMOVE), sel->group.p, sel->group.n,
                    NULL, 0);
    e = db_tx(s->pool, DB_READ_COMMITTED, remove_tx, &x);
    if (e == ASSET_OK)
        *removed = x.removed;
    free(x.hashes);
    return e;
}
