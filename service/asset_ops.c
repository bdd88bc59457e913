#include "asset_ops.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store/store.h"
#include "store/store_devices.h"

void asset_list_free(asset_list *l)
{
    if (!l)
        return;
    arena_free(&l->mem);
    PQclear(l->res);
    memset(l, 0, sizeof *l);
}

asset_err assets_scope(const principal *p, const asset_req *q, store_scope *sc)
{
    sc->device_id = p->device_id;
    sc->attr_enc = q->attr_enc;
    if (q->has & FBIT(F_GROUP_ID)) {
        if (!principal_in_group(p, q->group.p, q->group.n))
            return ASSET_PERMISSION_DENIED;
        sc->owner_kind = OWNER_GROUP;
        sc->owner = q->group;
    } else {
        sc->owner_kind = OWNER_APP;
        sc->owner.p = p->app_id;
        sc->owner.n = strlen(p->app_id);
    }
    return ASSET_OK;
}

/* Label columns for values v (plaintext, or blind indexes in an encrypted store). */
static void label_cols(const principal *p, bool enc, const asset_text *v, store_label_cols *cols)
{
    for (int i = 0; i < ASSET_LABELS; i++) {
        cols->v[i] = v[i];
        if (enc && v[i].p) {
            seal_blind_index(cols->hex[i], i, v[i].p, v[i].n, p->dek);
            cols->v[i].p = cols->hex[i];
            cols->v[i].n = SEAL_INDEX_HEX_LEN;
        }
    }
}

void assets_filter_cols(const principal *p, const asset_req *q, store_label_cols *cols)
{
    label_cols(p, q->attr_enc, q->labels, cols);
}

/* The data key a record was sealed with: the principal's, or an older version of it. */
static asset_err record_key(svc *s, db_conn *c, const principal *p, int version,
                            unsigned char key[SEAL_KEY_LEN])
{
    if (version == p->dek_version) {
        memcpy(key, p->dek, SEAL_KEY_LEN);
        return ASSET_OK;
    }
    return svc_device_key(s, c, p->device_id, version, key);
}

asset_err assets_open_row(svc *s, db_conn *c, const principal *p, PGresult *res, int i,
                          bool with_secret, asset_list *l, asset_out *out)
{
    row_reader rows;
    memset(out, 0, sizeof *out);
    if (store_asset_rows(&rows, res) != 0)
        return ASSET_DATA_CORRUPTED;
    return assets_open_read(s, c, p, &rows, i, with_secret, l, out);
}

asset_err assets_open_read(svc *s, db_conn *c, const principal *p, const row_reader *rows, int i,
                           bool with_secret, asset_list *l, asset_out *out)
{
    unsigned char key[SEAL_KEY_LEN], *secret = NULL;
    size_t secret_len = 0;
    memset(out, 0, sizeof *out);
    if (store_asset_decode(rows, i, &out->rec, &l->mem) != 0)
        return ASSET_DATA_CORRUPTED;
    out->has_group = out->rec.owner_kind == OWNER_GROUP;
    asset_err e = record_key(s, c, p, out->rec.key_version, key);
    if (e != ASSET_OK)
        return e;
    /* Every read checks the record's seal, so a tampered or moved row is refused even when only
     * attributes are asked for (then the tag is checked and nothing decrypted). */
    if ((out->rec.attr_enc && record_open_labels(&out->rec, &l->mem, p->device_id, key) != 0) ||
        (with_secret
             ? record_open_secret(&secret, &secret_len, &out->rec, &l->mem, p->device_id, key)
             : record_verify_secret(&out->rec, p->device_id, key)) != 0)
        e = ASSET_DATA_CORRUPTED;
    sodium_memzero(key, sizeof key);
    if (e == ASSET_OK && with_secret) {
        out->secret = secret;
        out->secret_len = secret_len;
    } else if (secret) {
        sodium_memzero(secret, secret_len);
    }
    return e;
}

asset_err assets_secret_readable(const principal *p, const asset_record *r)
{
    access_attrs acc = record_access(r);
    if (r->auth_type == AUTH_TYPE_ANY)
        return ASSET_ACCESS_DENIED;
    if (!rules_accessible(&acc, &p->state))
        return ASSET_STATUS_MISMATCH;
    return ASSET_OK;
}

