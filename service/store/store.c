#include "store.h"

#include <sodium.h>

#include "sqlbuf.h"
#include "store_audit.h"
#include "store_devices.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSET_COLS STORE_ASSET_COLS

/* The columns store_asset_decode reads. The first ones (up to COL_SHARED) are also those of a
 * backup record (store_backup_row), at the same indexes, so one function decodes both. */
enum {
    COL_OWNER_KIND,
    COL_OWNER,
    COL_ATTR_ENC,
    COL_ALIAS,
    COL_ACCESSIBILITY,
    COL_REQ_PWD,
    COL_AUTH_TYPE,
    COL_SYNC_TYPE,
    COL_PERSISTENT,
    COL_WRAP_TYPE,
    COL_LABELS_SEALED,
    COL_SEALED,
    COL_SHARED,
    COL_SEQ = COL_SHARED,
    COL_LABEL0, /* ASSET_LABELS label columns, in label index order */
    COL_KEY_VERSION = COL_LABEL0 + ASSET_LABELS,
    COL_UPDATE_MS,
    COL_VERSION,
    NCOLS,
    COL_ORDINAL = COL_SHARED, /* of a backup record */
    NBACKUP_COLS
};

#define SHARED_NAMES                                                                               \
    "owner_kind", "owner", "attr_enc", "alias", "accessibility", "req_pwd", "auth_type",           \
        "sync_type", "persistent", "wrap_type", "labels_sealed", "sealed"

static const char *const asset_col_names[NCOLS] = {
    SHARED_NAMES, "seq", "c1", "c2", "c3", "c4",          "n1",        "n2",     "n3",
    "n4",         "l1",  "l2", "l3", "l4", "key_version", "update_ms", "version"};
static const char *const backup_col_names[NBACKUP_COLS] = {SHARED_NAMES, "ordinal"};

/* The label columns by label index (the names of the row type). */
static const char *const *const label_cols = &asset_col_names[COL_LABEL0];

/* The decimal digits of v at p; returns the end. */
static char *put_decimal(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = tmp[--n];
    return p;
}

void store_alias_key(unsigned char out[STORE_ALIAS_KEY_LEN], const store_scope *sc,
                     asset_text alias)
{
    crypto_hash_sha256_state st;
    char head[96], *h = head;
    size_t chars = 0; /* PostgreSQL's length(): characters, not bytes */
    for (size_t i = 0; i < sc->owner.n; i++)
        chars += ((unsigned char)sc->owner.p[i] & 0xc0) != 0x80;
    /* "<device>/<kind>/<true|false>/<chars>:" by hand: snprintf was a few per cent of a restored
     * record's time in assetd. The device is a uuid's text (36 bytes). */
    size_t dl = strnlen(sc->device_id, 40);
    memcpy(h, sc->device_id, dl);
    h += dl;
    *h++ = '/';
    if (sc->owner_kind < 0)
        *h++ = '-'; /* never written (0 or 1), but spelled as PostgreSQL would */
    h = put_decimal(h, sc->owner_kind < 0 ? -(unsigned long)sc->owner_kind
                                          : (unsigned long)sc->owner_kind);
    memcpy(h, sc->attr_enc ? "/true/" : "/false/", sc->attr_enc ? 6 : 7);
    h += sc->attr_enc ? 6 : 7;
    h = put_decimal(h, chars);
    *h++ = ':';
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)head, (unsigned long long)(h - head));
    crypto_hash_sha256_update(&st, (const unsigned char *)sc->owner.p, sc->owner.n);
    crypto_hash_sha256_update(&st, (const unsigned char *)alias.p, alias.n);
    crypto_hash_sha256_final(&st, out);
}

/* $1..$26: the row (row_params); $27..$31: the audit event (audit_params);
 * $32: the alias key. */
#define INSERT_SQL                                                                                 \
    "INSERT INTO assets (" STORE_INSERT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "          \
    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, "         \
    "$26, $32) " STORE_ON_ALIAS
#define INSERT_PARAMS 26
#define AUDIT_PARAMS 5

