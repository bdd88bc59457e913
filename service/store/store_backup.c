/* store_backup: the SQL of backups, backup_records and backup_groups (store_sync.h), and of the
 * two questions a restore asks before it exists (who the parties are, their states). Rows are
 * read by column name (row.h), each statement with its own row_cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../asset_req.h"
#include "copybin.h"
#include "sqlbuf.h"
#include "store_sync.h"

#define MS_OF(col) "(extract(epoch FROM " col ") * 1000)::bigint"

void store_records_free(store_records *r)
{
    if (!r)
        return;
    free(r->rows);
    free(r->ordinals);
    PQclear(r->res);
    memset(r, 0, sizeof *r);
}

static void copy_id(char out[UUID_TEXT_LEN], const row_reader *rows, int i, int k)
{
    snprintf(out, UUID_TEXT_LEN, "%s", row_text(rows, i, k, NULL));
}

asset_err store_backup_insert(db_conn *c, const char *id, const char *device_id, int kek_version,
                              const unsigned char *wrapped, size_t wrapped_len, int64_t *created_ms)
{
    static const char *const names[] = {"created_ms"};
    static const row_type type = {names, 1};
    static row_cache cache;
    char kek[16];
    PGresult *r = NULL;
    row_reader rows;
    snprintf(kek, sizeof kek, "%d", kek_version);
    const char *vals[] = {id, device_id, kek, (const char *)wrapped};
    const int lens[] = {0, 0, 0, (int)wrapped_len}, fmts[] = {0, 0, 0, 1};
    *created_ms = 0;
    asset_err e =
        db_exec(c,
                "INSERT INTO backups (id, device_id, account_id, pwd_set, screen_locked, "
                "unlocked_since_boot, kek_version, wrapped_key, record_count) "
                "SELECT $1, id, account_id, pwd_set, screen_locked, unlocked_since_boot, $3, $4, 0 "
                "FROM devices WHERE id = $2 RETURNING " MS_OF("created_at") " AS created_ms",
                4, vals, lens, fmts, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &type, &cache);
    if (e == ASSET_OK)
        *created_ms = row_i64(&rows, 0, 0);
    PQclear(r);
    return e;
}

/* Decodes every row of r->res (asset rows) into r->rows. */
static asset_err decode_assets(store_records *r, arena *a)
{
    row_reader rows;
    int n = PQntuples(r->res);
    if (store_asset_rows(&rows, r->res) != 0)
        return ASSET_DATA_CORRUPTED;
    if (!(r->rows = calloc((size_t)n + 1, sizeof *r->rows)))
        return ASSET_OUT_OF_MEMORY;
    for (; r->n < n; r->n++)
        if (store_asset_decode(&rows, r->n, &r->rows[r->n], a) != 0)
            return ASSET_DATA_CORRUPTED;
    return ASSET_OK;
}

/* One statement for the whole backup, read in pieces through a cursor. (It was a page of
 * "seq > last ORDER BY seq LIMIT n" per piece, planned again each time: on a table not analyzed
 * yet, as after a bulk import, the planner read and sorted every remaining asset of the device for
 * each page of 500, and 100,000 assets took 15 s instead of 3.) */
