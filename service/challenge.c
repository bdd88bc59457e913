#include "challenge.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "store/store_challenges.h"

/* The pre-query's filters select only auth-gated assets. */
static void auth_gated(asset_req *copy, const asset_req *q)
{
    *copy = *q;
    copy->has |= FBIT(F_AUTH_TYPE);
    copy->auth_type = AUTH_TYPE_ANY;
    copy->order_by = -1;
    copy->offset = 0;
}

/* bigint[] literal of the matched assets' seqs ("{1,2,3}"), in arena memory. */
static const char *seq_list(const asset_record *recs, int n, arena *a)
{
    char *out = arena_alloc(a, (size_t)n * 21 + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%" PRId64, i ? "," : "", recs[i].seq);
    *p++ = '}';
    *p = 0;
    return out;
}

/* A pre-query: the request, and what it answers. */
typedef struct {
    const principal *p;
    const asset_req *q;
    store_scope sc;
    store_label_cols cols;
    asset_req gated;
    asset_list found; /* the matched rows (res), decoded (mem) */
    unsigned char *challenge;
    int64_t *expires_ms;
    int *retry_after;
} pre_query;

/* The auth-gated assets the pre-query matches, into x->found: NOT_FOUND (none),
 * UNSUPPORTED (too many, or more than one (accessibility, requirePasswordSet) pair: one user
 * authentication must satisfy them all), STATUS_MISMATCH (not accessible now). */
static asset_err matched(db_conn *c, pre_query *x, asset_record **recs, int *n)
{
    row_reader rows;
    asset_err e = store_asset_select(c, &x->sc, &x->gated, &x->cols, NULL, CHALLENGE_MATCH_MAX + 1,
                                     false, &x->found.res);
    *n = 0;
    if (e == ASSET_OK && store_asset_rows(&rows, x->found.res) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK)
        *n = row_count(&rows);
    if (e == ASSET_OK && *n == 0)
        e = ASSET_NOT_FOUND;
    else if (e == ASSET_OK && *n > CHALLENGE_MATCH_MAX)
        e = ASSET_UNSUPPORTED;
    if (e == ASSET_OK && !(*recs = arena_alloc(&x->found.mem, (size_t)*n * sizeof **recs)))
        e = ASSET_OUT_OF_MEMORY;
    for (int i = 0; e == ASSET_OK && i < *n; i++) {
        asset_record *r = &(*recs)[i];
        if (store_asset_decode(&rows, i, r, &x->found.mem) != 0)
            e = ASSET_DATA_CORRUPTED;
        else if (i > 0 && (r->accessibility != (*recs)[0].accessibility ||
                           r->require_password_set != (*recs)[0].require_password_set))
            e = ASSET_UNSUPPORTED;
    }
    if (e == ASSET_OK) {
        access_attrs acc = record_access(&(*recs)[0]);
        if (!rules_accessible(&acc, &x->p->state))
            e = ASSET_STATUS_MISMATCH;
    }
    return e;
}

static asset_err pre_query_tx(db_conn *c, void *arg)
{
    pre_query *x = arg;
    asset_record *recs = NULL;
    const char *seqs;
    long live = 0;
    int n = 0;
    asset_list_free(&x->found); /* a retried attempt starts afresh */
    *x->retry_after = 0;
    asset_err e = matched(c, x, &recs, &n);
    if (e == ASSET_OK)
        e = store_challenge_live(c, x->p->installation_id, &live, x->retry_after);
    if (e == ASSET_OK && live >= CHALLENGE_LIVE_MAX)
        return ASSET_LIMIT_EXCEEDED;
    if (e != ASSET_OK)
        return e;
    if (!(seqs = seq_list(recs, n, &x->found.mem)))
        return ASSET_OUT_OF_MEMORY;
    randombytes_buf(x->challenge, ASSET_CHALLENGE_LEN);
    return store_challenge_insert(c, x->challenge, x->p->installation_id, seqs, x->q->auth_validity,
                                  x->expires_ms);
}

asset_err challenge_pre_query(svc *s, const principal *p, const asset_req *q,
                              unsigned char challenge[ASSET_CHALLENGE_LEN], int64_t *expires_ms,
                              int *retry_after)
{
    pre_query x = {.p = p,
                   .q = q,
                   .challenge = challenge,
                   .expires_ms = expires_ms,
                   .retry_after = retry_after};
    *retry_after = 0;
    asset_err e = assets_scope(p, q, &x.sc);
    if (e != ASSET_OK)
        return e;
    auth_gated(&x.gated, q);
    assets_filter_cols(p, &x.gated, &x.cols);
    e = db_tx(s->pool, DB_READ_COMMITTED, pre_query_tx, &x);
    asset_list_free(&x.found);
    if (e != ASSET_OK)
        sodium_memzero(challenge, ASSET_CHALLENGE_LEN);
    return e;
}

/* The challenge's matched assets (a bigint[] literal in arena a), if it is the caller's, live,
 * and the token is the device's user-auth signature over challenge || appId. */
static asset_err check_challenge(db_conn *c, const principal *p, const asset_req *q, arena *a,
                                 const char **seqs)
{
    store_challenge ch;
    asset_err e = store_challenge_get(c, q->challenge, a, &ch);
    if (e == ASSET_NOT_FOUND ||
        (e == ASSET_OK && (ch.installation_id != p->installation_id || !ch.has_pk)))
        return ASSET_ACCESS_DENIED;
    if (e != ASSET_OK)
        return e;
    size_t app_len = strlen(p->app_id);
    unsigned char msg[ASSET_CHALLENGE_LEN + APP_ID_MAX];
    memcpy(msg, q->challenge, ASSET_CHALLENGE_LEN);
    memcpy(msg + ASSET_CHALLENGE_LEN, p->app_id, app_len);
    if (q->auth_token_len != crypto_sign_BYTES ||
        crypto_sign_verify_detached(q->auth_token, msg, ASSET_CHALLENGE_LEN + app_len, ch.pk) != 0)
        return ASSET_ACCESS_DENIED;
    *seqs = ch.asset_seqs;
    return ASSET_OK;
}

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *q;
    store_scope sc;
    store_label_cols cols;
    asset_req gated;
    asset_list *out;
} auth_query;