/* Each add records itself in the audit log in the same statement, so in the same transaction;
 * the event (who, which action) is the caller's, as audit.c's policy made it. */
#define AUDITED(insert)                                                                            \
    "WITH a AS (" insert                                                                           \
    "), au AS (" STORE_AUDIT_INSERT("$27", "$28", "$29", "$30", "$31", "a") ") SELECT * FROM a"
#define RETURNING(inserted)                                                                        \
    " RETURNING seq, (extract(epoch FROM updated_at) * 1000)::bigint AS update_ms, " inserted      \
    " AS inserted, version"

static const db_stmt st_insert = {STMT_ASSET_INSERT, "asset_insert",
                                  AUDITED(INSERT_SQL "DO NOTHING" RETURNING("true"))};
static const db_stmt st_upsert = {
    STMT_ASSET_UPSERT, "asset_upsert",
    AUDITED(INSERT_SQL "DO UPDATE SET " STORE_UPSERT_SET RETURNING("(xmax = 0)"))};
/* The GET path's lookups: $1 the device, $2 the alias key as store_alias_key computes it (bytes,
 * a binary parameter), which implies the whole scope. PostgreSQL hashing the key in SQL
 * (ALIAS_KEY_SQL) was about a fifth of the statement's time. Results in binary format: the
 * sealed value arrives as its bytes, not as hex (row.c reads either). */
#define GET_SQL "SELECT " ASSET_COLS " FROM assets WHERE alias_key = $2 AND device_id = $1"
static const db_stmt st_get = {STMT_ASSET_GET, "asset_get", GET_SQL};
/* asset_get, for a remembered installation principal ($3 installation, $4 token hash, $5 and $6
 * the device's and the installation's generations): the row only while that principal is still
 * current, checked in this same statement (no row otherwise: store_principal_current tells a
 * missing asset from a stale principal). */
static const db_stmt st_get_current = {
    STMT_ASSET_GET_CURRENT, "asset_get_current",
    GET_SQL " AND " STORE_INSTALLATION_CURRENT("$1", "$3", "$4", "$5", "$6")};
static const db_stmt st_update = {
    STMT_ASSET_UPDATE, "asset_update",
    "UPDATE assets SET n1 = $2, n2 = $3, n3 = $4, n4 = $5, l1 = $6, l2 = $7, l3 = $8, l4 = $9, "
    "labels_sealed = $10, sealed = $11, "
    "updated_at = CASE WHEN $12::boolean THEN now() ELSE updated_at END "
    "WHERE device_id = $13 AND seq = $1 "
    "RETURNING (extract(epoch FROM updated_at) * 1000)::bigint AS update_ms, version"};
static const db_stmt st_count = {STMT_ASSET_COUNT, "asset_count",
                                 "SELECT count(*) AS n FROM assets WHERE device_id = $1 AND "
                                 "owner_kind = $2 AND owner = $3 AND attr_enc = $4"};

static void scope_where(sqlbuf *b, const store_scope *sc)
{
    int d = sqlbuf_cstr(b, sc->device_id);
    int k = sqlbuf_int(b, sc->owner_kind);
    int o = sqlbuf_text(b, sc->owner.p, sc->owner.n);
    int e = sqlbuf_bool(b, sc->attr_enc);
    sqlbuf_add(b,
               " WHERE device_id = $%d AND owner_kind = $%d AND owner = $%d::text AND "
               "attr_enc = $%d",
               d, k, o, e);
}

/* The scope, and the alias when there is one: then through the alias key alone (see
 * ALIAS_KEY_SQL), which implies the scope. */
static void key_where(sqlbuf *b, const store_scope *sc, const asset_req *q)
{
    if (!(q->has & FBIT(F_ALIAS))) {
        scope_where(b, sc);
        return;
    }
    int d = sqlbuf_cstr(b, sc->device_id), k = sqlbuf_int(b, sc->owner_kind),
        o = sqlbuf_text(b, sc->owner.p, sc->owner.n), e = sqlbuf_bool(b, sc->attr_enc),
        a = sqlbuf_text(b, q->alias.p, q->alias.n);
    sqlbuf_add(b,
               " WHERE alias_key = " ALIAS_KEY_SQL("$%1$d", "$%2$d", "$%3$d", "$%4$d",
                                                   "$%5$d") " AND device_id = $%1$d::uuid",
               d, k, o, e, a);
}

