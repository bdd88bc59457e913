#include "store_group.h"

#include <string.h>

#include "pgparams.h"
#include "row.h"

/* Appends to *pps an array of count elements of type oid, element k written by el (the array in
 * scope as a); ARRAY appends to the function's own pg_params ps. */
#define ARRAY_TO(pps, oid, count, el)                                                              \
    do {                                                                                           \
        pg_array *a = pgp_array((pps), (oid), (count));                                            \
        for (int k = 0; k < (count); k++) {                                                        \
            el;                                                                                    \
        }                                                                                          \
    } while (0)
#define ARRAY(oid, count, el) ARRAY_TO(&ps, oid, count, el)

/* The arrays of principals refs[0..n) that STORE_INSTALLATION_CURRENT_ROWS checks, in the order
 * of the statements that take them: index, device, installation, token hash, the device's and
 * the installation's generations. */
static void principal_arrays(pg_params *pps, const store_principal_ref *refs, int n)
{
    ARRAY_TO(pps, OID_INT4, n, copybin_i32(a, k));
    ARRAY_TO(pps, OID_TEXT, n, copybin_bytes(a, refs[k].device_id, strlen(refs[k].device_id)));
    ARRAY_TO(pps, OID_INT8, n, copybin_i64(a, refs[k].installation_id));
    ARRAY_TO(pps, OID_BYTEA, n, copybin_bytes(a, refs[k].token_hash, SEAL_TOKEN_HASH_LEN));
    ARRAY_TO(pps, OID_INT8, n, copybin_i64(a, refs[k].device_generation));
    ARRAY_TO(pps, OID_INT8, n, copybin_i64(a, refs[k].installation_generation));
}

/* The lock and token check of each installation (the VOLATILE function of migration 0010 sees
 * what committed while its lock was awaited); the generations with the statement's snapshot,
 * taken when the request was already made. */
static const db_stmt st_hold = {STMT_GROUP_HOLD, "group_hold",
                                "SELECT h.k, assetd_installation_hold(h.inst, h.th) AS held, "
                                "(SELECT count(*) " STORE_INSTALLATION_CURRENT_ROWS(
                                    "h.dev::uuid", "h.inst", "h.th", "h.gd",
                                    "h.gi") ") > 0 AS "
                                            "current FROM unnest($1::int[], $2::text[], "
                                            "$3::bigint[], $4::bytea[], $5::bigint[], "
                                            "$6::bigint[]) AS h(k, dev, inst, th, gd, gi)"};

asset_err store_group_hold(db_conn *c, const store_principal_ref *refs, int n, bool *held,
                           bool *current)
{
    static const char *const names[] = {"k", "held", "current"};
    static const row_type hold_row = {names, 3};
    static row_cache cache;
    pg_params ps = {0};
    PGresult *res = NULL;
    row_reader rows;
    principal_arrays(&ps, refs, n);
    for (int k = 0; k < n; k++)
        held[k] = current[k] = false;
    asset_err e = pgp_exec(&ps, c, &st_hold, &res);
    if (e == ASSET_OK && (row_bind(&rows, res, &hold_row, &cache) != 0 || row_count(&rows) != n))
        e = ASSET_DATABASE_ERROR;
    for (int i = 0; e == ASSET_OK && i < n; i++) {
        int64_t k = -1;
        if (row_i64_checked(&rows, i, 0, &k) != 0 || k < 0 || k >= n)
            e = ASSET_DATABASE_ERROR;
        else {
            held[k] = row_bool(&rows, i, 1);
            current[k] = row_bool(&rows, i, 2);
        }
    }
    PQclear(res);
    return e;
}

/* $1 the indexes, $2..$5 the scopes, $6..$27 the rows, $28 the alias keys, $29..$33 the audit
 * events. What comes back is each row written, by its alias key. */
