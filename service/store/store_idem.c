#include "store_idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "row.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Expired keys of others are purged on the way, a bounded number at a time, so the table stays
 * small without a background job. */
#define CLAIM_SQL                                                                                  \
    "WITH purge AS (DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY("                         \
    "  SELECT ctid FROM idempotency_keys WHERE expires_at < now() "                                \
    "  AND NOT (principal = $1 AND key = $2) LIMIT 100 FOR UPDATE SKIP LOCKED))) "                 \
    "INSERT INTO idempotency_keys (principal, key, request_hash, lease_until, expires_at) "        \
    "VALUES ($1, $2, $3, now() + make_interval(secs => " STR(                                      \
        STORE_IDEM_LEASE_SECONDS) "), "                                                            \
                                  "now() + make_interval(hours => " STR(                           \
                                      STORE_IDEM_KEEP_HOURS) ")) "                                 \
                                                             "ON CONFLICT (principal, key) DO "    \
                                                             "UPDATE SET request_hash = "          \
                                                             "EXCLUDED.request_hash, "             \
                                                             "status = NULL, content_type = "      \
                                                             "NULL, body = NULL, location = "      \
                                                             "NULL, etag = NULL, "                 \
                                                             "lease_until = "                      \
                                                             "EXCLUDED.lease_until, expires_at = " \
                                                             "EXCLUDED.expires_at "                \
                                                             "WHERE idempotency_keys.expires_at "  \
                                                             "< now() OR "                         \
                                                             "(idempotency_keys.status IS NULL "   \
                                                             "AND idempotency_keys.lease_until < " \
                                                             "now()) "                             \
                                                             "RETURNING 1"

void store_idem_answer_free(store_idem_answer *a)
{
    if (!a)
        return;
    free(a->content_type);
    free(a->body);
    free(a->location);
    free(a->etag);
    memset(a, 0, sizeof *a);
}

asset_err store_idem_claim(db_pool *p, const char *who, const char *key,
                           const unsigned char hash[STORE_IDEM_HASH_LEN], bool *claimed)
{
    PGresult *r = NULL;
    const char *vals[] = {who, key, (const char *)hash};
    const int lens[] = {0, 0, STORE_IDEM_HASH_LEN}, fmts[] = {0, 0, 1};
    asset_err e = db_run_sql(p, CLAIM_SQL, 3, vals, lens, fmts, &r);
    *claimed = e == ASSET_OK && PQntuples(r) == 1;
    PQclear(r);
    return e;
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
    char *s = strdup(row_text(rows, 0, k, NULL));
    if (!s)
        *bad = 1;
    return s;
}

/* The answer kept (row 0), malloc'd as store_idem_answer owns it. */
static asset_err read_answer(const row_reader *rows, store_idem_answer *ans)
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
        store_idem_answer_free(ans);
    return bad == 0 ? ASSET_OK : bad == 1 ? ASSET_OUT_OF_MEMORY : ASSET_DATA_CORRUPTED;
}

asset_err store_idem_lookup(db_pool *p, const char *who, const char *key,
                            const unsigned char hash[STORE_IDEM_HASH_LEN], bool *found,
                            bool *answered, bool *same, store_idem_answer *ans)
{
    static row_cache cache;
    row_reader rows;
    PGresult *r = NULL;
    const char *vals[] = {who, key, (const char *)hash};
    const int lens[] = {0, 0, STORE_IDEM_HASH_LEN}, fmts[] = {0, 0, 1};
    *found = *answered = *same = false;
    memset(ans, 0, sizeof *ans);
    asset_err e =
        db_run_sql(p,
                   "SELECT request_hash = $3 AS same, status, content_type, body, "
                   "location, etag FROM idempotency_keys WHERE principal = $1 AND key = $2",
                   3, vals, lens, fmts, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &key_row, &cache) != 0)
        e = ASSET_DATABASE_ERROR;
    if (e == ASSET_OK && (*found = row_count(&rows) == 1)) {
        *answered = !row_null(&rows, 0, K_STATUS);
        *same = row_bool(&rows, 0, K_SAME);
        if (*answered && *same)
            e = read_answer(&rows, ans);
    }
    PQclear(r);
    return e;
}

asset_err store_idem_complete(db_pool *p, const char *who, const char *key,
                              const store_idem_answer *ans)
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
        db_run_sql(p,
                   "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5, "
                   "location = $6, etag = $7 WHERE principal = $1 AND key = $2 AND "
                   "status IS NULL",
                   7, vals, lens, fmts, &r);
    PQclear(r);
    return e;
}

asset_err store_idem_abandon(db_pool *p, const char *who, const char *key)
{
    PGresult *r = NULL;
    const char *vals[] = {who, key};
    asset_err e = db_run_sql(p,
                             "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND "
                             "status IS NULL",
                             2, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}