/* Filters other than the alias (key_where has it). */
static void filter_where(sqlbuf *b, const asset_req *q, const store_label_cols *f)
{
    if (q->has & FBIT(F_ACCESSIBILITY))
        sqlbuf_add(b, " AND accessibility = $%d", sqlbuf_int(b, q->accessibility));
    if (q->has & FBIT(F_REQUIRE_PASSWORD_SET))
        sqlbuf_add(b, " AND req_pwd = $%d", sqlbuf_bool(b, q->require_password_set));
    if (q->has & FBIT(F_AUTH_TYPE))
        sqlbuf_add(b, " AND auth_type = $%d", sqlbuf_int(b, q->auth_type));
    if (q->has & FBIT(F_SYNC_TYPE)) {
        int p = sqlbuf_int(b, q->sync_type);
        sqlbuf_add(b, " AND (sync_type & $%d::smallint) = $%d::smallint", p, p);
    }
    if (q->has & FBIT(F_IS_PERSISTENT))
        sqlbuf_add(b, " AND persistent = $%d", sqlbuf_bool(b, q->is_persistent));
    if (q->has & FBIT(F_WRAP_TYPE))
        sqlbuf_add(b, " AND wrap_type = $%d", sqlbuf_int(b, q->wrap_type));
    for (int i = 0; i < ASSET_LABELS; i++)
        if (q->has & FBIT(F_LABEL0 + i))
            sqlbuf_add(b, " AND %s = $%d::text", label_cols[i],
                       sqlbuf_text(b, f->v[i].p, f->v[i].n));
}

asset_err store_asset_select(db_conn *c, const store_scope *sc, const asset_req *q,
                             const store_label_cols *filter, const store_pos *pos, long limit,
                             bool for_update, PGresult **out)
{
    sqlbuf b;
    sqlbuf_init(&b);
    sqlbuf_add(&b, "SELECT " ASSET_COLS " FROM assets");
    key_where(&b, sc, q);
    filter_where(&b, q, filter);
    const char *ord = q->order_by >= 0 ? label_cols[q->order_by] : NULL;
    if (pos && pos->only_seqs)
        sqlbuf_add(&b, " AND seq = ANY ($%d::bigint[])", sqlbuf_cstr(&b, pos->only_seqs));
    if (pos && pos->set) {
        int s = sqlbuf_int(&b, pos->seq);
        if (!ord) {
            sqlbuf_add(&b, " AND seq > $%d", s);
        } else if (pos->label_null) {
            sqlbuf_add(&b, " AND %s IS NULL AND seq > $%d", ord, s);
        } else {
            int l = sqlbuf_text(&b, pos->label.p, pos->label.n);
            sqlbuf_add(&b,
                       " AND (%s COLLATE \"C\" > $%d::text OR (%s = $%d::text AND seq > $%d) OR "
                       "%s IS NULL)",
                       ord, l, ord, l, s, ord);
        }
    }
    if (ord)
        /* "ascending by bytes" whatever the database's collation */
        sqlbuf_add(&b, " ORDER BY %s COLLATE \"C\" NULLS LAST, seq", ord);
    else
        sqlbuf_add(&b, " ORDER BY seq");
    sqlbuf_add(&b, " LIMIT %ld", limit);
    if (q->offset > 0 && !(pos && pos->set))
        sqlbuf_add(&b, " OFFSET %ld", q->offset);
    if (for_update)
        sqlbuf_add(&b, " FOR UPDATE");
    /* Binary results: a page's sealed values arrive as bytes, not hex to decode (row.c). */
    asset_err e = sqlbuf_exec_binary(&b, c, out);
    sqlbuf_free(&b);
    return e;
}