asset_err assets_seal_add(const principal *p, const asset_req *q, const store_scope *sc, arena *a,
                          asset_record *r, store_label_cols *cols)
{
    if (q->is_persistent && !p->perm_persistent)
        return ASSET_PERMISSION_DENIED;
    *r = record_from_add(q, sc->owner_kind, sc->owner, p->dek_version);
    access_attrs acc = record_access(r);
    if (!rules_accessible(&acc, &p->state))
        return ASSET_STATUS_MISMATCH;
    if ((r->attr_enc && record_seal_labels(r, a, p->device_id, p->dek) != 0) ||
        record_seal_secret(r, a, q->secret, q->secret_len, p->device_id, p->dek) != 0)
        return ASSET_CRYPTO_ERROR;
    label_cols(p, r->attr_enc, r->labels, cols);
    return ASSET_OK;
}

/* ---- cursors: base64url(seq | label flag | label | MAC), the MAC keyed by the service token
 * key over the installation and the query it belongs to, so a cursor cannot be forged or
 * reused for another query or caller. ---- */

#define CURSOR_MAC_LEN 16

static void query_fingerprint(unsigned char out[SEAL_AD_LEN], const principal *p,
                              const asset_req *q)
{
    seal_ad ad;
    seal_ad_begin(&ad, "assetd.cursor.v1");
    seal_ad_u64(&ad, (uint64_t)p->installation_id);
    seal_ad_u64(&ad, q->has & ~(FBIT(F_CURSOR) | FBIT(F_LIMIT) | FBIT(F_RETURN_TYPE)));
    seal_ad_u64(&ad, q->return_type);
    seal_ad_opt(&ad, q->alias.p, q->alias.n);
    seal_ad_opt(&ad, q->group.p, q->group.n);
    for (int i = 0; i < ASSET_LABELS; i++)
        seal_ad_opt(&ad, q->labels[i].p, q->labels[i].n);
    seal_ad_u64(&ad, q->accessibility);
    seal_ad_u64(&ad, q->auth_type);
    seal_ad_u64(&ad, q->sync_type);
    seal_ad_u64(&ad, q->wrap_type);
    seal_ad_u64(&ad, q->require_password_set);
    seal_ad_u64(&ad, q->is_persistent);
    seal_ad_u64(&ad, q->attr_enc);
    seal_ad_u64(&ad, (uint64_t)(q->order_by + 1));
    seal_ad_end(&ad, out);
}

static void cursor_mac(unsigned char mac[CURSOR_MAC_LEN], svc *s, const principal *p,
                       const asset_req *q, const unsigned char *body, size_t n)
{
    unsigned char fp[SEAL_AD_LEN];
    crypto_generichash_state st;
    query_fingerprint(fp, p, q);
    crypto_generichash_init(&st, s->token_key, SEAL_KEY_LEN, CURSOR_MAC_LEN);
    crypto_generichash_update(&st, fp, sizeof fp);
    crypto_generichash_update(&st, body, n);
    crypto_generichash_final(&st, mac, CURSOR_MAC_LEN);
}

