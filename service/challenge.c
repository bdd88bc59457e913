#include "challenge.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pre-query's filters select only auth-gated assets. */
static void auth_gated(asset_req *copy, const asset_req *q)
{
    *copy = *q;
    copy->has |= FBIT(F_AUTH_TYPE);
    copy->auth_type = AUTH_TYPE_ANY;
    copy->order_by = -1;
    copy->offset = 0;
}

/* bigint[] literal of the rows' seq column ("{1,2,3}"), in arena memory. */
/* The matched rows' seqs as an int8[] literal (from the decoded rows: the select's results are in
 * binary format). */
static const char *seq_list(const int64_t *seqs, int n, arena *a)
{
    char *out = arena_alloc(a, (size_t)n * 21 + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%" PRId64, i ? "," : "", seqs[i]);
    *p++ = '}';
    *p = 0;
    return out;
}

/* Under a lock of the installation row: drop its dead challenges, count the live ones. */
static asset_err live_challenges(db_conn *c, const principal *p, long *live, int *retry_after)
{
    char inst[24];
    PGresult *r = NULL;
    snprintf(inst, sizeof inst, "%" PRId64, p->installation_id);
    const char *vals[] = {inst};
    asset_err e =
        db_exec(c, "SELECT 1 FROM installations WHERE id = $1 FOR UPDATE", 1, vals, NULL, NULL, &r);
    PQclear(r);
    r = NULL;
    if (e == ASSET_OK)
        e = db_exec(c,
                    "DELETE FROM challenges WHERE installation_id = $1 AND "
                    "expires_at <= now()",
                    1, vals, NULL, NULL, &r);
    PQclear(r);
    r = NULL;
    if (e == ASSET_OK)
        e = db_exec(c,
                    "SELECT count(*), coalesce(ceil(extract(epoch FROM min(expires_at) - now())), "
                    "1)::int FROM challenges WHERE installation_id = $1",
                    1, vals, NULL, NULL, &r);
    if (e == ASSET_OK) {
        *live = atol(PQgetvalue(r, 0, 0));
        *retry_after = atoi(PQgetvalue(r, 0, 1));
        if (*retry_after < 1)
            *retry_after = 1;
    }
    PQclear(r);
    return e;
}

asset_err challenge_pre_query(svc *s, const principal *p, const asset_req *q,
                              unsigned char challenge[ASSET_CHALLENGE_LEN], int64_t *expires_ms,
                              int *retry_after)
{
    store_scope sc;
    store_label_cols cols;
    asset_req gated;
    db_conn *c = NULL;
    PGresult *res = NULL, *ins = NULL;
    arena a = {0};
    bool in_tx = false;
    long live = 0;
    *retry_after = 0;
    asset_err e = assets_scope(p, q, &sc);
    if (e != ASSET_OK)
        return e;
    auth_gated(&gated, q);
    assets_filter_cols(p, &gated, &cols);
    if ((e = db_acquire(s->pool, &c)) != ASSET_OK ||
        (e = store_asset_select(c, &sc, &gated, &cols, NULL, CHALLENGE_MATCH_MAX + 1, false,
                                &res)) != ASSET_OK)
        goto done;
    int n = PQntuples(res);
    if (n == 0) {
        e = ASSET_NOT_FOUND;
        goto done;
    }
    if (n > CHALLENGE_MATCH_MAX) {
        e = ASSET_UNSUPPORTED;
        goto done;
    }
    /* One user authentication must satisfy every matched asset. */
    asset_record first;
    row_reader rows;
    int64_t *seqv = arena_alloc(&a, (size_t)n * sizeof *seqv);
    if (!seqv) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    if (store_asset_rows(&rows, res) != 0) {
        e = ASSET_DATA_CORRUPTED;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        asset_record r;
        if (store_asset_decode(&rows, i, &r, &a) != 0) {
            e = ASSET_DATA_CORRUPTED;
            goto done;
        }
        seqv[i] = r.seq;
        if (i == 0)
            first = r;
        else if (r.accessibility != first.accessibility ||
                 r.require_password_set != first.require_password_set) {
            e = ASSET_UNSUPPORTED;
            goto done;
        }
    }
    access_attrs acc = record_access(&first);
    if (!rules_accessible(&acc, &p->state)) {
        e = ASSET_STATUS_MISMATCH;
        goto done;
    }
    if ((e = db_begin(c)) != ASSET_OK)
        goto done;
    in_tx = true;
    if ((e = live_challenges(c, p, &live, retry_after)) != ASSET_OK)
        goto done;
    if (live >= CHALLENGE_LIVE_MAX) {
        e = ASSET_LIMIT_EXCEEDED;
        goto done;
    }
    const char *seqs = seq_list(seqv, n, &a);
    char inst[24], validity[16];
    if (!seqs) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    randombytes_buf(challenge, ASSET_CHALLENGE_LEN);
    snprintf(inst, sizeof inst, "%" PRId64, p->installation_id);
    snprintf(validity, sizeof validity, "%ld", q->auth_validity);
    const char *vals[] = {(const char *)challenge, inst, seqs, validity};
    const int lens[] = {ASSET_CHALLENGE_LEN, 0, 0, 0}, fmts[] = {1, 0, 0, 0};
    if ((e = db_exec(c,
                     "INSERT INTO challenges (challenge, installation_id, asset_seqs, expires_at) "
                     "VALUES ($1, $2, $3, now() + make_interval(secs => $4::int)) "
                     "RETURNING (extract(epoch FROM expires_at) * 1000)::bigint",
                     4, vals, lens, fmts, &ins)) != ASSET_OK ||
        (e = db_commit(c)) != ASSET_OK)
        goto done;
    in_tx = false;
    *expires_ms = strtoll(PQgetvalue(ins, 0, 0), NULL, 10);
done:
    if (in_tx)
        db_rollback(c);
    db_release(s->pool, c);
    PQclear(res);
    PQclear(ins);
    arena_free(&a);
    if (e != ASSET_OK)
        sodium_memzero(challenge, ASSET_CHALLENGE_LEN);
    return e;
}

/* The challenge's matched assets, if it is the caller's, live, and the token is the device's
 * user-auth signature over challenge || appId. */
static asset_err check_challenge(db_conn *c, const principal *p, const asset_req *q, PGresult **out)
{
    PGresult *r = NULL;
    unsigned char pk[32];
    size_t pk_len = 0;
    const char *vals[] = {(const char *)q->challenge};
    const int lens[] = {ASSET_CHALLENGE_LEN}, fmts[] = {1};
    *out = NULL;
    asset_err e = db_exec(c,
                          "SELECT c.installation_id, c.asset_seqs, d.user_auth_pk "
                          "FROM challenges c JOIN installations i ON i.id = c.installation_id "
                          "JOIN devices d ON d.id = i.device_id "
                          "WHERE c.challenge = $1 AND c.expires_at > now()",
                          1, vals, lens, fmts, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1 || strtoll(PQgetvalue(r, 0, 0), NULL, 10) != p->installation_id ||
        PQgetisnull(r, 0, 2) ||
        db_bytea_decode(pk, sizeof pk, &pk_len, PQgetvalue(r, 0, 2),
                        (size_t)PQgetlength(r, 0, 2)) != 0 ||
        pk_len != sizeof pk) {
        PQclear(r);
        return ASSET_ACCESS_DENIED;
    }
    size_t app_len = strlen(p->app_id);
    unsigned char msg[ASSET_CHALLENGE_LEN + APP_ID_MAX];
    memcpy(msg, q->challenge, ASSET_CHALLENGE_LEN);
    memcpy(msg + ASSET_CHALLENGE_LEN, p->app_id, app_len);
    if (q->auth_token_len != crypto_sign_BYTES ||
        crypto_sign_verify_detached(q->auth_token, msg, ASSET_CHALLENGE_LEN + app_len, pk) != 0) {
        PQclear(r);
        return ASSET_ACCESS_DENIED;
    }
    *out = r;
    return ASSET_OK;
}

asset_err challenge_query(svc *s, const principal *p, const asset_req *q, asset_list *out)
{
    store_scope sc;
    store_label_cols cols;
    asset_req gated;
    db_conn *c = NULL;
    PGresult *ch = NULL;
    memset(out, 0, sizeof *out);
    asset_err e = assets_scope(p, q, &sc);
    if (e != ASSET_OK)
        return e;
    auth_gated(&gated, q);
    assets_filter_cols(p, &gated, &cols);
    if ((e = db_acquire(s->pool, &c)) != ASSET_OK ||
        (e = check_challenge(c, p, q, &ch)) != ASSET_OK)
        goto done;
    store_pos pos = {0};
    pos.only_seqs = PQgetvalue(ch, 0, 1);
    if ((e = store_asset_select(c, &sc, &gated, &cols, &pos, ASSET_LIMIT_MAX, false, &out->res)) !=
        ASSET_OK)
        goto done;
    int n = PQntuples(out->res);
    if (n == 0) {
        e = ASSET_NOT_FOUND;
        goto done;
    }
    if (!(out->items = arena_alloc(&out->mem, (size_t)n * sizeof *out->items))) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    bool with_secret = q->return_type == RETURN_ALL;
    for (int i = 0; i < n; i++) {
        asset_out *o = &out->items[i];
        if ((e = assets_open_row(s, c, p, out->res, i, with_secret, out, o)) != ASSET_OK)
            goto done;
        access_attrs acc = record_access(&o->rec);
        if (with_secret && !rules_accessible(&acc, &p->state)) {
            e = ASSET_STATUS_MISMATCH;
            goto done;
        }
        out->n++;
    }
done:
    db_release(s->pool, c);
    PQclear(ch);
    if (e != ASSET_OK)
        asset_list_free(out);
    return e;
}

asset_err challenge_post_query(svc *s, const principal *p, const asset_req *q)
{
    char inst[24];
    db_conn *c = NULL;
    PGresult *r = NULL;
    snprintf(inst, sizeof inst, "%" PRId64, p->installation_id);
    const char *vals[] = {(const char *)q->challenge, inst};
    const int lens[] = {ASSET_CHALLENGE_LEN, 0}, fmts[] = {1, 0};
    /* The Kit takes GROUP_ID here too: the app must belong to the group. */
    if ((q->has & FBIT(F_GROUP_ID)) && !principal_in_group(p, q->group.p, q->group.n))
        return ASSET_PERMISSION_DENIED;
    asset_err e = db_acquire(s->pool, &c);
    if (e == ASSET_OK)
        e = db_exec(c, "DELETE FROM challenges WHERE challenge = $1 AND installation_id = $2", 2,
                    vals, lens, fmts, &r);
    db_release(s->pool, c);
    PQclear(r);
    return e;
}
