/* store: the SQL of the assets table. Knows columns and statements, nothing about sealing or
 * rules: callers pass rows already sealed and label columns already computed (plaintext, or
 * blind indexes for encrypted labels).
 *
 * Results are PGresults owned by the caller; store_asset_decode() points a record into one (and
 * into arena memory for bytea in hex), so the record lives as long as both. */
#ifndef ASSETD_STORE_H
#define ASSETD_STORE_H

#include "db.h"
#include "row.h"
#include "../crypto/record.h"
#include "store_audit.h"

/* The columns of an asset, each list written once and used by every statement that names them
 * (store.c, store_batch.c, restores, backups):
 *   STORE_OWNER_COLS  whose store the asset is in (with device_id, the scope);
 *   STORE_ATTR_COLS   the alias and the access attributes;
 *   STORE_LABEL_COLS  the label columns, in label index order;
 *   STORE_ROW_COLS    what a write gives for one asset in its scope;
 *   STORE_INSERT_COLS the column list of every INSERT INTO assets (the row, then its alias key:
 *                     store_alias_key);
 *   STORE_UPSERT_SET  what an upsert (ON CONFLICT DO UPDATE) replaces: every column a write gives
 *                     but the key, and the time. */
#define STORE_OWNER_COLS "owner_kind, owner, attr_enc"
#define STORE_ATTR_COLS "alias, accessibility, req_pwd, auth_type, sync_type, persistent, wrap_type"
#define STORE_LABEL_COLS "c1, c2, c3, c4, n1, n2, n3, n4, l1, l2, l3, l4"
#define STORE_ROW_COLS STORE_ATTR_COLS ", " STORE_LABEL_COLS ", labels_sealed, sealed, key_version"
#define STORE_INSERT_COLS "device_id, " STORE_OWNER_COLS ", " STORE_ROW_COLS ", alias_key"
#define STORE_UPSERT_SET                                                                           \
    "accessibility = EXCLUDED.accessibility, req_pwd = EXCLUDED.req_pwd, "                         \
    "auth_type = EXCLUDED.auth_type, sync_type = EXCLUDED.sync_type, "                             \
    "persistent = EXCLUDED.persistent, wrap_type = EXCLUDED.wrap_type, c1 = EXCLUDED.c1, "         \
    "c2 = EXCLUDED.c2, c3 = EXCLUDED.c3, c4 = EXCLUDED.c4, n1 = EXCLUDED.n1, n2 = EXCLUDED.n2, "   \
    "n3 = EXCLUDED.n3, n4 = EXCLUDED.n4, l1 = EXCLUDED.l1, l2 = EXCLUDED.l2, l3 = EXCLUDED.l3, "   \
    "l4 = EXCLUDED.l4, labels_sealed = EXCLUDED.labels_sealed, sealed = EXCLUDED.sealed, "         \
    "key_version = EXCLUDED.key_version, updated_at = now()"

/* The row type of an asset: the columns store_asset_decode() reads, by name (store_asset_row),
 * and a select list that has them all, for selects written elsewhere (backups). */
#define STORE_ASSET_COLS                                                                           \
    "seq, " STORE_OWNER_COLS ", " STORE_ROW_COLS                                                   \
    ", (extract(epoch FROM updated_at) * 1000)::bigint AS update_ms, version"
extern const row_type store_asset_row;

/* SQL: the alias key of migration 0007 from SQL expressions (device, owner kind, owner, store,
 * alias). WHERE alias_key = this (or = the key store_alias_key computed, as the GET statements
 * pass it), and nothing else but the device (which makes the statement routable by device,
 * deploy/README.md), is the one way to find an asset by its alias, so the plan cannot flip to
 * another index whatever the statistics say: no other index has all its columns given. It is
 * also the assets' only unique key (migration 0014): STORE_ON_ALIAS. */
#define ALIAS_KEY_SQL(d, k, o, e, a)                                                               \
    "sha256(decode(replace(" d "::uuid::text || '/' || " k "::smallint::text || '/' || " e         \
    "::boolean::text || '/' || length(" o "::text)::text || ':' || " o "::text || " a              \
    "::text, '\\', '\\\\'), 'escape'))"
#define STORE_ON_ALIAS "ON CONFLICT (alias_key) "
#define STORE_ALIAS_KEY_LEN 32
/* A result of one column "n" (a count). */
extern const row_type store_count_row;

/* Which store of which owner on which device: every asset statement is scoped to one. */
typedef struct {
    const char *device_id;
    int owner_kind;
    asset_text owner;
    bool attr_enc;
} store_scope;