#define GROUP_SQL(conflict, audited)                                                               \
    "WITH i AS (SELECT * FROM unnest($1::int[], $2::text[], $3::smallint[], $4::text[], "          \
    "$5::boolean[], $6::text[], $7::smallint[], $8::boolean[], $9::smallint[], $10::smallint[], "  \
    "$11::boolean[], $12::smallint[], $13::text[], $14::text[], $15::text[], $16::text[], "        \
    "$17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], "  \
    "$24::text[], $25::bytea[], $26::bytea[], $27::int[], $28::bytea[], $29::text[], "             \
    "$30::text[], "                                                                                \
    "$31::text[], $32::text[], $33::text[]) AS t(idx, device_id, " STORE_OWNER_COLS                \
    ", " STORE_ROW_COLS ", alias_key, principal, action, adev, aowner, alias_hash)), "             \
    "a AS (INSERT INTO assets (" STORE_INSERT_COLS ") SELECT device_id::uuid, " STORE_OWNER_COLS   \
    ", " STORE_ROW_COLS ", alias_key FROM i ORDER BY alias_key " conflict                          \
    " RETURNING alias_key, seq, (extract(epoch FROM updated_at) * 1000)::bigint AS update_ms, "    \
    "(xmax = 0) AS inserted, version), "                                                           \
    "au AS (" STORE_AUDIT_INSERT(                                                                  \
        "principal", "action", "adev", "aowner", "alias_hash",                                     \
        audited) ") "                                                                              \
                 "SELECT alias_key, seq, update_ms, inserted, version FROM a"
/* The audit rows of the rows written, when some may not be. */
#define WRITTEN                                                                                    \
    "(SELECT i.idx, i.principal, i.action, i.adev, i.aowner, i.alias_hash FROM a JOIN i ON "       \
    "i.alias_key = a.alias_key) w ORDER BY idx"

/* Every row new or the statement fails (23505: DUPLICATED): no look-up before each insert, and
 * the audit rows come from the items themselves. */
static const db_stmt st_insert_new = {STMT_GROUP_INSERT_NEW, "group_insert_new",
                                      GROUP_SQL("", "i ORDER BY idx")};
static const db_stmt st_insert = {STMT_GROUP_INSERT, "group_insert",
                                  GROUP_SQL(STORE_ON_ALIAS "DO NOTHING", WRITTEN)};
static const db_stmt st_upsert = {
    STMT_GROUP_UPSERT, "group_upsert",
    GROUP_SQL(STORE_ON_ALIAS "DO UPDATE SET " STORE_UPSERT_SET, WRITTEN)};

enum { G_KEY, G_SEQ, G_UPDATE_MS, G_INSERTED, G_VERSION, NG };
static const char *const group_names[NG] = {"alias_key", "seq", "update_ms", "inserted", "version"};
static const row_type group_row = {group_names, NG};

/* Row k of a group insert: rows[pick[k]]. */
typedef struct {
    const store_group_row *rows;
    const int *pick;
} group_rows;

static const asset_record *group_row_at(const void *ctx, int k, const store_label_cols **cols)
{
    const group_rows *g = ctx;
    *cols = g->rows[g->pick[k]].cols;
    return g->rows[g->pick[k]].r;
}

asset_err store_group_insert(db_conn *c, const store_group_row *rows, const int *pick, int n,
                             batch_conflict mode, store_group_written *out)
{
    static row_cache cache[3]; /* by mode */
    pg_params ps = {0};
    PGresult *res = NULL;
    row_reader w;
#define G (&rows[pick[k]]) /* row k sent */
    ARRAY(OID_INT4, n, copybin_i32(a, pick[k]));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->sc->device_id, strlen(G->sc->device_id)));
    ARRAY(OID_INT2, n, copybin_i16(a, G->sc->owner_kind));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->sc->owner.p, G->sc->owner.n));
    ARRAY(OID_BOOL, n, copybin_bool(a, G->sc->attr_enc));
    group_rows gr = {rows, pick};
    store_row_arrays(&ps, n, group_row_at, &gr);
    ARRAY(OID_BYTEA, n, copybin_bytes(a, G->key, STORE_ALIAS_KEY_LEN));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->principal, strlen(G->ev->principal)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->action, strlen(G->ev->action)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->device_id, strlen(G->ev->device_id)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->owner, strlen(G->ev->owner)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->alias_hash, strlen(G->ev->alias_hash)));
