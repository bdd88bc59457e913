/* idem: Idempotency-Key answers in the database (see idem.h). */
#include "idem.h"

#include "store/row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* Claim: insert, or take over a key whose answer expired, or whose first request died before
 * it answered (its lease ran out: there is no answer to keep to). Expired keys of others are
 * purged on the way, a bounded number at a time, so the table stays small without a background
 * job. */
#define CLAIM_SQL                                                                                  \
    "WITH purge AS (DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY("                         \
    "  SELECT ctid FROM idempotency_keys WHERE expires_at < now() "                                \
    "  AND NOT (principal = $1 AND key = $2) LIMIT 100 FOR UPDATE SKIP LOCKED))) "                 \
    "INSERT INTO idempotency_keys (principal, key, request_hash, lease_until, expires_at) "        \
    "VALUES ($1, $2, $3, now() + make_interval(secs => " STR(                                      \
        IDEM_LEASE_SECONDS) "), "                                                                  \
                            "now() + make_interval(hours => " STR(                                 \
                                IDEM_KEEP_HOURS) ")) "                                             \
                                                 "ON CONFLICT (principal, key) DO UPDATE SET "     \
                                                 "request_hash = EXCLUDED.request_hash, "          \
                                                 "status = NULL, content_type = NULL, body = "     \
                                                 "NULL, location = NULL, etag = NULL, "            \
                                                 "lease_until = EXCLUDED.lease_until, expires_at " \
                                                 "= EXCLUDED.expires_at "                          \
                                                 "WHERE idempotency_keys.expires_at < now() OR "   \
                                                 "(idempotency_keys.status IS NULL "               \
                                                 "AND idempotency_keys.lease_until < now()) "      \
                                                 "RETURNING 1"

void idem_answer_free(idem_answer *a)
{
    if (!a)
        return;
    free(a->content_type);
    free(a->body);
    free(a->location);
    free(a->etag);
    memset(a, 0, sizeof *a);
}

void idem_principal(char out[IDEM_PRINCIPAL_LEN], const principal *p)
{
    if (p->kind == PRINCIPAL_ADMIN)
        snprintf(out, IDEM_PRINCIPAL_LEN, "admin");
    else if (p->kind == PRINCIPAL_DEVICE)
        snprintf(out, IDEM_PRINCIPAL_LEN, "device:%s", p->device_id);
    else
        snprintf(out, IDEM_PRINCIPAL_LEN, "installation:%lld", (long long)p->installation_id);
}

void idem_hash_init(crypto_generichash_state *st, const svc *s)
{
    unsigned char key[32];
    crypto_kdf_derive_from_key(key, sizeof key, 3, "assetidm", s->token_key);
    crypto_generichash_init(st, key, sizeof key, IDEM_HASH_LEN);
    sodium_memzero(key, sizeof key);
}

void idem_hash_part(crypto_generichash_state *st, const void *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    if (n)
        crypto_generichash_update(st, p, n);
}

void idem_hash_final(crypto_generichash_state *st, unsigned char out[IDEM_HASH_LEN])
{
    crypto_generichash_final(st, out, IDEM_HASH_LEN);
}

/* A kept key, as the lookup reads it. */
enum { K_SAME, K_STATUS, K_CONTENT_TYPE, K_BODY, K_LOCATION, K_ETAG, NK };
static const char *const key_names[NK] = {"same", "status",   "content_type",
                                          "body", "location", "etag"};
static const row_type key_row = {key_names, NK};

static char *dup_col(const row_reader *rows, int k, int *bad)
{
    if (row_null(rows, 0, k))
        return NULL;
    char *p = strdup(row_text(rows, 0, k, NULL));
    if (!p)
        *bad = 1;
    return p;
}