static const char *cursor_encode(svc *s, const principal *p, const asset_req *q,
                                 const asset_record *last, arena *a)
{
    asset_text lbl = q->order_by >= 0 ? last->labels[q->order_by] : (asset_text){NULL, 0};
    size_t n = 9 + lbl.n + CURSOR_MAC_LEN;
    unsigned char *raw = arena_alloc(a, n);
    if (!raw)
        return NULL;
    for (int k = 0; k < 8; k++)
        raw[k] = (unsigned char)((uint64_t)last->seq >> (8 * k));
    raw[8] = lbl.p ? 1 : 0;
    if (lbl.n)
        memcpy(raw + 9, lbl.p, lbl.n);
    cursor_mac(raw + 9 + lbl.n, s, p, q, raw, 9 + lbl.n);
    size_t tl = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = arena_alloc(a, tl);
    if (text)
        sodium_bin2base64(text, tl, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

static asset_err cursor_decode(svc *s, const principal *p, const asset_req *q, store_pos *pos,
                               arena *a)
{
    unsigned char *raw = arena_alloc(a, q->cursor.n);
    unsigned char mac[CURSOR_MAC_LEN];
    size_t n = 0;
    if (!raw)
        return ASSET_OUT_OF_MEMORY;
    if (sodium_base642bin(raw, q->cursor.n, q->cursor.p, q->cursor.n, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n < 9 + CURSOR_MAC_LEN)
        return ASSET_PARAM_VERIFICATION_FAILED;
    cursor_mac(mac, s, p, q, raw, n - CURSOR_MAC_LEN);
    if (sodium_memcmp(mac, raw + n - CURSOR_MAC_LEN, CURSOR_MAC_LEN) != 0)
        return ASSET_PARAM_VERIFICATION_FAILED;
    uint64_t seq = 0;
    for (int k = 0; k < 8; k++)
        seq |= (uint64_t)raw[k] << (8 * k);
    pos->set = true;
    pos->seq = (int64_t)seq;
    pos->label_null = raw[8] == 0;
    pos->label.p = (const char *)raw + 9;
    pos->label.n = n - 9 - CURSOR_MAC_LEN;
    return ASSET_OK;
}

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *q;
    const store_scope *sc;
    const store_label_cols *cols;
    const store_pos *pos;
    asset_list *out;
    bool stale; /* p (unverified) turned out not to be current: nothing was read */
} query_ctx;

/* An unverified principal (svc_authenticate_deferred) that is no longer current: x->stale. */
static asset_err check_principal(db_conn *c, query_ctx *x)
{
    bool current = false;
    asset_err e = svc_principal_current(c, x->p, &current);
    x->stale = e == ASSET_OK && !current;
    return e;
}

static asset_err query_fn(db_conn *c, void *arg)
{
    query_ctx *x = arg;
    svc *s = x->s;
    const principal *p = x->p;
    const asset_req *q = x->q;
    asset_list *out = x->out;
    bool with_secret = q->return_type == RETURN_ALL;
    /* A retried attempt starts afresh; the cursor (in out->mem) is decoded already. */
    PQclear(out->res);
    out->res = NULL;
    out->items = NULL;
    out->n = 0;
    out->next_cursor = NULL;
    x->stale = false;
    bool one = (q->has & FBIT(F_ALIAS)) &&
               q->has == (q->has & (FBIT(F_ALIAS) | FBIT(F_GROUP_ID) |
                                    FBIT(F_REQUIRE_ATTR_ENCRYPTED) | FBIT(F_RETURN_TYPE)));
    asset_err e = ASSET_OK;
    /* A remembered principal is checked in the lookup by alias itself (one round trip), before
     * any other select. */
    if (p->unverified && !one && ((e = check_principal(c, x)) != ASSET_OK || x->stale))
        return e;
    if (one && p->unverified) {
        store_principal_ref ref;
        svc_principal_ref(p, &ref);
        e = store_asset_get_current(c, x->sc, q->alias, &ref, &out->res);
    } else if (one) {
        e = store_asset_get(c, x->sc, q->alias, &out->res);
    } else {
        e = store_asset_select(c, x->sc, q, x->cols, x->pos, q->limit + 1, false, &out->res);
    }
    if (e != ASSET_OK)
        return e;
    int rows = PQntuples(out->res);
    /* No row for a remembered principal: no such asset, or the principal is stale. */
    if (rows == 0 && one && p->unverified && ((e = check_principal(c, x)) != ASSET_OK || x->stale))
        return e;
    if (rows == 0)
        return ASSET_NOT_FOUND;
    size_t n = (size_t)rows > (size_t)q->limit ? (size_t)q->limit : (size_t)rows;
    if (!(out->items = arena_alloc(&out->mem, n * sizeof *out->items)))
        return ASSET_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        asset_out *o = &out->items[i];
        if ((e = assets_open_row(s, c, p, out->res, (int)i, with_secret, out, o)) != ASSET_OK ||
            (with_secret && (e = assets_secret_readable(p, &o->rec)) != ASSET_OK))
            return e;
        out->n++;
    }
    if ((size_t)rows > n &&
        !(out->next_cursor = cursor_encode(s, p, q, &out->items[n - 1].rec, &out->mem)))
        return ASSET_OUT_OF_MEMORY;
    return ASSET_OK;
}

/* The query as principal p. *stale: p was unverified (svc_authenticate_deferred) and is not
 * current any more; then nothing was read, and the answer is the one a fresh principal gets. */
static asset_err query_as(svc *s, const principal *p, const asset_req *q, asset_list *out,
                          bool *stale)
{
    store_scope sc;
    store_label_cols cols;
    store_pos pos = {0};
    memset(out, 0, sizeof *out);
    *stale = false;
    asset_err e = assets_scope(p, q, &sc);
    if (e == ASSET_OK && (q->has & FBIT(F_CURSOR)))
        e = cursor_decode(s, p, q, &pos, &out->mem);
    if (e != ASSET_OK && p->unverified) {
        /* Refused before any statement ran: a revoked token is refused as such (401) first. */
        bool current = false;
        asset_err ce = svc_principal_check(s, p, &current);
        if (ce != ASSET_OK)
            e = ce;
        *stale = ce == ASSET_OK && !current;
    }
    if (e == ASSET_OK) {
        assets_filter_cols(p, q, &cols);
        query_ctx x = {.s = s, .p = p, .q = q, .sc = &sc, .cols = &cols, .pos = &pos, .out = out};
        e = db_run(s->pool, query_fn, &x);
        *stale = e == ASSET_OK && x.stale;
    }
    if (e != ASSET_OK || *stale)
        asset_list_free(out);
    return e;
}

asset_err assets_as_current(svc *s, const principal *p, const asset_req *q, asset_list *out,
                            assets_as_fn op)
{
    bool stale = false;
    asset_err e = op(s, p, q, out, &stale);
    if (stale) {
        /* Once more as the token's owner read afresh: a device state change, an uninstall or a
         * token rotation made through any instance shows here. */
        principal fresh;
        if ((e = svc_principal_refresh(s, p, &fresh)) == ASSET_OK)
            e = op(s, &fresh, q, out, &stale);
        principal_clear(&fresh);
    }
    return e;
}

asset_err assets_query(svc *s, const principal *p, const asset_req *q, asset_list *out)
{
    return assets_as_current(s, p, q, out, query_as);
}

asset_err assets_apply_update(svc *s, db_conn *c, const principal *p, const asset_req *upd,
                              asset_list *l, asset_out *o, store_label_cols *cols, bool *touch)
{
    asset_record *r = &o->rec;
    access_attrs acc = record_access(r);
    asset_err e = ASSET_OK;
    *touch = false;
    if ((upd->has & FBIT(F_SECRET)) && !rules_accessible(&acc, &p->state))
        return ASSET_STATUS_MISMATCH;
    for (int i = LABEL_NORMAL; i < ASSET_LABELS; i++)
        if (upd->has & FBIT(F_LABEL0 + i))
            r->labels[i] = upd->labels[i];
    const unsigned char *secret = upd->secret ? upd->secret : o->secret;
    size_t secret_len = upd->secret ? upd->secret_len : o->secret_len;
    unsigned char key[SEAL_KEY_LEN];
    if ((e = record_key(s, c, p, r->key_version, key)) != ASSET_OK)
        return e;
    if ((r->attr_enc && record_seal_labels(r, &l->mem, p->device_id, key) != 0) ||
        record_seal_secret(r, &l->mem, secret, secret_len, p->device_id, key) != 0)
        e = ASSET_CRYPTO_ERROR;
    sodium_memzero(key, sizeof key);
    if (e != ASSET_OK)
        return e;
    label_cols(p, r->attr_enc, r->labels, cols);
    *touch = (upd->has &
              (FBIT(F_SECRET) | (((UINT64_C(1) << 4) - 1) << (F_LABEL0 + LABEL_NORMAL)))) != 0;
    return ASSET_OK;
}

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *sel, *upd;
    const asset_precond *pre;
    store_scope sc;
    asset_list *out;
} update_ctx;