asset_err store_asset_delete(db_conn *c, const store_scope *sc, const asset_req *q,
                             const store_label_cols *filter, const char *only_versions,
                             PGresult **out)
{
    sqlbuf b;
    sqlbuf_init(&b);
    sqlbuf_add(&b, "DELETE FROM assets");
    key_where(&b, sc, q);
    filter_where(&b, q, filter);
    if (only_versions)
        sqlbuf_add(&b, " AND version = ANY ($%d::bigint[])", sqlbuf_cstr(&b, only_versions));
    sqlbuf_add(&b, " RETURNING alias");
    asset_err e = sqlbuf_exec(&b, c, out);
    sqlbuf_free(&b);
    return e;
}

/* Parameters of a full row, in INSERT column order; `nums` holds integer texts. */
static void row_params(const char **vals, int *lens, int *fmts, char nums[][24],
                       const store_scope *sc, const asset_record *r, const store_label_cols *cols)
{
    int i = 0;
#define P(v, l, f) (vals[i] = (v), lens[i] = (int)(l), fmts[i] = (f), i++)
#define PNUM(x) (snprintf(nums[i], 24, "%lld", (long long)(x)), P(nums[i], 0, 0))
    P(sc->device_id, 0, 0);
    PNUM(sc->owner_kind);
    P(sc->owner.p, sc->owner.n, 1);
    P(sc->attr_enc ? "t" : "f", 0, 0);
    P(r->alias.p, r->alias.n, 1);
    PNUM(r->accessibility);
    P(r->require_password_set ? "t" : "f", 0, 0);
    PNUM(r->auth_type);
    PNUM(r->sync_type);
    P(r->is_persistent ? "t" : "f", 0, 0);
    PNUM(r->wrap_type);
    for (int k = 0; k < ASSET_LABELS; k++)
        P(cols->v[k].p, cols->v[k].n, 1);
    P((const char *)r->labels_sealed, r->labels_sealed_len, 1);
    P((const char *)r->sealed, r->sealed_len, 1);
    PNUM(r->key_version);
#undef PNUM
#undef P
}

/* The audit event's columns, as STORE_AUDIT_INSERT takes them. */
static void audit_params(const char **vals, const audit_event *ev)
{
    vals[0] = ev->principal;
    vals[1] = ev->action;
    vals[2] = ev->device_id;
    vals[3] = ev->owner;
    vals[4] = ev->alias_hash;
}

/* What an insert, upsert or update returns about the row written. */
enum { W_SEQ, W_UPDATE_MS, W_INSERTED, W_VERSION, NW };
static const char *const written_names[NW] = {"seq", "update_ms", "inserted", "version"};
static const row_type written_row = {written_names, NW};
enum { U_UPDATE_MS, U_VERSION, NU };
static const char *const update_names[NU] = {"update_ms", "version"};
static const row_type update_row = {update_names, NU};

asset_err store_asset_insert(db_conn *c, const store_scope *sc, const asset_record *r,
                             const store_label_cols *cols, const audit_event *ev, bool overwrite,
                             bool *inserted, int64_t *seq, int64_t *update_ms, int64_t *version)
{
    enum { N = INSERT_PARAMS + AUDIT_PARAMS + 1 };
    static row_cache cache[2]; /* insert, upsert */
    unsigned char key[STORE_ALIAS_KEY_LEN];
    const char *vals[N];
    int lens[N] = {0}, fmts[N] = {0};
    char nums[INSERT_PARAMS][24];
    PGresult *res = NULL;
    row_reader w;
    row_params(vals, lens, fmts, nums, sc, r, cols);
    audit_params(vals + INSERT_PARAMS, ev);
    store_alias_key(key, sc, r->alias);
    vals[N - 1] = (const char *)key;
    lens[N - 1] = sizeof key;
    fmts[N - 1] = 1;
    asset_err e = db_exec_stmt(c, overwrite ? &st_upsert : &st_insert, N, vals, lens, fmts, &res);
    if (e != ASSET_OK)
        return e;
    if (row_bind(&w, res, &written_row, &cache[overwrite]) != 0)
        e = ASSET_DATABASE_ERROR;
    else if (row_count(&w) != 1)
        e = ASSET_DUPLICATED;
    else {
        *seq = row_i64(&w, 0, W_SEQ);
        *update_ms = row_i64(&w, 0, W_UPDATE_MS);
        *inserted = row_bool(&w, 0, W_INSERTED);
        *version = row_i64(&w, 0, W_VERSION);
    }
    PQclear(res);
    return e;
}

