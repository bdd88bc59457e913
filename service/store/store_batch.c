#include "store_batch.h"

#include "copybin.h"
#include "pgparams.h"
#include "store_audit.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1..$4: the scope. */
static void p_scope(pg_params *ps, const store_scope *sc)
{
    pgp_text(ps, sc->device_id, -1);
    pgp_int(ps, sc->owner_kind);
    pgp_text(ps, sc->owner.p, (long)sc->owner.n);
    pgp_text(ps, sc->attr_enc ? "t" : "f", -1);
}

/* The audit columns of ev: principal, action, device (text, '' for none), owner. */
static void p_audit(pg_params *ps, const audit_event *ev)
{
    pgp_text(ps, ev->principal, -1);
    pgp_text(ps, ev->action, -1);
    pgp_text(ps, ev->device_id, -1);
    pgp_text(ps, ev->owner, -1);
}

static void p_aliases(pg_params *ps, const asset_text *aliases, int n)
{
    pg_array *a = pgp_array(ps, OID_TEXT, n);
    for (int i = 0; i < n; i++)
        copybin_bytes(a, aliases[i].p, aliases[i].n);
}

/* The rows of aliases $5 in scope $1..$4: through the alias key, as every lookup by alias. */
#define BY_ALIASES                                                                                 \
    "SELECT " STORE_ASSET_COLS " FROM assets WHERE device_id = $1::uuid AND alias_key = ANY "      \
    "(ARRAY(SELECT " ALIAS_KEY_SQL("$1", "$2", "$3", "$4", "u.a") " FROM unnest($5::text[]) "      \
                                                                  "AS u(a))) ORDER BY seq"
static const db_stmt st_select = {STMT_BATCH_SELECT, "batch_select", BY_ALIASES};
static const db_stmt st_select_lock = {STMT_BATCH_SELECT_LOCK, "batch_select_lock",
                                       BY_ALIASES " FOR UPDATE"};

asset_err store_batch_select(db_conn *c, const store_scope *sc, const asset_text *aliases, int n,
                             bool for_update, PGresult **out)
{
    pg_params ps = {0};
    p_scope(&ps, sc);
    p_aliases(&ps, aliases, n);
    return pgp_exec(&ps, c, for_update ? &st_select_lock : &st_select, out);
}

#define ROW_COLS STORE_ROW_COLS

/* What an insert returns: one row per item written. */
static const char *const written_names[] = {"idx"};
static const row_type written_row = {written_names, 1};

/* $1..$4 scope, $5..$28 the items, $29..$32 the audit columns, $33 the items' alias keys. */
#define ITEMS_SQL                                                                                  \
    "WITH i AS (SELECT * FROM unnest($5::int[], $6::text[], $7::smallint[], $8::boolean[], "       \
    "$9::smallint[], $10::smallint[], $11::boolean[], $12::smallint[], $13::text[], $14::text[], " \
    "$15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], "  \
    "$22::text[], $23::text[], $24::text[], $25::bytea[], $26::bytea[], $27::int[], $28::text[], " \
    "$33::bytea[]) AS t(idx, " ROW_COLS ", alias_hash, alias_key)), "                              \
    "a AS (INSERT INTO assets (" STORE_INSERT_COLS ") "                                            \
    "SELECT $1::uuid, $2::smallint, $3::text, $4::boolean, " ROW_COLS ", alias_key "               \
    "FROM i ORDER BY idx "
#define INSERT_SQL(conflict)                                                                       \
    ITEMS_SQL conflict                                                                             \
        " RETURNING alias, seq, (extract(epoch FROM updated_at) * 1000)::bigint AS ms, "           \
        "(xmax = 0) AS inserted), "                                                                \
        "r AS (SELECT i.idx, a.seq, a.ms, a.inserted, i.alias_hash FROM a JOIN i ON i.alias = "    \
        "a.alias), "                                                                               \
        "au AS (" STORE_AUDIT_INSERT(                                                              \
            "$29", "$30", "$31", "$32", "alias_hash",                                              \
            "r ORDER BY idx") ") "                                                                 \
                              "SELECT idx, seq, ms, inserted FROM r ORDER BY idx"

static const db_stmt st_insert = {STMT_BATCH_INSERT, "batch_insert",
                                  INSERT_SQL(STORE_ON_ALIAS "DO NOTHING")};