asset_err store_backup_source_open(db_conn *c, const char *device_id)
{
    PGresult *r = NULL;
    const char *vals[] = {device_id};
    asset_err e = db_exec(c,
                          "DECLARE backup_source NO SCROLL CURSOR FOR SELECT " STORE_ASSET_COLS
                          " FROM assets WHERE device_id = $1 AND (sync_type & " SQL_SYNC_SYNCABLE
                          ") <> 0 ORDER BY seq",
                          1, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

asset_err store_backup_source_next(db_conn *c, int limit, arena *a, store_records *out)
{
    char sql[48];
    snprintf(sql, sizeof sql, "FETCH %d FROM backup_source", limit > 0 ? limit : 1);
    memset(out, 0, sizeof *out);
    /* Binary results: sealed values as their bytes, no hex (row.c reads either format). */
    asset_err e = db_exec_binary(c, sql, 0, NULL, NULL, NULL, &out->res);
    if (e == ASSET_OK)
        e = decode_assets(out, a);
    if (e != ASSET_OK)
        store_records_free(out);
    return e;
}

asset_err store_backup_records_add(db_conn *c, const char *backup_id, int first_ordinal,
                                   const asset_record *rows, int n)
{
    copybin b;
    if (n == 0)
        return ASSET_OK;
    copybin_init(&b, (size_t)n * 1280);
    for (int i = 0; i < n; i++) {
        const asset_record *r = &rows[i];
        copybin_row(&b, 14);
        copybin_uuid(&b, backup_id);
        copybin_i32(&b, first_ordinal + i);
        copybin_i16(&b, r->owner_kind);
        copybin_bytes(&b, r->owner.p, r->owner.n);
        copybin_bool(&b, r->attr_enc);
        copybin_bytes(&b, r->alias.p, r->alias.n);
        copybin_i16(&b, r->accessibility);
        copybin_bool(&b, r->require_password_set);
        copybin_i16(&b, r->auth_type);
        copybin_i16(&b, r->sync_type);
        copybin_bool(&b, r->is_persistent);
        copybin_i16(&b, r->wrap_type);
        copybin_bytes(&b, r->labels_sealed, r->labels_sealed_len);
        copybin_bytes(&b, r->sealed, r->sealed_len);
    }
    asset_err e = copybin_send(&b, c,
                               "COPY backup_records (backup_id, ordinal, owner_kind, owner, "
                               "attr_enc, alias, accessibility, req_pwd, auth_type, sync_type, "
                               "persistent, wrap_type, labels_sealed, sealed) FROM STDIN "
                               "(FORMAT binary)");
    copybin_free(&b);
    return e;
}

static asset_err exec_discard(db_conn *c, const char *sql, int n, const char *const *vals)
{
    PGresult *r = NULL;
    asset_err e = db_exec(c, sql, n, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

asset_err store_backup_finish(db_conn *c, const char *backup_id, long record_count)
{
    char count[24];
    snprintf(count, sizeof count, "%ld", record_count);
    const char *vals[] = {backup_id, count};
    /* The groups the preview decides (sync_preview.c): what the rules read, counted. */
    asset_err e = exec_discard(
        c,
        "INSERT INTO backup_groups SELECT $1, owner_kind, owner, attr_enc, accessibility, "
        "req_pwd, auth_type, sync_type, count(*) FROM backup_records WHERE backup_id = $1 "
        "GROUP BY owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, sync_type",
        1, vals);
    if (e == ASSET_OK)
        e = exec_discard(c, "UPDATE backups SET record_count = $2 WHERE id = $1", 2, vals);
    return e;
}

/* ---- backup_info rows ---- */

enum { BI_ID, BI_DEVICE_ID, BI_CREATED_MS, BI_RECORD_COUNT, BI_CREATED_US, BI_COLS };
static const char *const backup_names[BI_COLS] = {"id", "device_id", "created_ms", "record_count",
                                                  "created_us"};
static const row_type backup_row = {backup_names, BI_COLS};
#define BACKUP_COLS                                                                                \
    "id, device_id, " MS_OF(                                                                       \
        "created_at") " AS created_ms, record_count, "                                             \
                      "(extract(epoch FROM created_at) * 1000000)::bigint AS created_us"

static void read_backup(const row_reader *rows, int i, backup_info *out)
{
    copy_id(out->id, rows, i, BI_ID);
    copy_id(out->device_id, rows, i, BI_DEVICE_ID);
    out->created_ms = row_i64(rows, i, BI_CREATED_MS);
    out->record_count = (long)row_i64(rows, i, BI_RECORD_COUNT);
    out->created_us = row_i64(rows, i, BI_CREATED_US);
}

asset_err store_backup_get(db_pool *p, const char *id, backup_info *out)
{
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {id};
    memset(out, 0, sizeof *out);
    asset_err e = db_run_sql(p,
                             "SELECT " BACKUP_COLS " FROM backups WHERE id = $1 AND "
                             "octet_length(wrapped_key) > 0",
                             1, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &backup_row, &cache);
    if (e == ASSET_OK)
        read_backup(&rows, 0, out);
    PQclear(r);
    return e;
}

asset_err store_backup_list(db_pool *p, const char *device_id, const backup_info *after, long limit,
                            arena *a, backup_info **items, int *n)
{
    static row_cache cache;
    char micros[24] = "0", lim[24];
    PGresult *r = NULL;
    row_reader rows;
    *items = NULL;
    *n = 0;
    if (after)
        snprintf(micros, sizeof micros, "%lld", (long long)after->created_us);
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *vals[] = {device_id, after ? "t" : "f", micros,
                          after ? after->id : "00000000-0000-0000-0000-000000000000", lim};
    asset_err e = db_run_sql(p,
                             "SELECT " BACKUP_COLS " FROM backups WHERE device_id = $1 AND "
                             "octet_length(wrapped_key) > 0 AND "
                             "(NOT $2::boolean OR (created_at, id) < (timestamptz 'epoch' + "
                             "$3::bigint * interval '1 microsecond', $4::uuid)) "
                             "ORDER BY created_at DESC, id DESC LIMIT $5::int",
                             5, vals, NULL, NULL, &r);
    int count = 0;
    if (e == ASSET_OK)
        *items = row_bind_array(&rows, r, &backup_row, &cache, a, sizeof **items, &count, &e);
    for (int i = 0; e == ASSET_OK && i < count; i++, (*n)++)
        read_backup(&rows, i, &(*items)[i]);
    PQclear(r);
    return e;
}

asset_err store_restore_parties_get(db_pool *p, const char *backup_id, const char *target_id,
                                    store_restore_parties *out)
{
    enum { SOURCE, SOURCE_ACCOUNT, TARGET_ACCOUNT, TARGETS, NCOL };
    static const char *const names[NCOL] = {"source_id", "source_account", "target_account",
                                            "targets"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {backup_id, target_id};
    memset(out, 0, sizeof *out);
    /* A backup whose transport key is destroyed is being deleted: gone already. */
    asset_err e = db_run_sql(p,
                             "SELECT b.device_id AS source_id, b.account_id AS source_account, "
                             "d.account_id AS target_account, "
                             "(SELECT count(*) FROM devices WHERE id = $2) AS targets "
                             "FROM backups b LEFT JOIN devices d ON d.id = $2 WHERE b.id = $1 AND "
                             "octet_length(b.wrapped_key) > 0",
                             2, vals, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_count(&rows) == 1 && row_i64(&rows, 0, TARGETS) > 0) {
        out->found = true;
        copy_id(out->source_id, &rows, 0, SOURCE);
        const char *sa = row_text(&rows, 0, SOURCE_ACCOUNT, NULL);
        out->same_account = !row_null(&rows, 0, SOURCE_ACCOUNT) &&
                            !row_null(&rows, 0, TARGET_ACCOUNT) && sa[0] &&
                            strcmp(sa, row_text(&rows, 0, TARGET_ACCOUNT, NULL)) == 0;
    }
    PQclear(r);
    return e;
}

/* ---- deleting backups ---- */

asset_err store_backup_lock(db_conn *c, const char *id, char device_id[UUID_TEXT_LEN])
{
    static const char *const names[] = {"device_id"};
    static const row_type type = {names, 1};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {id};
    device_id[0] = 0;
    asset_err e = db_exec(c,
                          "SELECT device_id FROM backups WHERE id = $1 AND "
                          "octet_length(wrapped_key) > 0 FOR UPDATE",
                          1, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &type, &cache);
    if (e == ASSET_OK)
        copy_id(device_id, &rows, 0, 0);
    PQclear(r);
    return e;
}

asset_err store_backup_in_use(db_conn *c, const char *id, bool *busy)
{
    PGresult *r = NULL;
    const char *vals[] = {id};
    asset_err e = db_exec(
        c,
        "SELECT 1 FROM restores WHERE backup_id = $1 AND status IN " RESTORE_SQL_PENDING " LIMIT 1",
        1, vals, NULL, NULL, &r);
    *busy = e == ASSET_OK && PQntuples(r) > 0;
    PQclear(r);
    return e;
}

asset_err store_backup_destroy_key(db_conn *c, const char *id)
{
    const char *vals[] = {id};
    return exec_discard(c, "UPDATE backups SET wrapped_key = '\\x'::bytea WHERE id = $1", 1, vals);
}

asset_err store_backup_delete_rows(db_conn *c, const char *id)
{
    const char *vals[] = {id};
    return exec_discard(c, "DELETE FROM backups WHERE id = $1 AND octet_length(wrapped_key) = 0", 1,
                        vals);
}

asset_err store_backups_expired(db_pool *p, int days, char (*ids)[UUID_TEXT_LEN], int cap, int *n)
{
    static const char *const names[] = {"id"};
    static const row_type type = {names, 1};
    static row_cache cache;
    char d[16], lim[16];
    PGresult *r = NULL;
    row_reader rows;
    snprintf(d, sizeof d, "%d", days);
    snprintf(lim, sizeof lim, "%d", cap);
    const char *vals[] = {d, lim};
    *n = 0;
    asset_err e =
        db_run_sql(p,
                   "SELECT id FROM backups b WHERE (created_at < now() - "
                   "make_interval(days => $1::int) AND NOT EXISTS (SELECT 1 FROM "
                   "restores r WHERE r.backup_id = b.id AND r.status IN " RESTORE_SQL_PENDING
                   ")) OR octet_length(wrapped_key) = 0 "
                   "ORDER BY created_at LIMIT $2::int",
                   2, vals, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    for (int i = 0; e == ASSET_OK && i < row_count(&rows) && i < cap; i++, (*n)++)
        copy_id(ids[i], &rows, i, 0);
    PQclear(r);
    return e;
}

/* ---- what the preview reads ---- */

asset_err store_restore_states(db_conn *c, const char *backup_id, const char *target_id,
                               device_state *old_dev, device_state *new_dev)
{
    enum { O_PWD, O_LOCKED, O_UNLOCKED, N_PWD, N_LOCKED, N_UNLOCKED, NCOL };
    static const char *const names[NCOL] = {
        "old_pwd_set", "old_screen_locked", "old_unlocked_since_boot",
        "new_pwd_set", "new_screen_locked", "new_unlocked_since_boot"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {backup_id, target_id};
    asset_err e = db_exec(c,
                          "SELECT b.pwd_set AS old_pwd_set, b.screen_locked AS old_screen_locked, "
                          "b.unlocked_since_boot AS old_unlocked_since_boot, "
                          "d.pwd_set AS new_pwd_set, d.screen_locked AS new_screen_locked, "
                          "d.unlocked_since_boot AS new_unlocked_since_boot "
                          "FROM backups b, devices d WHERE b.id = $1 AND d.id = $2",
                          2, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &type, &cache);
    if (e == ASSET_OK) {
        *old_dev = (device_state){row_bool(&rows, 0, O_PWD), row_bool(&rows, 0, O_LOCKED),
                                  row_bool(&rows, 0, O_UNLOCKED)};
        *new_dev = (device_state){row_bool(&rows, 0, N_PWD), row_bool(&rows, 0, N_LOCKED),
                                  row_bool(&rows, 0, N_UNLOCKED)};
    }
    PQclear(r);
    return e;
}

asset_err store_backup_groups(db_conn *c, const char *backup_id, int sync_bit, arena *a,
                              store_backup_group **out, int *n)
{
    enum { KIND, OWNER, ENC, ACCESSIBILITY, REQ_PWD, AUTH_TYPE, COUNT, NCOL };
    static const char *const names[NCOL] = {"owner_kind", "owner",     "attr_enc", "accessibility",
                                            "req_pwd",    "auth_type", "n"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    char bit[8];
    PGresult *r = NULL;
    row_reader rows;
    snprintf(bit, sizeof bit, "%d", sync_bit);
    const char *vals[] = {backup_id, bit};
    *out = NULL;
    *n = 0;
    asset_err e = db_exec(c,
                          "SELECT owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, "
                          "sum(n) AS n FROM backup_groups WHERE backup_id = $1 AND "
                          "(sync_type & $2::smallint) <> 0 GROUP BY owner_kind, owner, attr_enc, "
                          "accessibility, req_pwd, auth_type ORDER BY owner_kind, owner, attr_enc",
                          2, vals, NULL, NULL, &r);
    int count = 0;
    if (e == ASSET_OK)
        *out = row_bind_array(&rows, r, &type, &cache, a, sizeof **out, &count, &e);
    for (int i = 0; e == ASSET_OK && i < count; i++, (*n)++) {
        store_backup_group *g = &(*out)[i];
        size_t len = 0;
        const char *owner = row_text(&rows, i, OWNER, &len);
        if (!(g->owner.p = arena_strndup(a, owner, len))) {
            e = ASSET_OUT_OF_MEMORY;
            break;
        }
        g->owner.n = len;
        g->owner_kind = row_int(&rows, i, KIND);
        g->attr_enc = row_bool(&rows, i, ENC);
        g->attrs.accessibility = (asset_accessibility)row_int(&rows, i, ACCESSIBILITY);
        g->attrs.require_password_set = row_bool(&rows, i, REQ_PWD);
        g->attrs.auth_type = (asset_auth_type)row_int(&rows, i, AUTH_TYPE);
        g->n = (long)row_i64(&rows, i, COUNT);
    }
    PQclear(r);
    return e;
}