asset_err store_asset_update(db_conn *c, const char *device_id, int64_t seq, const asset_record *r,
                             const store_label_cols *cols, bool touch_time, int64_t *update_ms,
                             int64_t *version)
{
    const char *vals[13];
    int lens[13] = {0}, fmts[13] = {0};
    char s[24];
    PGresult *res = NULL;
    snprintf(s, sizeof s, "%" PRId64, seq);
    vals[0] = s;
    for (int k = 0; k < 8; k++) {
        vals[1 + k] = cols->v[LABEL_NORMAL + k].p;
        lens[1 + k] = (int)cols->v[LABEL_NORMAL + k].n;
        fmts[1 + k] = 1;
    }
    vals[9] = (const char *)r->labels_sealed;
    lens[9] = (int)r->labels_sealed_len;
    fmts[9] = 1;
    vals[10] = (const char *)r->sealed;
    lens[10] = (int)r->sealed_len;
    fmts[10] = 1;
    vals[11] = touch_time ? "t" : "f";
    vals[12] = device_id;
    static row_cache cache;
    row_reader u;
    asset_err e = db_exec_stmt(c, &st_update, 13, vals, lens, fmts, &res);
    if (e == ASSET_OK && row_bind(&u, res, &update_row, &cache) != 0)
        e = ASSET_DATABASE_ERROR;
    if (e == ASSET_OK) {
        if (row_count(&u) == 1) {
            *update_ms = row_i64(&u, 0, U_UPDATE_MS);
            *version = row_i64(&u, 0, U_VERSION);
        } else
            e = ASSET_NOT_FOUND;
    }
    PQclear(res);
    return e;
}

asset_err store_scope_lock(db_conn *c, const store_scope *sc)
{
    PGresult *res = NULL;
    const char *vals[] = {sc->device_id, sc->owner.p, sc->attr_enc ? "t" : "f"};
    const int lens[] = {0, (int)sc->owner.n, 0}, fmts[] = {0, 1, 0};
    asset_err e = db_exec(c,
                          "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2::text || "
                          "'/' || $3, 7263540102))",
                          3, vals, lens, fmts, &res);
    PQclear(res);
    return e;
}

asset_err store_asset_count(db_conn *c, const store_scope *sc, long *count)
{
    char k[8];
    PGresult *res = NULL;
    snprintf(k, sizeof k, "%d", sc->owner_kind);
    const char *vals[] = {sc->device_id, k, sc->owner.p, sc->attr_enc ? "t" : "f"};
    const int lens[] = {0, 0, (int)sc->owner.n, 0}, fmts[] = {0, 0, 1, 0};
    static row_cache cache;
    row_reader n;
    asset_err e = db_exec_stmt(c, &st_count, 4, vals, lens, fmts, &res);
    if (e == ASSET_OK && (row_bind(&n, res, &store_count_row, &cache) != 0 || row_count(&n) != 1))
        e = ASSET_DATABASE_ERROR;
    if (e == ASSET_OK)
        *count = (long)row_i64(&n, 0, 0);
    PQclear(res);
    return e;
}

const row_type store_asset_row = {asset_col_names, NCOLS};
static const row_type backup_row = {backup_col_names, NBACKUP_COLS};
static const char *const count_names[] = {"n"};
const row_type store_count_row = {count_names, 1};

int store_asset_rows(row_reader *rows, const PGresult *res)
{
    static row_cache cache;
    return row_bind(rows, res, &store_asset_row, &cache);
}

static asset_text col_text(const row_reader *rows, int i, int k)
{
    asset_text t = {NULL, 0};
    if (!row_null(rows, i, k))
        t.p = row_text(rows, i, k, &t.n);
    return t;
}