/* As the single upsert (store.c): every column of the row replaced, updated_at refreshed. */
static const db_stmt st_upsert = {STMT_BATCH_UPSERT, "batch_upsert",
                                  INSERT_SQL(STORE_ON_ALIAS "DO UPDATE SET " STORE_UPSERT_SET)};

void store_row_arrays(pg_params *ps, int n, store_row_at row, const void *ctx)
{
    const store_label_cols *cols;
#define ROW_COLUMN(oid, each)                                                                      \
    do {                                                                                           \
        pg_array *a = pgp_array(ps, oid, n);                                                       \
        for (int k = 0; k < n; k++) {                                                              \
            const asset_record *r = row(ctx, k, &cols);                                            \
            each;                                                                                  \
        }                                                                                          \
    } while (0)
    ROW_COLUMN(OID_TEXT, copybin_bytes(a, r->alias.p, r->alias.n));
    ROW_COLUMN(OID_INT2, copybin_i16(a, r->accessibility));
    ROW_COLUMN(OID_BOOL, copybin_bool(a, r->require_password_set));
    ROW_COLUMN(OID_INT2, copybin_i16(a, r->auth_type));
    ROW_COLUMN(OID_INT2, copybin_i16(a, r->sync_type));
    ROW_COLUMN(OID_BOOL, copybin_bool(a, r->is_persistent));
    ROW_COLUMN(OID_INT2, copybin_i16(a, r->wrap_type));
    for (int l = 0; l < ASSET_LABELS; l++)
        ROW_COLUMN(OID_TEXT, ((void)r, copybin_bytes(a, cols->v[l].p, cols->v[l].n)));
    ROW_COLUMN(OID_BYTEA, copybin_bytes(a, r->labels_sealed, r->labels_sealed_len));
    ROW_COLUMN(OID_BYTEA, copybin_bytes(a, r->sealed, r->sealed_len));
    ROW_COLUMN(OID_INT4, copybin_i32(a, r->key_version));
#undef ROW_COLUMN
}

void store_copy_asset_row(copybin *b, const unsigned char device[16], const store_scope *sc,
                          const asset_record *r, const store_label_cols *cols)
{
    unsigned char key[STORE_ALIAS_KEY_LEN];
    store_alias_key(key, sc, r->alias);
    copybin_row(b, 27);
    copybin_bytes(b, device, 16);
    copybin_i16(b, sc->owner_kind);
    copybin_bytes(b, sc->owner.p, sc->owner.n);
    copybin_bool(b, sc->attr_enc);
    copybin_bytes(b, r->alias.p, r->alias.n);
    copybin_i16(b, r->accessibility);
    copybin_bool(b, r->require_password_set);
    copybin_i16(b, r->auth_type);
    copybin_i16(b, r->sync_type);
    copybin_bool(b, r->is_persistent);
    copybin_i16(b, r->wrap_type);
    for (int l = 0; l < ASSET_LABELS; l++)
        copybin_bytes(b, cols->v[l].p, cols->v[l].n);
    copybin_bytes(b, r->labels_sealed, r->labels_sealed_len);
    copybin_bytes(b, r->sealed, r->sealed_len);
    copybin_i32(b, r->key_version);
    copybin_bytes(b, key, sizeof key);
}

/* A text field of an audit row that is NULL when empty (STORE_AUDIT_INSERT's NULLIF). */
static void audit_opt(copybin *b, const char *v)
{
    copybin_bytes(b, v[0] ? v : NULL, strlen(v));
}

/* The audit rows of the items written: STORE_AUDIT_INSERT's, one per item, in their order. */
static asset_err copy_audit_rows(db_conn *c, const audit_event *ev, const char (*hashes)[65],
                                 const int *pick, int n)
{
    copybin b;
    unsigned char device[16];
    bool has_device = ev->device_id[0] != 0;
    if (has_device && copybin_uuid_bytes(device, ev->device_id) != 0)
        return ASSET_DATABASE_ERROR; /* as in insert_new */
    copybin_init(&b, (size_t)n * 128);
    for (int k = 0; k < n; k++) {
        copybin_row(&b, 6);
        copybin_bytes(&b, ev->principal, strlen(ev->principal));
        copybin_bytes(&b, ev->action, strlen(ev->action));
        copybin_bytes(&b, has_device ? device : NULL, sizeof device);
        audit_opt(&b, ev->owner);
        audit_opt(&b, hashes[pick[k]]);
        copybin_bytes(&b, "ok", 2);
    }
    asset_err e =
        copybin_send(&b, c, "COPY audit_log (" STORE_AUDIT_COLS ") FROM STDIN (FORMAT binary)");
    copybin_free(&b);
    return e;
}