/* The alias key of an asset (migration 0007's formula, which ALIAS_KEY_SQL spells in SQL): the
 * SHA-256 of "<device>/<owner kind>/<true|false>/<characters in owner>:<owner><alias>", device as
 * PostgreSQL prints a uuid. Writers compute it here and store it (migration 0015): PostgreSQL
 * computing it for every row written cost a fifth of a batch insert's time in the database.
 * tests/integration/test_store.c holds it to ALIAS_KEY_SQL on awkward owners and aliases. */
void store_alias_key(unsigned char out[STORE_ALIAS_KEY_LEN], const store_scope *sc,
                     asset_text alias);

/* Keyset position after the last row of a page. */
typedef struct {
    bool set;
    int64_t seq;
    bool label_null;
    asset_text label;      /* for orderBy */
    const char *only_seqs; /* when set: a PostgreSQL bigint[] literal rows must be in */
} store_pos;

/* Label column values: plaintext labels, or blind indexes of encrypted labels. */
typedef struct {
    asset_text v[ASSET_LABELS];
    char hex[ASSET_LABELS][SEAL_INDEX_HEX_LEN + 1];
} store_label_cols;

/* Insert r into scope, recording ev in the audit log in the same statement. overwrite: replace an
 * existing alias (then *inserted is false); else DUPLICATED if it exists. *version: the row's new
 * version. */
WUR asset_err store_asset_insert(db_conn *c, const store_scope *sc, const asset_record *r,
                                 const store_label_cols *cols, const audit_event *ev,
                                 bool overwrite, bool *inserted, int64_t *seq, int64_t *update_ms,
                                 int64_t *version);
/* Rows of scope matching the filters of q (alias, attributes, label columns), in page order,
 * at most limit rows after pos (or after q->offset rows); for_update locks them until the
 * transaction ends. */
WUR asset_err store_asset_select(db_conn *c, const store_scope *sc, const asset_req *q,
                                 const store_label_cols *filter, const store_pos *pos, long limit,
                                 bool for_update, PGresult **out);
/* Delete the rows matching q in scope; *out lists their aliases. only_versions (NULL: any): a
 * PostgreSQL bigint[] literal the row's version must be in (If-Match, checked in the statement
 * that deletes). */
WUR asset_err store_asset_delete(db_conn *c, const store_scope *sc, const asset_req *q,
                                 const store_label_cols *filter, const char *only_versions,
                                 PGresult **out);
/* Rewrite the mutable columns of row seq of device_id (the device too, so the statement is
 * routable by device: deploy/README.md, Citus): normal and local label columns, labels_sealed,
 * sealed; touch_time refreshes updated_at. *version: the row's new version. */
WUR asset_err store_asset_update(db_conn *c, const char *device_id, int64_t seq,
                                 const asset_record *r, const store_label_cols *cols,
                                 bool touch_time, int64_t *update_ms, int64_t *version);
/* Locks the scope until the transaction ends (an advisory lock): counting and inserting under it
 * keeps concurrent adds from passing the per-owner limit. */
WUR asset_err store_scope_lock(db_conn *c, const store_scope *sc);
/* Number of assets of a scope (for the per-owner limit). */
WUR asset_err store_asset_count(db_conn *c, const store_scope *sc, long *count);

/* The one row of scope with this alias (prepared: the hot path of GET /assets/{alias}), found by
 * its alias key (store_alias_key), in binary format (read it through store_asset_rows). */
WUR asset_err store_asset_get(db_conn *c, const store_scope *sc, asset_text alias, PGresult **out);
/* The same, in one statement with the check that a remembered installation principal is still
 * current (STORE_INSTALLATION_CURRENT): no row when it is not, or when there is no such asset. */
struct store_principal_ref;
WUR asset_err store_asset_get_current(db_conn *c, const store_scope *sc, asset_text alias,
                                      const struct store_principal_ref *p, PGresult **out);

/* Binds a result whose select list is STORE_ASSET_COLS to store_asset_row (positions learnt once
 * for all of them). 0, or -1 when a column is missing. */
WUR int store_asset_rows(row_reader *rows, const PGresult *res);
/* Decode row i of a result bound to store_asset_row into r; -1 if a column is malformed. */
WUR int store_asset_decode(const row_reader *rows, int i, asset_record *r, arena *a);

/* A backup record (table backup_records) holds an asset's owner, attribute and sealed columns
 * under the same names, and its ordinal in the backup. store_backup_rows binds a result that
 * selects them (any order, any table prefix); store_backup_decode reads row i into r (the
 * columns a backup holds; the rest stays zero) and *ordinal, as store_asset_decode reads them.
 * 0, or -1 when a column is missing or malformed. */
WUR int store_backup_rows(row_reader *rows, const PGresult *res);
WUR int store_backup_decode(const row_reader *rows, int i, asset_record *r, int *ordinal, arena *a);

#endif