#undef G
    for (int k = 0; k < n; k++)
        memset(&out[pick[k]], 0, sizeof out[pick[k]]);
    static const db_stmt *const stmts[] = {
        [BATCH_FAIL] = &st_insert_new, [BATCH_SKIP] = &st_insert, [BATCH_REPLACE] = &st_upsert};
    asset_err e = pgp_exec(&ps, c, stmts[mode], &res);
    if (e == ASSET_OK && row_bind(&w, res, &group_row, &cache[mode]) != 0)
        e = ASSET_DATABASE_ERROR;
    arena mem = {0}; /* the keys read back */
    for (int i = 0; e == ASSET_OK && i < row_count(&w); i++) {
        size_t len = 0;
        const unsigned char *key = NULL;
        if (row_bytea(&w, i, G_KEY, &mem, &key, &len) != 0)
            key = NULL;
        int k = 0;
        while (k < n && !(key && len == STORE_ALIAS_KEY_LEN &&
                          memcmp(rows[pick[k]].key, key, STORE_ALIAS_KEY_LEN) == 0))
            k++;
        if (k == n || out[pick[k]].written)
            e = ASSET_DATABASE_ERROR;
        else
            out[pick[k]] = (store_group_written){.written = true,
                                                 .inserted = row_bool(&w, i, G_INSERTED),
                                                 .seq = row_i64(&w, i, G_SEQ),
                                                 .update_ms = row_i64(&w, i, G_UPDATE_MS),
                                                 .version = row_i64(&w, i, G_VERSION)};
    }
    arena_free(&mem);
    PQclear(res);
    return e;
}

/* ---- reads: many GET /assets/{alias} of any callers in one statement ---- */

/* $1..$4 the reads (index, alias key, device, principal), $5..$11 the principals (index, ref,
 * whether to check it). Each principal's check runs once, in a scalar subquery (see
 * STORE_INSTALLATION_CURRENT_ROWS); the asset is looked up by its alias key and device only when
 * its principal is current, the one way the plan cannot flip (STORE_ALIAS_KEY_SQL). */
static const db_stmt st_get = {
    STMT_GROUP_GET, "group_get",
    "WITH r AS MATERIALIZED (SELECT r.j, NOT r.chk OR (SELECT "
    "count(*) " STORE_INSTALLATION_CURRENT_ROWS(
        "r.dev::uuid", "r.inst", "r.th", "r.gd",
        "r.gi") ") > 0 AS ok FROM unnest($5::int[], $6::text[], $7::bigint[], $8::bytea[], "
                "$9::bigint[], $10::bigint[], $11::boolean[]) AS r(j, dev, inst, th, gd, gi, chk)) "
                "SELECT k.gi AS get_item, r.ok AS get_current, " STORE_ASSET_COLS
                " FROM unnest($1::int[], $2::bytea[], $3::text[], $4::int[]) AS k(gi, key, dev, j) "
                "JOIN r ON r.j = k.j "
                "LEFT JOIN assets ON r.ok AND alias_key = k.key AND device_id = k.dev::uuid"};

asset_err store_group_get(db_conn *c, const store_group_key *keys, int n,
                          const store_principal_ref *refs, const bool *check, int nrefs,
                          PGresult **out)
{
    pg_params ps = {.binary_result = true};
    ARRAY(OID_INT4, n, copybin_i32(a, k));
    ARRAY(OID_BYTEA, n, copybin_bytes(a, keys[k].key, STORE_ALIAS_KEY_LEN));
    ARRAY(OID_TEXT, n, copybin_bytes(a, keys[k].device_id, strlen(keys[k].device_id)));
    ARRAY(OID_INT4, n, copybin_i32(a, keys[k].ref));
    principal_arrays(&ps, refs, nrefs);
    ARRAY(OID_BOOL, nrefs, copybin_bool(a, check[k]));
    return pgp_exec(&ps, c, &st_get, out);
}

int store_group_got(const PGresult *res, int n, int *row, bool *current, row_reader *assets)
{
    static const char *const names[] = {"get_item", "get_current"};
    static const row_type got_row = {names, 2};
    static row_cache cache, asset_cache;
    row_reader got;
    if (row_bind(&got, res, &got_row, &cache) != 0 ||
        row_bind(assets, res, &store_asset_row, &asset_cache) != 0 || row_count(&got) != n)
        return -1;
    for (int k = 0; k < n; k++)
        row[k] = -1;
    for (int i = 0; i < n; i++) {
        int64_t k = -1;
        if (row_i64_checked(&got, i, 0, &k) != 0 || k < 0 || k >= n || row[k] != -1)
            return -1;
        row[k] = i;
        current[k] = row_bool(&got, i, 1);
    }
    for (int k = 0; k < n; k++)
        if (!current[k] || row_null(assets, row[k], 0)) /* owner_kind: NOT NULL in an asset */
            row[k] = -1;
    return 0;
}