/* A batch row with its 1 KiB sealed secret, alias and owner: about this many bytes. */
#define COPY_ROW_HINT 1280

/* BATCH_FAIL: every item is new, or an alias that exists fails the COPY (23505: DUPLICATED, the
 * transaction aborted). COPY rather than an INSERT from unnest: PostgreSQL writes the rows in
 * bulk (one WAL record per heap page, not per row) with no function scan, materialized CTE or
 * sort in between, a quarter fewer of its instructions per asset. */
static asset_err insert_new(db_conn *c, const store_scope *sc, const audit_event *ev,
                            const asset_record *recs, const store_label_cols *cols,
                            const char (*hashes)[65], const int *pick, int n, bool *written)
{
    copybin b;
    unsigned char device[16];
    if (copybin_uuid_bytes(device, sc->device_id) != 0)
        return ASSET_DATABASE_ERROR; /* as PostgreSQL would refuse it (a principal's never is) */
    copybin_init(&b, (size_t)n * COPY_ROW_HINT);
    for (int k = 0; k < n; k++)
        store_copy_asset_row(&b, device, sc, &recs[pick[k]], &cols[pick[k]]);
    asset_err e =
        copybin_send(&b, c, "COPY assets (" STORE_INSERT_COLS ") FROM STDIN (FORMAT binary)");
    copybin_free(&b);
    if (e == ASSET_OK)
        e = copy_audit_rows(c, ev, hashes, pick, n);
    for (int k = 0; e == ASSET_OK && k < n; k++)
        written[pick[k]] = true;
    return e;
}

/* Row k of a batch insert: recs[pick[k]], with cols[pick[k]]. */
typedef struct {
    const asset_record *recs;
    const store_label_cols *cols;
    const int *pick;
} batch_rows;

static const asset_record *batch_row(const void *ctx, int k, const store_label_cols **cols)
{
    const batch_rows *b = ctx;
    *cols = &b->cols[b->pick[k]];
    return &b->recs[b->pick[k]];
}

asset_err store_batch_insert(db_conn *c, const store_scope *sc, const audit_event *ev,
                             const asset_record *recs, const store_label_cols *cols,
                             const char (*hashes)[65], const int *pick, int n, batch_conflict mode,
                             bool *written)
{
    static row_cache cache[3]; /* by mode */
    if (mode == BATCH_FAIL)
        return insert_new(c, sc, ev, recs, cols, hashes, pick, n, written);
    pg_params ps = {0};
    PGresult *res = NULL;
    row_reader rows;
    pg_array *a;
    p_scope(&ps, sc);
    a = pgp_array(&ps, OID_INT4, n);
    for (int k = 0; k < n; k++)
        copybin_i32(a, pick[k]);
    batch_rows br = {recs, cols, pick};
    store_row_arrays(&ps, n, batch_row, &br);
#define COLUMN(oid, each)                                                                          \
    do {                                                                                           \
        a = pgp_array(&ps, oid, n);                                                                \
        for (int k = 0; k < n; k++) {                                                              \
            const asset_record *r = &recs[pick[k]];                                                \
            (void)r;                                                                               \
            each;                                                                                  \
        }                                                                                          \
    } while (0)
    COLUMN(OID_TEXT, copybin_bytes(a, hashes[pick[k]], strlen(hashes[pick[k]])));
    p_audit(&ps, ev);
    unsigned char key[STORE_ALIAS_KEY_LEN];
    COLUMN(OID_BYTEA, (store_alias_key(key, sc, r->alias), copybin_bytes(a, key, sizeof key)));
    asset_err e = pgp_exec(&ps, c, mode == BATCH_SKIP ? &st_insert : &st_upsert, &res);
    if (e == ASSET_OK && row_bind(&rows, res, &written_row, &cache[mode]) != 0)
        e = ASSET_DATABASE_ERROR;
    int top = 0; /* the indexes sent: written[] has room for them */
    for (int k = 0; k < n; k++)
        top = pick[k] > top ? pick[k] : top;
    for (int r = 0; e == ASSET_OK && r < row_count(&rows); r++) {
        int64_t idx = -1;
        if (row_i64_checked(&rows, r, 0, &idx) != 0 || idx < 0 || idx > top)
            e = ASSET_DATABASE_ERROR;
        else
            written[idx] = true;
    }
    PQclear(res);
    return e;
}

