#include "store_batch.h"

#include "store_audit.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element type OIDs of the arrays sent (pg_type.h). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_TEXT = 25 };

/* A one-dimensional array in PostgreSQL's binary format (array_recv): header, then each element
 * as a 4-byte length (-1 for NULL) and its bytes. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
} pgarr;

#define MAX_PARAMS 40

/* The parameters of one statement: text values borrowed from the caller, arrays owned. */
typedef struct {
    const char *vals[MAX_PARAMS];
    int lens[MAX_PARAMS], fmts[MAX_PARAMS];
    pgarr arr[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    int n;
    bool failed;
} params;

static void put(params *ps, pgarr *a, const void *p, size_t n)
{
    if (ps->failed)
        return;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n)
            cap *= 2;
        unsigned char *nb = malloc(cap);
        if (!nb) {
            ps->failed = true;
            return;
        }
        if (a->len)
            memcpy(nb, a->buf, a->len);
        if (a->buf) {
            sodium_memzero(a->buf, a->cap); /* rows hold sealed values and labels */
            free(a->buf);
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void put32(params *ps, pgarr *a, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(ps, a, b, 4);
}

/* Starts array parameter $k of n elements of type oid; returns it to fill. */
static pgarr *p_array(params *ps, uint32_t oid, int n)
{
    pgarr *a = &ps->arr[ps->n];
    ps->fmts[ps->n] = 1;
    ps->n++;
    put32(ps, a, 1);
    put32(ps, a, 0);
    put32(ps, a, oid);
    put32(ps, a, (uint32_t)n);
    put32(ps, a, 1);
    return a;
}

static void el_bytes(params *ps, pgarr *a, const void *p, size_t n)
{
    if (!p) {
        put32(ps, a, UINT32_MAX); /* -1: NULL */
        return;
    }
    put32(ps, a, (uint32_t)n);
    put(ps, a, p, n);
}

static void el_int(params *ps, pgarr *a, int size, int64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < size; k++)
        b[k] = (unsigned char)((uint64_t)v >> (8 * (size - 1 - k)));
    put32(ps, a, (uint32_t)size);
    put(ps, a, b, (size_t)size);
}

static void el_bool(params *ps, pgarr *a, bool v)
{
    unsigned char b = v ? 1 : 0;
    put32(ps, a, 1);
    put(ps, a, &b, 1);
}

/* A text parameter: binary (no terminator needed) when n >= 0, else a C string. */
static void p_text(params *ps, const char *p, long n)
{
    ps->vals[ps->n] = p;
    ps->lens[ps->n] = n >= 0 ? (int)n : 0;
    ps->fmts[ps->n] = n >= 0 ? 1 : 0;
    ps->n++;
}

static void p_int(params *ps, long long v)
{
    snprintf(ps->num[ps->n], sizeof ps->num[0], "%lld", v);
    p_text(ps, ps->num[ps->n], -1);
}

/* $1..$4: the scope. */
static void p_scope(params *ps, const store_scope *sc)
{
    p_text(ps, sc->device_id, -1);
    p_int(ps, sc->owner_kind);
    p_text(ps, sc->owner.p, (long)sc->owner.n);
    p_text(ps, sc->attr_enc ? "t" : "f", -1);
}

/* The audit columns of ev: principal, action, device (text, '' for none), owner. */
static void p_audit(params *ps, const audit_event *ev)
{
    p_text(ps, ev->principal, -1);
    p_text(ps, ev->action, -1);
    p_text(ps, ev->device_id, -1);
    p_text(ps, ev->owner, -1);
}

/* Runs prepared statement st (prepared once per connection: a batch plans nothing). */
static asset_err p_exec(params *ps, db_conn *c, const db_stmt *st, PGresult **out)
{
    asset_err e = ASSET_OUT_OF_MEMORY;
    *out = NULL;
    if (!ps->failed) {
        for (int i = 0; i < ps->n; i++)
            if (ps->arr[i].buf) {
                ps->vals[i] = (const char *)ps->arr[i].buf;
                ps->lens[i] = (int)ps->arr[i].len;
            }
        e = db_exec_stmt(c, st, ps->n, ps->vals, ps->lens, ps->fmts, out);
    }
    for (int i = 0; i < ps->n; i++)
        if (ps->arr[i].buf) {
            sodium_memzero(ps->arr[i].buf, ps->arr[i].cap);
            free(ps->arr[i].buf);
        }
    memset(ps, 0, sizeof *ps);
    return e;
}

static void p_aliases(params *ps, const asset_text *aliases, int n)
{
    pgarr *a = p_array(ps, OID_TEXT, n);
    for (int i = 0; i < n; i++)
        el_bytes(ps, a, aliases[i].p, aliases[i].n);
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
    params ps = {0};
    p_scope(&ps, sc);
    p_aliases(&ps, aliases, n);
    return p_exec(&ps, c, for_update ? &st_select_lock : &st_select, out);
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

/* Every item is new or the statement fails (23505, DUPLICATED): each one written, so the audit
 * rows come from the items themselves and nothing needs to come back but their indexes. */
static const db_stmt st_insert_new = {
    STMT_BATCH_INSERT_NEW, "batch_insert_new",
    ITEMS_SQL "), au AS (" STORE_AUDIT_INSERT("$29", "$30", "$31", "$32", "alias_hash",
                                              "i ORDER BY idx") ") SELECT idx FROM i"};
static const db_stmt st_insert = {STMT_BATCH_INSERT, "batch_insert",
                                  INSERT_SQL(STORE_ON_ALIAS "DO NOTHING")};
/* As the single upsert (store.c): every column of the row replaced, updated_at refreshed. */
static const db_stmt st_upsert = {STMT_BATCH_UPSERT, "batch_upsert",
                                  INSERT_SQL(STORE_ON_ALIAS "DO UPDATE SET " STORE_UPSERT_SET)};

asset_err store_batch_insert(db_conn *c, const store_scope *sc, const audit_event *ev,
                             const asset_record *recs, const store_label_cols *cols,
                             const char (*hashes)[65], const int *pick, int n, batch_conflict mode,
                             bool *written)
{
    static row_cache cache[3]; /* by mode */
    params ps = {0};
    PGresult *res = NULL;
    row_reader rows;
    pgarr *a;
    p_scope(&ps, sc);
    a = p_array(&ps, OID_INT4, n);
    for (int k = 0; k < n; k++)
        el_int(&ps, a, 4, pick[k]);
    a = p_array(&ps, OID_TEXT, n);
    for (int k = 0; k < n; k++)
        el_bytes(&ps, a, recs[pick[k]].alias.p, recs[pick[k]].alias.n);
#define COLUMN(oid, each)                                                                          \
    do {                                                                                           \
        a = p_array(&ps, oid, n);                                                                  \
        for (int k = 0; k < n; k++) {                                                              \
            const asset_record *r = &recs[pick[k]];                                                \
            (void)r;                                                                               \
            each;                                                                                  \
        }                                                                                          \
    } while (0)
    COLUMN(OID_INT2, el_int(&ps, a, 2, r->accessibility));
    COLUMN(OID_BOOL, el_bool(&ps, a, r->require_password_set));
    COLUMN(OID_INT2, el_int(&ps, a, 2, r->auth_type));
    COLUMN(OID_INT2, el_int(&ps, a, 2, r->sync_type));
    COLUMN(OID_BOOL, el_bool(&ps, a, r->is_persistent));
    COLUMN(OID_INT2, el_int(&ps, a, 2, r->wrap_type));
    for (int l = 0; l < ASSET_LABELS; l++)
        COLUMN(OID_TEXT, el_bytes(&ps, a, cols[pick[k]].v[l].p, cols[pick[k]].v[l].n));
    COLUMN(OID_BYTEA, el_bytes(&ps, a, r->labels_sealed, r->labels_sealed_len));
    COLUMN(OID_BYTEA, el_bytes(&ps, a, r->sealed, r->sealed_len));
    COLUMN(OID_INT4, el_int(&ps, a, 4, r->key_version));
    COLUMN(OID_TEXT, el_bytes(&ps, a, hashes[pick[k]], strlen(hashes[pick[k]])));
    p_audit(&ps, ev);
    unsigned char key[STORE_ALIAS_KEY_LEN];
    COLUMN(OID_BYTEA, (store_alias_key(key, sc, r->alias), el_bytes(&ps, a, key, sizeof key)));
    static const db_stmt *const stmts[] = {
        [BATCH_FAIL] = &st_insert_new, [BATCH_SKIP] = &st_insert, [BATCH_REPLACE] = &st_upsert};
    asset_err e = p_exec(&ps, c, stmts[mode], &res);
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
    params ps = {0};
    pgarr *a;
    a = p_array(&ps, OID_INT4, n);
    for (int k = 0; k < n; k++)
        el_int(&ps, a, 4, pick[k]);
    COLUMN(OID_INT8, el_int(&ps, a, 8, r->seq));
    for (int l = LABEL_NORMAL; l < ASSET_LABELS; l++)
        COLUMN(OID_TEXT, el_bytes(&ps, a, cols[pick[k]].v[l].p, cols[pick[k]].v[l].n));
    COLUMN(OID_BYTEA, el_bytes(&ps, a, r->labels_sealed, r->labels_sealed_len));
    COLUMN(OID_BYTEA, el_bytes(&ps, a, r->sealed, r->sealed_len));
    COLUMN(OID_BOOL, el_bool(&ps, a, touch[pick[k]]));
    COLUMN(OID_TEXT, el_bytes(&ps, a, hashes[pick[k]], strlen(hashes[pick[k]])));
#undef COLUMN
    p_audit(&ps, ev);
    return p_exec(&ps, c, &st_update, out);
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
    params ps = {0};
    PGresult *res = NULL;
    p_scope(&ps, sc);
    p_aliases(&ps, aliases, n);
    pgarr *a = p_array(&ps, OID_TEXT, n);
    for (int k = 0; k < n; k++)
        el_bytes(&ps, a, hashes[k], strlen(hashes[k]));
    p_audit(&ps, ev);
    static row_cache cache;
    row_reader rows;
    asset_err e = p_exec(&ps, c, &st_delete, &res);
    if (e == ASSET_OK &&
        (row_bind(&rows, res, &store_count_row, &cache) != 0 || row_count(&rows) != 1))
        e = ASSET_DATABASE_ERROR;
    *removed = e == ASSET_OK ? (long)row_i64(&rows, 0, 0) : 0;
    PQclear(res);
    return e;
}