/* ---- removes: many DELETE /assets/{alias} of any callers in one statement ---- */

/* $1..$3 the removes (index, alias key, device), $4..$8 their audit events. Each asset removed
 * records its event in the same statement; a key given twice is removed once (the other finds
 * nothing, as it would after it). */
static const db_stmt st_delete = {
    STMT_GROUP_DELETE, "group_delete",
    "WITH k AS (SELECT * FROM unnest($1::int[], $2::bytea[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::text[]) AS k(gi, key, dev, principal, action, adev, aowner, "
    "alias_hash)), "
    "d AS (DELETE FROM assets USING k WHERE alias_key = k.key AND device_id = k.dev::uuid "
    "RETURNING k.gi), "
    "au AS (" STORE_AUDIT_INSERT("principal", "action", "adev", "aowner", "alias_hash",
                                 "k WHERE gi IN (SELECT gi FROM d)") ") "
                                                                     "SELECT gi FROM d"};

asset_err store_group_delete(db_conn *c, const store_group_key *keys, const audit_event *const *ev,
                             int n, bool *removed)
{
    static const char *const names[] = {"gi"};
    static const row_type deleted_row = {names, 1};
    static row_cache cache;
    pg_params ps = {0};
    PGresult *res = NULL;
    row_reader rows;
    ARRAY(OID_INT4, n, copybin_i32(a, k));
    ARRAY(OID_BYTEA, n, copybin_bytes(a, keys[k].key, STORE_ALIAS_KEY_LEN));
    ARRAY(OID_TEXT, n, copybin_bytes(a, keys[k].device_id, strlen(keys[k].device_id)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, ev[k]->principal, strlen(ev[k]->principal)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, ev[k]->action, strlen(ev[k]->action)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, ev[k]->device_id, strlen(ev[k]->device_id)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, ev[k]->owner, strlen(ev[k]->owner)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, ev[k]->alias_hash, strlen(ev[k]->alias_hash)));
    for (int k = 0; k < n; k++)
        removed[k] = false;
    asset_err e = pgp_exec(&ps, c, &st_delete, &res);
    if (e == ASSET_OK && row_bind(&rows, res, &deleted_row, &cache) != 0)
        e = ASSET_DATABASE_ERROR;
    for (int i = 0; e == ASSET_OK && i < row_count(&rows); i++) {
        int64_t k = -1;
        if (row_i64_checked(&rows, i, 0, &k) != 0 || k < 0 || k >= n || removed[k])
            e = ASSET_DATABASE_ERROR;
        else
            removed[k] = true;
    }
    PQclear(res);
    return e;
}

/* ---- updates: many PATCH /assets/{alias} of any callers in one transaction ---- */

/* $1..$3 the keys (index, alias key, device). The rows are locked in alias key order, so that
 * concurrent groups wait for each other's keys in one order. */
static const db_stmt st_lock = {
    STMT_GROUP_LOCK, "group_lock",
    "SELECT k.gi AS get_item, " STORE_ASSET_COLS
    " FROM unnest($1::int[], $2::bytea[], $3::text[]) AS k(gi, key, dev) JOIN assets ON "
    "alias_key = k.key AND device_id = k.dev::uuid ORDER BY alias_key FOR UPDATE OF assets"};

asset_err store_group_lock(db_conn *c, const store_group_key *keys, int n, PGresult **out)
{
    pg_params ps = {.binary_result = true};
    ARRAY(OID_INT4, n, copybin_i32(a, k));
    ARRAY(OID_BYTEA, n, copybin_bytes(a, keys[k].key, STORE_ALIAS_KEY_LEN));
    ARRAY(OID_TEXT, n, copybin_bytes(a, keys[k].device_id, strlen(keys[k].device_id)));
    return pgp_exec(&ps, c, &st_lock, out);
}