static asset_err query_fn(db_conn *c, void *arg)
{
    auth_query *x = arg;
    asset_list *out = x->out;
    store_pos pos = {0};
    row_reader rows;
    asset_list_free(out); /* a retried attempt starts afresh */
    asset_err e = check_challenge(c, x->p, x->q, &out->mem, &pos.only_seqs);
    if (e != ASSET_OK || (e = store_asset_select(c, &x->sc, &x->gated, &x->cols, &pos,
                                                 ASSET_LIMIT_MAX, false, &out->res)) != ASSET_OK)
        return e;
    if (store_asset_rows(&rows, out->res) != 0)
        return ASSET_DATA_CORRUPTED;
    int n = row_count(&rows);
    if (n == 0)
        return ASSET_NOT_FOUND;
    if (!(out->items = arena_alloc(&out->mem, (size_t)n * sizeof *out->items)))
        return ASSET_OUT_OF_MEMORY;
    bool with_secret = x->q->return_type == RETURN_ALL;
    for (int i = 0; i < n; i++) {
        asset_out *o = &out->items[i];
        if ((e = assets_open_row(x->s, c, x->p, out->res, i, with_secret, out, o)) != ASSET_OK)
            return e;
        access_attrs acc = record_access(&o->rec);
        if (with_secret && !rules_accessible(&acc, &x->p->state))
            return ASSET_STATUS_MISMATCH;
        out->n++;
    }
    return ASSET_OK;
}

asset_err challenge_query(svc *s, const principal *p, const asset_req *q, asset_list *out)
{
    auth_query x = {.s = s, .p = p, .q = q, .out = out};
    memset(out, 0, sizeof *out);
    asset_err e = assets_scope(p, q, &x.sc);
    if (e != ASSET_OK)
        return e;
    auth_gated(&x.gated, q);
    assets_filter_cols(p, &x.gated, &x.cols);
    e = db_run(s->pool, query_fn, &x);
    if (e != ASSET_OK)
        asset_list_free(out);
    return e;
}

typedef struct {
    const unsigned char *challenge;
    int64_t installation_id;
} post_query;

static asset_err post_query_fn(db_conn *c, void *arg)
{
    post_query *x = arg;
    return store_challenge_delete(c, x->challenge, x->installation_id);
}

asset_err challenge_post_query(svc *s, const principal *p, const asset_req *q)
{
    /* The Kit takes GROUP_ID here too: the app must belong to the group. */
    if ((q->has & FBIT(F_GROUP_ID)) && !principal_in_group(p, q->group.p, q->group.n))
        return ASSET_PERMISSION_DENIED;
    post_query x = {q->challenge, p->installation_id};
    return db_run(s->pool, post_query_fn, &x);
}