/* The answer kept (row 0), malloc'd as idem_answer owns it. */
static asset_err read_answer(const row_reader *rows, idem_answer *ans)
{
    int bad = 0;
    arena a = {0};
    const unsigned char *body = NULL;
    ans->status = row_int(rows, 0, K_STATUS);
    ans->content_type = dup_col(rows, K_CONTENT_TYPE, &bad);
    ans->location = dup_col(rows, K_LOCATION, &bad);
    ans->etag = dup_col(rows, K_ETAG, &bad);
    if (!bad && row_bytea(rows, 0, K_BODY, &a, &body, &ans->body_len) != 0)
        bad = 2;
    if (!bad && body && !(ans->body = malloc(ans->body_len + 1)))
        bad = 1;
    if (!bad && body)
        memcpy(ans->body, body, ans->body_len);
    arena_free(&a);
    if (bad)
        idem_answer_free(ans);
    return bad == 0 ? ASSET_OK : bad == 1 ? ASSET_OUT_OF_MEMORY : ASSET_DATA_CORRUPTED;
}

asset_err idem_begin(svc *s, const char *who, const char *key,
                     const unsigned char hash[IDEM_HASH_LEN], idem_state *state, idem_answer *ans)
{
    const char *vals[] = {who, key, (const char *)hash};
    const int lens[] = {0, 0, IDEM_HASH_LEN}, fmts[] = {0, 0, 1};
    memset(ans, 0, sizeof *ans);
    *state = IDEM_IN_FLIGHT;
    /* A key abandoned between our claim and our read is claimed again (bounded). */
    for (int attempt = 0; attempt < 3; attempt++) {
        PGresult *r = NULL;
        asset_err e = db_run_sql(s->pool, CLAIM_SQL, 3, vals, lens, fmts, &r);
        if (e != ASSET_OK)
            return e;
        bool claimed = PQntuples(r) == 1;
        PQclear(r);
        r = NULL;
        if (claimed) {
            *state = IDEM_CLAIMED;
            return ASSET_OK;
        }
        static row_cache cache;
        row_reader rows;
        e = db_run_sql(s->pool,
                       "SELECT request_hash = $3 AS same, status, content_type, body, location, "
                       "etag FROM idempotency_keys WHERE principal = $1 AND key = $2",
                       3, vals, lens, fmts, &r);
        if (e != ASSET_OK)
            return e;
        bool found = false;
        if (row_bind(&rows, r, &key_row, &cache) != 0)
            e = ASSET_DATABASE_ERROR;
        else if ((found = row_count(&rows) == 1)) {
            if (row_null(&rows, 0, K_STATUS))
                *state = IDEM_IN_FLIGHT; /* no answer yet to compare with */
            else if (!row_bool(&rows, 0, K_SAME))
                *state = IDEM_MISMATCH;
            else if ((e = read_answer(&rows, ans)) == ASSET_OK)
                *state = IDEM_REPLAY;
        }
        PQclear(r);
        if (e != ASSET_OK || found)
            return e;
    }
    return ASSET_OK; /* keeps changing hands: in flight */
}

asset_err idem_complete(svc *s, const char *who, const char *key, const idem_answer *ans)
{
    char st[16];
    PGresult *r = NULL;
    snprintf(st, sizeof st, "%d", ans->status);
    const char *vals[] = {who,           key,      st, ans->content_type, (const char *)ans->body,
                          ans->location, ans->etag};
    const int lens[] = {0, 0, 0, 0, (int)ans->body_len, 0, 0};
    const int fmts[] = {0, 0, 0, 0, 1, 0, 0};
    if (!ans->body)
        vals[4] = NULL;
    asset_err e =
        db_run_sql(s->pool,
                   "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5, "
                   "location = $6, etag = $7 WHERE principal = $1 AND key = $2 AND "
                   "status IS NULL",
                   7, vals, lens, fmts, &r);
    PQclear(r);
    return e;
}

asset_err idem_abandon(svc *s, const char *who, const char *key)
{
    PGresult *r = NULL;
    const char *vals[] = {who, key};
    asset_err e = db_run_sql(s->pool,
                             "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND "
                             "status IS NULL",
                             2, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}