/* The columns an asset and a backup record share (indexes below COL_SHARED in both). */
static int decode_shared(const row_reader *rows, int i, asset_record *r, arena *a)
{
    r->owner_kind = row_int(rows, i, COL_OWNER_KIND);
    r->owner = col_text(rows, i, COL_OWNER);
    r->attr_enc = row_bool(rows, i, COL_ATTR_ENC);
    r->alias = col_text(rows, i, COL_ALIAS);
    r->accessibility = (uint8_t)row_int(rows, i, COL_ACCESSIBILITY);
    r->require_password_set = row_bool(rows, i, COL_REQ_PWD);
    r->auth_type = (uint8_t)row_int(rows, i, COL_AUTH_TYPE);
    r->sync_type = (uint8_t)row_int(rows, i, COL_SYNC_TYPE);
    r->is_persistent = row_bool(rows, i, COL_PERSISTENT);
    r->wrap_type = (uint8_t)row_int(rows, i, COL_WRAP_TYPE);
    /* Sealed values stay where the result holds them (binary results), as the text columns do:
     * the record is valid while its result is. */
    if (row_bytea_ref(rows, i, COL_LABELS_SEALED, a, &r->labels_sealed, &r->labels_sealed_len) !=
            0 ||
        row_bytea_ref(rows, i, COL_SEALED, a, &r->sealed, &r->sealed_len) != 0)
        return -1;
    return 0;
}

int store_asset_decode(const row_reader *rows, int i, asset_record *r, arena *a)
{
    memset(r, 0, sizeof *r);
    if (row_i64_checked(rows, i, COL_SEQ, &r->seq) != 0 || decode_shared(rows, i, r, a) != 0)
        return -1;
    if (!r->attr_enc)
        for (int k = 0; k < ASSET_LABELS; k++)
            r->labels[k] = col_text(rows, i, COL_LABEL0 + k);
    r->key_version = row_int(rows, i, COL_KEY_VERSION);
    r->update_ms = row_i64(rows, i, COL_UPDATE_MS);
    r->version = row_i64(rows, i, COL_VERSION);
    return 0;
}

int store_backup_rows(row_reader *rows, const PGresult *res)
{
    static row_cache cache;
    return row_bind(rows, res, &backup_row, &cache);
}

int store_backup_decode(const row_reader *rows, int i, asset_record *r, int *ordinal, arena *a)
{
    int64_t o = 0;
    memset(r, 0, sizeof *r);
    if (row_i64_checked(rows, i, COL_ORDINAL, &o) != 0 || decode_shared(rows, i, r, a) != 0)
        return -1;
    *ordinal = (int)o;
    return 0;
}

/* Exposed for the hot path of GET /assets/{alias}: a prepared single-row lookup. */
asset_err store_asset_get(db_conn *c, const store_scope *sc, asset_text alias, PGresult **out)
{
    unsigned char key[STORE_ALIAS_KEY_LEN];
    store_alias_key(key, sc, alias);
    const char *vals[] = {sc->device_id, (const char *)key};
    const int lens[] = {0, STORE_ALIAS_KEY_LEN}, fmts[] = {0, 1};
    return db_exec_stmt_binary(c, &st_get, 2, vals, lens, fmts, out);
}

asset_err store_asset_get_current(db_conn *c, const store_scope *sc, asset_text alias,
                                  const store_principal_ref *p, PGresult **out)
{
    unsigned char key[STORE_ALIAS_KEY_LEN];
    char inst[24], gd[24], gi[24];
    store_alias_key(key, sc, alias);
    snprintf(inst, sizeof inst, "%lld", (long long)p->installation_id);
    snprintf(gd, sizeof gd, "%lld", (long long)p->device_generation);
    snprintf(gi, sizeof gi, "%lld", (long long)p->installation_generation);
    const char *vals[] = {
        sc->device_id, (const char *)key, inst, (const char *)p->token_hash, gd, gi};
    const int lens[] = {0, STORE_ALIAS_KEY_LEN, 0, SEAL_TOKEN_HASH_LEN, 0, 0};
    const int fmts[] = {0, 1, 0, 1, 0, 0};
    return db_exec_stmt_binary(c, &st_get_current, 6, vals, lens, fmts, out);
}