bool asset_precond_holds(const asset_precond *pre, int64_t version)
{
    if (!pre || !pre->present || pre->any)
        return true;
    for (int i = 0; i < pre->n; i++)
        if (pre->v[i] == version)
            return true;
    return false;
}

static asset_err update_tx(db_conn *c, void *arg)
{
    update_ctx *u = arg;
    const principal *p = u->p;
    const asset_req *upd = u->upd;
    asset_list *out = u->out;
    store_label_cols cols;
    int64_t ms = 0, version = 0;
    asset_err e;
    asset_list_free(out); /* a retried attempt starts afresh */
    assets_filter_cols(p, u->sel, &cols);
    if ((e = store_asset_select(c, &u->sc, u->sel, &cols, NULL, 1, true, &out->res)) != ASSET_OK)
        return e;
    if (PQntuples(out->res) != 1)
        return u->pre && u->pre->present ? ASSET_PRECONDITION_FAILED : ASSET_NOT_FOUND;
    asset_out *o = out->items = arena_alloc(&out->mem, sizeof *o);
    if (!o)
        return ASSET_OUT_OF_MEMORY;
    if ((e = assets_open_row(u->s, c, p, out->res, 0, true, out, o)) != ASSET_OK)
        return e;
    asset_record *r = &o->rec;
    /* The row is locked (FOR UPDATE) until COMMIT: check and write are one step. */
    if (!asset_precond_holds(u->pre, r->version))
        return ASSET_PRECONDITION_FAILED;
    bool touch = false;
    if ((e = assets_apply_update(u->s, c, p, upd, out, o, &cols, &touch)) != ASSET_OK)
        return e;
    audit_event ev;
    audit_event_for(&ev, u->s, p, AUDIT_OP_UPDATE_ASSET, u->sel->group.p, u->sel->group.n,
                    u->sel->alias.p, u->sel->alias.n);
    if ((e = store_asset_update(c, p->device_id, r->seq, r, &cols, touch, &ms, &version)) !=
            ASSET_OK ||
        (e = audit_append(c, &ev, "ok")) != ASSET_OK)
        return e;
    r->update_ms = ms;
    r->version = version;
    sodium_memzero((void *)o->secret, o->secret_len);
    o->secret = NULL;
    o->secret_len = 0;
    out->n = 1;
    return ASSET_OK;
}