/* $1..$14 the items, $15..$18 the audit columns. */
static const db_stmt st_update = {
    STMT_BATCH_UPDATE, "batch_update",
    "WITH u AS (SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[], "
    "$13::boolean[], $14::text[]) AS t(idx, seq, n1, n2, n3, n4, l1, l2, l3, l4, labels_sealed, "
    "sealed, touch, alias_hash)), "
    "w AS (UPDATE assets a SET n1 = u.n1, n2 = u.n2, n3 = u.n3, n4 = u.n4, l1 = u.l1, l2 = u.l2, "
    "l3 = u.l3, l4 = u.l4, labels_sealed = u.labels_sealed, sealed = u.sealed, "
    "updated_at = CASE WHEN u.touch THEN now() ELSE a.updated_at END FROM u "
    "WHERE a.device_id = $17::text::uuid AND a.seq = u.seq "
    "RETURNING u.idx, a.seq, (extract(epoch FROM a.updated_at) * 1000)::bigint AS ms, "
    "u.alias_hash), "
    "au AS (" STORE_AUDIT_INSERT("$15", "$16", "$17", "$18", "alias_hash",
                                 "w ORDER BY idx") ") "
                                                   "SELECT seq, ms FROM w ORDER BY idx"};

asset_err store_batch_update(db_conn *c, const audit_event *ev, const asset_record *recs,
                             const store_label_cols *cols, const bool *touch,
                             const char (*hashes)[65], const int *pick, int n, PGresult **out)
{
    pg_params ps = {0};
    pg_array *a;
    a = pgp_array(&ps, OID_INT4, n);
    for (int k = 0; k < n; k++)
        copybin_i32(a, pick[k]);
    COLUMN(OID_INT8, copybin_i64(a, r->seq));
    for (int l = LABEL_NORMAL; l < ASSET_LABELS; l++)
        COLUMN(OID_TEXT, copybin_bytes(a, cols[pick[k]].v[l].p, cols[pick[k]].v[l].n));
    COLUMN(OID_BYTEA, copybin_bytes(a, r->labels_sealed, r->labels_sealed_len));
    COLUMN(OID_BYTEA, copybin_bytes(a, r->sealed, r->sealed_len));
    COLUMN(OID_BOOL, copybin_bool(a, touch[pick[k]]));
    COLUMN(OID_TEXT, copybin_bytes(a, hashes[pick[k]], strlen(hashes[pick[k]])));
#undef COLUMN
    p_audit(&ps, ev);
    return pgp_exec(&ps, c, &st_update, out);
}

/* $1..$4 scope, $5..$6 the items, $7..$10 the audit columns. */
static const db_stmt st_delete = {
    STMT_BATCH_DELETE, "batch_delete",
    "WITH i AS (SELECT * FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS t(alias, "
    "alias_hash, idx)), "
    "d AS (DELETE FROM assets a USING i WHERE a.device_id = $1::uuid AND "
    "a.alias_key = " ALIAS_KEY_SQL("$1", "$2", "$3", "$4",
                                   "i.alias") " "
                                              "RETURNING i.idx, i.alias_hash), "
                                              "au AS (" STORE_AUDIT_INSERT(
                                                  "$7", "$8", "$9", "$10", "alias_hash",
                                                  "d ORDER BY idx") ") "
                                                                    "SELECT count(*) AS n FROM d"};

asset_err store_batch_delete(db_conn *c, const store_scope *sc, const audit_event *ev,
                             const asset_text *aliases, const char (*hashes)[65], int n,
                             long *removed)
{
    pg_params ps = {0};
    PGresult *res = NULL;
    p_scope(&ps, sc);
    p_aliases(&ps, aliases, n);
    pg_array *a = pgp_array(&ps, OID_TEXT, n);
    for (int k = 0; k < n; k++)
        copybin_bytes(a, hashes[k], strlen(hashes[k]));
    p_audit(&ps, ev);
    static row_cache cache;
    row_reader rows;
    asset_err e = pgp_exec(&ps, c, &st_delete, &res);
    if (e == ASSET_OK &&
        (row_bind(&rows, res, &store_count_row, &cache) != 0 || row_count(&rows) != 1))
        e = ASSET_DATABASE_ERROR;
    *removed = e == ASSET_OK ? (long)row_i64(&rows, 0, 0) : 0;
    PQclear(res);
    return e;
}
