#include "store_challenges.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "row.h"

/* One statement of a single id parameter whose result is not read. */
static asset_err exec_id(db_conn *c, const char *sql, const char *id)
{
    PGresult *res = NULL;
    const char *vals[] = {id};
    asset_err e = db_exec(c, sql, 1, vals, NULL, NULL, &res);
    PQclear(res);
    return e;
}

asset_err store_challenge_live(db_conn *c, int64_t installation_id, long *live, int *retry_after)
{
    static const char *const names[] = {"live", "retry_after"};
    static const row_type live_row = {names, 2};
    char inst[24];
    PGresult *res = NULL;
    row_reader r;
    *live = 0;
    *retry_after = 0;
    snprintf(inst, sizeof inst, "%" PRId64, installation_id);
    const char *vals[] = {inst};
    asset_err e = exec_id(c, "SELECT 1 FROM installations WHERE id = $1 FOR UPDATE", inst);
    if (e == ASSET_OK)
        e = exec_id(c, "DELETE FROM challenges WHERE installation_id = $1 AND expires_at <= now()",
                    inst);
    if (e == ASSET_OK)
        e = db_exec(c,
                    "SELECT count(*) AS live, coalesce(ceil(extract(epoch FROM min(expires_at) - "
                    "now())), 1)::int AS retry_after FROM challenges WHERE installation_id = $1",
                    1, vals, NULL, NULL, &res);
    if (e == ASSET_OK && (row_bind(&r, res, &live_row, NULL) != 0 || row_count(&r) != 1))
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK) {
        *live = (long)row_i64(&r, 0, 0);
        *retry_after = row_int(&r, 0, 1);
        if (*retry_after < 1)
            *retry_after = 1;
    }
    PQclear(res);
    return e;
}

asset_err store_challenge_insert(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                                 int64_t installation_id, const char *asset_seqs, long validity_s,
                                 int64_t *expires_ms)
{
    static const char *const names[] = {"expires_ms"};
    static const row_type expires_row = {names, 1};
    char inst[24], validity[24];
    PGresult *res = NULL;
    row_reader r;
    *expires_ms = 0;
    snprintf(inst, sizeof inst, "%" PRId64, installation_id);
    snprintf(validity, sizeof validity, "%ld", validity_s);
    const char *vals[] = {(const char *)challenge, inst, asset_seqs, validity};
    const int lens[] = {ASSET_CHALLENGE_LEN, 0, 0, 0}, fmts[] = {1, 0, 0, 0};
    asset_err e = db_exec(c,
                          "INSERT INTO challenges (challenge, installation_id, asset_seqs, "
                          "expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4::int)) "
                          "RETURNING (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms",
                          4, vals, lens, fmts, &res);
    if (e == ASSET_OK && (row_bind(&r, res, &expires_row, NULL) != 0 || row_count(&r) != 1))
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK)
        *expires_ms = row_i64(&r, 0, 0);
    PQclear(res);
    return e;
}

enum { CH_INSTALLATION, CH_SEQS, CH_PK, CH_NCOLS };
static const char *const challenge_names[CH_NCOLS] = {"installation_id", "asset_seqs",
                                                      "user_auth_pk"};
static const row_type challenge_row = {challenge_names, CH_NCOLS};

asset_err store_challenge_get(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                              arena *a, store_challenge *out)
{
    PGresult *res = NULL;
    row_reader r;
    memset(out, 0, sizeof *out);
    const char *vals[] = {(const char *)challenge};
    const int lens[] = {ASSET_CHALLENGE_LEN}, fmts[] = {1};
    asset_err e = db_exec(c,
                          "SELECT c.installation_id, c.asset_seqs, d.user_auth_pk "
                          "FROM challenges c JOIN installations i ON i.id = c.installation_id "
                          "JOIN devices d ON d.id = i.device_id "
                          "WHERE c.challenge = $1 AND c.expires_at > now()",
                          1, vals, lens, fmts, &res);
    if (e == ASSET_OK)
        e = row_bind_one(&r, res, &challenge_row, NULL);
    if (e == ASSET_OK) {
        size_t n = 0, tl = 0, len = 0;
        const char *seqs = row_text(&r, 0, CH_SEQS, &n), *pk = row_text(&r, 0, CH_PK, &tl);
        out->installation_id = row_i64(&r, 0, CH_INSTALLATION);
        if (!(out->asset_seqs = arena_strndup(a, seqs, n)))
            e = ASSET_OUT_OF_MEMORY;
        out->has_pk = !row_null(&r, 0, CH_PK) &&
                      db_bytea_decode(out->pk, sizeof out->pk, &len, pk, tl) == 0 &&
                      len == sizeof out->pk;
    }
    PQclear(res);
    return e;
}

asset_err store_challenge_delete(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                                 int64_t installation_id)
{
    char inst[24];
    PGresult *res = NULL;
    snprintf(inst, sizeof inst, "%" PRId64, installation_id);
    const char *vals[] = {(const char *)challenge, inst};
    const int lens[] = {ASSET_CHALLENGE_LEN, 0}, fmts[] = {1, 0};
    asset_err e = db_exec(c, "DELETE FROM challenges WHERE challenge = $1 AND installation_id = $2",
                          2, vals, lens, fmts, &res);
    PQclear(res);
    return e;
}