asset_err assets_update(svc *s, const principal *p, const asset_req *sel, const asset_req *upd,
                        asset_list *out)
{
    return assets_update_if(s, p, sel, upd, NULL, out);
}

asset_err assets_update_if(svc *s, const principal *p, const asset_req *sel, const asset_req *upd,
                           const asset_precond *pre, asset_list *out)
{
    update_ctx u = {.s = s, .p = p, .sel = sel, .upd = upd, .pre = pre, .out = out};
    memset(out, 0, sizeof *out);
    asset_err e = assets_scope(p, sel, &u.sc);
    if (e == ASSET_OK)
        e = db_tx(s->pool, DB_READ_COMMITTED, update_tx, &u);
    if (e != ASSET_OK)
        asset_list_free(out);
    return e;
}

typedef struct {
    svc *s;
    const principal *p;
    const asset_req *q;
    const asset_precond *pre;
    char *versions; /* If-Match as a bigint[] literal, or NULL */
    store_scope sc;
    bool one;
    long removed;
} remove_ctx;

static asset_err remove_tx(db_conn *c, void *arg)
{
    remove_ctx *m = arg;
    store_label_cols cols;
    PGresult *res = NULL;
    m->removed = 0;
    assets_filter_cols(m->p, m->q, &cols);
    asset_err e = store_asset_delete(c, &m->sc, m->q, &cols, m->versions, &res);
    if (e != ASSET_OK)
        return e;
    m->removed = PQntuples(res);
    PQclear(res);
    if (m->removed == 0)
        return m->pre && m->pre->present ? ASSET_PRECONDITION_FAILED : ASSET_NOT_FOUND;
    /* One audit event per call, in the transaction of the removal. */
    audit_event ev;
    audit_event_for(&ev, m->s, m->p, m->one ? AUDIT_OP_DELETE_ASSET : AUDIT_OP_DELETE_ASSETS,
                    m->q->group.p, m->q->group.n, m->q->alias.p, m->q->alias.n);
    return audit_append(c, &ev, "ok");
}

asset_err assets_remove(svc *s, const principal *p, const asset_req *q, bool one, long *removed)
{
    return assets_remove_if(s, p, q, one, NULL, removed);
}

/* "{v1,v2,...}" for the versions an If-Match lists ("{}" when none: nothing matches). */
static char *versions_literal(const asset_precond *pre)
{
    size_t cap = 3 + (size_t)pre->n * 21;
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    *w++ = '{';
    for (int i = 0; i < pre->n; i++)
        w += snprintf(w, cap - (size_t)(w - out), "%s%lld", i ? "," : "", (long long)pre->v[i]);
    snprintf(w, cap - (size_t)(w - out), "}");
    return out;
}

asset_err assets_remove_if(svc *s, const principal *p, const asset_req *q, bool one,
                           const asset_precond *pre, long *removed)
{
    remove_ctx m = {.s = s, .p = p, .q = q, .pre = pre, .one = one};
    asset_err e = assets_scope(p, q, &m.sc);
    if (e == ASSET_OK && pre && pre->present && !pre->any && !(m.versions = versions_literal(pre)))
        e = ASSET_OUT_OF_MEMORY;
    if (e == ASSET_OK)
        e = db_tx(s->pool, DB_READ_COMMITTED, remove_tx, &m);
    free(m.versions);
    *removed = e == ASSET_OK ? m.removed : 0;
    return e;
}