int store_group_locked(const PGresult *res, int n, int *row, row_reader *assets)
{
    static const char *const names[] = {"get_item"};
    static const row_type locked_row = {names, 1};
    static row_cache cache, asset_cache;
    row_reader got;
    if (row_bind(&got, res, &locked_row, &cache) != 0 ||
        row_bind(assets, res, &store_asset_row, &asset_cache) != 0 || row_count(&got) > n)
        return -1;
    for (int k = 0; k < n; k++)
        row[k] = -1;
    for (int i = 0; i < row_count(&got); i++) {
        int64_t k = -1;
        if (row_i64_checked(&got, i, 0, &k) != 0 || k < 0 || k >= n || row[k] != -1)
            return -1;
        row[k] = i;
    }
    return 0;
}

/* $1 the indexes, $2 the devices, $3 the seqs, $4..$11 the normal and local label columns,
 * $12..$14 the sealed parts and whether the update touches updated_at, $15..$19 the audit
 * events. */
static const db_stmt st_update = {
    STMT_GROUP_UPDATE, "group_update",
    "WITH u AS (SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[], "
    "$13::bytea[], $14::boolean[], $15::text[], $16::text[], $17::text[], $18::text[], "
    "$19::text[]) AS t(idx, dev, seq, n1, n2, n3, n4, l1, l2, l3, l4, labels_sealed, sealed, "
    "touch, principal, action, adev, aowner, alias_hash)), "
    "w AS (UPDATE assets a SET n1 = u.n1, n2 = u.n2, n3 = u.n3, n4 = u.n4, l1 = u.l1, l2 = u.l2, "
    "l3 = u.l3, l4 = u.l4, labels_sealed = u.labels_sealed, sealed = u.sealed, "
    "updated_at = CASE WHEN u.touch THEN now() ELSE a.updated_at END FROM u "
    "WHERE a.device_id = u.dev::uuid AND a.seq = u.seq "
    "RETURNING u.idx, (extract(epoch FROM a.updated_at) * 1000)::bigint AS update_ms, a.version, "
    "u.principal, u.action, u.adev, u.aowner, u.alias_hash), "
    "au AS (" STORE_AUDIT_INSERT("principal", "action", "adev", "aowner", "alias_hash",
                                 "w ORDER BY idx") ") "
                                                   "SELECT idx, update_ms, version FROM w"};

asset_err store_group_update(db_conn *c, const store_group_change *rows, const int *pick, int n,
                             store_group_written *out)
{
    static const char *const names[] = {"idx", "update_ms", "version"};
    static const row_type updated_row = {names, 3};
    static row_cache cache;
    pg_params ps = {0};
    PGresult *res = NULL;
    row_reader w;
#define G (&rows[pick[k]]) /* row k sent */
    ARRAY(OID_INT4, n, copybin_i32(a, pick[k]));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->device_id, strlen(G->device_id)));
    ARRAY(OID_INT8, n, copybin_i64(a, G->r->seq));
    for (int l = LABEL_NORMAL; l < ASSET_LABELS; l++)
        ARRAY(OID_TEXT, n, copybin_bytes(a, G->cols->v[l].p, G->cols->v[l].n));
    ARRAY(OID_BYTEA, n, copybin_bytes(a, G->r->labels_sealed, G->r->labels_sealed_len));
    ARRAY(OID_BYTEA, n, copybin_bytes(a, G->r->sealed, G->r->sealed_len));
    ARRAY(OID_BOOL, n, copybin_bool(a, G->touch));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->principal, strlen(G->ev->principal)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->action, strlen(G->ev->action)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->device_id, strlen(G->ev->device_id)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->owner, strlen(G->ev->owner)));
    ARRAY(OID_TEXT, n, copybin_bytes(a, G->ev->alias_hash, strlen(G->ev->alias_hash)));
#undef G
    for (int k = 0; k < n; k++)
        memset(&out[pick[k]], 0, sizeof out[pick[k]]);
    asset_err e = pgp_exec(&ps, c, &st_update, &res);
    if (e == ASSET_OK && row_bind(&w, res, &updated_row, &cache) != 0)
        e = ASSET_DATABASE_ERROR;
    for (int i = 0; e == ASSET_OK && i < row_count(&w); i++) {
        int64_t k = -1;
        if (row_i64_checked(&w, i, 0, &k) != 0 || k < 0 || out[k].written)
            e = ASSET_DATABASE_ERROR;
        else
            out[k] = (store_group_written){
                .written = true, .update_ms = row_i64(&w, i, 1), .version = row_i64(&w, i, 2)};
    }
    PQclear(res);
    return e;
}
