/* store_chunk: the sync worker's SQL (store_sync.h) — claiming a chunk of a restore job, reading
 * the job and its backup records, writing a chunk's assets, report and progress, finishing and
 * failing jobs. Every statement runs on the connection the worker passes, inside its
 * transaction. Records travel in binary both ways (results in binary format, binary COPY): a
 * chunk's sealed values are never hex on either side. Rows are read by column name (row.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "sqlbuf.h"
#include "store_batch.h"
#include "store_devices.h"
#include "store_sync.h"

static void copy_id(char out[UUID_TEXT_LEN], const row_reader *rows, int i, int k)
{
    snprintf(out, UUID_TEXT_LEN, "%s", row_text(rows, i, k, NULL));
}

static asset_err exec_discard(db_conn *c, const char *sql, int n, const char *const *vals)
{
    PGresult *r = NULL;
    asset_err e = db_exec(c, sql, n, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

asset_err store_chunk_commit_async(db_conn *c)
{
    return exec_discard(c, "SET LOCAL synchronous_commit TO off", 0, NULL);
}

asset_err store_chunk_claim(db_conn *c, store_chunk *out, bool *found)
{
    enum { RESTORE_ID, CHUNK, FIRST, LAST, NCOL };
    static const char *const names[NCOL] = {"restore_id", "chunk", "first_ordinal", "last_ordinal"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    memset(out, 0, sizeof *out);
    *found = false;
    asset_err e = db_exec(c,
                          "SELECT c.restore_id, c.chunk, c.first_ordinal, c.last_ordinal "
                          "FROM restore_chunks c JOIN restores r ON r.id = c.restore_id "
                          "WHERE NOT c.done AND r.status IN " RESTORE_SQL_PENDING
                          " ORDER BY r.created_at, c.chunk FOR UPDATE OF c SKIP LOCKED LIMIT 1",
                          0, NULL, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_count(&rows) == 1) {
        *found = true;
        copy_id(out->restore_id, &rows, 0, RESTORE_ID);
        out->chunk = row_int(&rows, 0, CHUNK);
        out->first_ordinal = row_int(&rows, 0, FIRST);
        out->last_ordinal = row_int(&rows, 0, LAST);
    }
    PQclear(r);
    return e;
}

asset_err store_chunk_hold_target(db_conn *c, const char *restore_id, const char *target_id,
                                  bool *live)
{
    PGresult *r = NULL;
    const char *vals[] = {target_id};
    *live = false;
    asset_err e =
        db_exec(c, "SELECT " STORE_DEVICE_LOCK_SHARED("$1::uuid"), 1, vals, NULL, NULL, &r);
    PQclear(r);
    r = NULL;
    vals[0] = restore_id;
    if (e == ASSET_OK)
        e = db_exec(c, "SELECT 1 FROM restores WHERE id = $1 AND status IN " RESTORE_SQL_PENDING, 1,
                    vals, NULL, NULL, &r);
    *live = e == ASSET_OK && PQntuples(r) == 1;
    PQclear(r);
    return e;
}

asset_err store_restore_job(db_conn *c, const char *id, store_job *out)
{
    enum { BACKUP, TARGET, BIT, PWD, LOCKED, UNLOCKED, KEK, WRAPPED, BASE, RULES, IMPLIED, NCOL };
    static const char *const names[NCOL] = {
        "backup_id",     "target_device_id",    "sync_bit",        "pwd_set",
        "screen_locked", "unlocked_since_boot", "kek_version",     "wrapped_key",
        "retry_base",    "retry_rules",         "accepted_implied"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {id};
    memset(out, 0, sizeof *out);
    asset_err e = db_exec(c,
                          "SELECT r.backup_id, r.target_device_id, r.sync_bit, b.pwd_set, "
                          "b.screen_locked, b.unlocked_since_boot, b.kek_version, b.wrapped_key, "
                          "coalesce(r.retry_base::text, '') AS retry_base, r.retry_rules, "
                          "r.report_chunk IS NOT NULL AS accepted_implied "
                          "FROM restores r JOIN backups b ON b.id = r.backup_id WHERE r.id = $1",
                          1, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &type, &cache);
    if (e == ASSET_OK) {
        size_t len = 0;
        const char *w = row_text(&rows, 0, WRAPPED, &len);
        copy_id(out->backup_id, &rows, 0, BACKUP);
        copy_id(out->target_id, &rows, 0, TARGET);
        out->sync_bit = row_int(&rows, 0, BIT);
        out->old_state = (device_state){row_bool(&rows, 0, PWD), row_bool(&rows, 0, LOCKED),
                                        row_bool(&rows, 0, UNLOCKED)};
        out->kek_version = row_int(&rows, 0, KEK);
        copy_id(out->retry_base, &rows, 0, BASE);
        out->retry_rules = row_int(&rows, 0, RULES);
        out->accepted_implied = row_bool(&rows, 0, IMPLIED);
        if (db_bytea_decode(out->wrapped, sizeof out->wrapped, &out->wrapped_len, w, len) != 0)
            e = ASSET_DATA_CORRUPTED;
    }
    PQclear(r);
    return e;
}

asset_err store_restore_target(db_conn *c, const char *device_id, device_state *st,
                               int *dek_version)
{
    enum { PWD, LOCKED, UNLOCKED, DEK, NCOL };
    static const char *const names[NCOL] = {"pwd_set", "screen_locked", "unlocked_since_boot",
                                            "dek_version"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {device_id};
    asset_err e = db_exec(c,
                          "SELECT pwd_set, screen_locked, unlocked_since_boot, dek_version "
                          "FROM devices WHERE id = $1",
                          1, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = row_bind_one(&rows, r, &type, &cache);
    if (e == ASSET_OK) {
        *st = (device_state){row_bool(&rows, 0, PWD), row_bool(&rows, 0, LOCKED),
                             row_bool(&rows, 0, UNLOCKED)};
        *dek_version = row_int(&rows, 0, DEK);
    }
    PQclear(r);
    return e;
}

/* ---- backup records ---- */

/* The columns store_backup_decode reads (store.h), for the chunk's selects. */
#define BACKUP_RECORD_COLS                                                                         \
    "b.ordinal, b.owner_kind, b.owner, b.attr_enc, b.alias, b.accessibility, b.req_pwd, "          \
    "b.auth_type, b.sync_type, b.persistent, b.wrap_type, b.labels_sealed, b.sealed"

asset_err store_chunk_records(db_conn *c, const store_job *j, const store_chunk *ch, arena *a,
                              store_records *out)
{
    char first[16], last[16], rules[8];
    row_reader rows;
    bool retry = j->retry_base[0] != 0;
    snprintf(first, sizeof first, "%d", ch->first_ordinal);
    snprintf(last, sizeof last, "%d", ch->last_ordinal);
    snprintf(rules, sizeof rules, "%d", j->retry_rules);
    const char *vals[] = {j->backup_id, first, last, j->retry_base, rules};
    memset(out, 0, sizeof *out);
    /* A retry takes only the records its base job refused under one of its rules. Binary
     * results: the sealed values arrive as their bytes (row.c reads either format). */
    asset_err e = db_exec_binary(
        c,
        retry ? "SELECT " BACKUP_RECORD_COLS " FROM backup_records b "
                "JOIN restore_records x ON x.restore_id = $4::uuid AND "
                "x.ordinal = b.ordinal AND ((1 << x.rule) & $5::int) <> 0 "
                "WHERE b.backup_id = $1 AND b.ordinal BETWEEN $2 AND $3 ORDER BY b.ordinal"
              : "SELECT " BACKUP_RECORD_COLS " FROM backup_records b "
                "WHERE b.backup_id = $1 AND b.ordinal BETWEEN $2 AND $3 ORDER BY b.ordinal",
        retry ? 5 : 3, vals, NULL, NULL, &out->res);
    if (e == ASSET_OK && store_backup_rows(&rows, out->res) != 0)
        e = ASSET_DATA_CORRUPTED;
    int n = e == ASSET_OK ? row_count(&rows) : 0;
    if (e == ASSET_OK && (!(out->rows = calloc((size_t)n + 1, sizeof *out->rows)) ||
                          !(out->ordinals = calloc((size_t)n + 1, sizeof *out->ordinals))))
        e = ASSET_OUT_OF_MEMORY;
    for (; e == ASSET_OK && out->n < n; out->n++)
        if (store_backup_decode(&rows, out->n, &out->rows[out->n], &out->ordinals[out->n], a) != 0)
            e = ASSET_DATA_CORRUPTED;
    if (e != ASSET_OK)
        store_records_free(out);
    return e;
}

/* A chunk's rows: about this many bytes each (a 1 KiB secret sealed, its alias, its owner). */
#define COPY_ROW_HINT 1280

asset_err store_chunk_report(db_conn *c, const char *restore_id, const store_records *recs,
                             const int *rules, bool accepted_implied)
{
    copybin b;
    int rows = 0;
    copybin_init(&b, accepted_implied ? 1024 : (size_t)recs->n * 64);
    for (int i = 0; i < recs->n; i++) {
        const asset_record *r = &recs->rows[i];
        if (rules[i] < 0 || (accepted_implied && rules[i] == RULE_OK))
            continue;
        copybin_row(&b, 6);
        copybin_uuid(&b, restore_id);
        copybin_i32(&b, recs->ordinals[i]);
        copybin_i16(&b, r->owner_kind);
        copybin_bytes(&b, r->owner.p, r->owner.n);
        copybin_bool(&b, r->attr_enc);
        copybin_i16(&b, rules[i]);
        rows++;
    }
    asset_err e = rows ? copybin_send(&b, c,
                                      "COPY restore_records (restore_id, ordinal, owner_kind, "
                                      "owner, attr_enc, rule) FROM STDIN (FORMAT binary)")
                       : ASSET_OK;
    copybin_free(&b);
    return e;
}

/* The same rows through a temporary table emptied at commit, upserted into assets: for a chunk
 * some of whose aliases exist on the device already. */
static asset_err upsert_staged(db_conn *c, copybin *b)
{
    asset_err e = exec_discard(
        c,
        "CREATE TEMP TABLE IF NOT EXISTS restore_stage (device_id uuid, owner_kind smallint, "
        "owner text, attr_enc boolean, alias text, accessibility smallint, req_pwd boolean, "
        "auth_type smallint, sync_type smallint, persistent boolean, wrap_type smallint, c1 text, "
        "c2 text, c3 text, c4 text, n1 text, n2 text, n3 text, n4 text, l1 text, l2 text, "
        "l3 text, l4 text, labels_sealed bytea, sealed bytea, key_version int, alias_key bytea) "
        "ON COMMIT DELETE ROWS",
        0, NULL);
    if (e == ASSET_OK)
        e = copybin_send(b, c,
                         "COPY restore_stage (" STORE_INSERT_COLS ") FROM STDIN (FORMAT binary)");
    if (e == ASSET_OK)
        e = exec_discard(c,
                         "INSERT INTO assets (" STORE_INSERT_COLS ") SELECT " STORE_INSERT_COLS
                         " FROM restore_stage " STORE_ON_ALIAS "DO UPDATE SET " STORE_UPSERT_SET,
                         0, NULL);
    return e;
}

/* Rows are sent once this many bytes are waiting: the server gets work early, in pieces large
 * enough that the round of system calls is small beside the rows. */
#define STREAM_PIECE (64 * 1024)

void store_chunk_assets_begin(store_asset_stream *s, db_conn *c, const char *device_id, int n_hint)
{
    copybin b = s->b; /* an earlier run's buffer, reused */
    memset(s, 0, sizeof *s);
    s->c = c;
    s->device_id = device_id;
    s->b = b;
    copybin_restart(&s->b, (size_t)(n_hint > 0 ? n_hint : 1) * COPY_ROW_HINT);
    if (copybin_uuid_bytes(s->device, device_id) != 0)
        s->b.failed = true; /* refused at the first send */
    /* Straight into assets: a restore onto a new device finds none of its aliases there, and
     * COPY writes rows in bulk without the upsert's probe of the alias key before each row.
     * The savepoint is what makes that a guess rather than a bet: an alias that is there
     * already fails the COPY at that row (23505), and the chunk is upserted instead
     * (store_chunk_assets_end). */
    s->e = exec_discard(c, "SAVEPOINT restore_copy", 0, NULL);
    if (s->e == ASSET_OK)
        s->e = db_copy_start(c, "COPY assets (" STORE_INSERT_COLS ") FROM STDIN (FORMAT binary)");
    s->copying = s->e == ASSET_OK;
}

/* Sends what is waiting. */
static void stream_put(store_asset_stream *s)
{
    if (s->e == ASSET_OK && s->b.failed)
        s->e = ASSET_OUT_OF_MEMORY;
    if (s->e == ASSET_OK && s->b.len > s->sent) {
        s->e = db_copy_put(s->c, (const char *)s->b.buf + s->sent, s->b.len - s->sent);
        s->copying = s->e == ASSET_OK;
    }
    s->sent = s->b.len;
}

void store_chunk_assets_add(store_asset_stream *s, const asset_record *r,
                            const store_label_cols *cols)
{
    if (s->e != ASSET_OK)
        return;
    store_scope sc = {s->device_id, r->owner_kind, r->owner, r->attr_enc};
    store_copy_asset_row(&s->b, s->device, &sc, r, cols);
    if (s->b.len - s->sent >= STREAM_PIECE)
        stream_put(s);
}

asset_err store_chunk_assets_end(store_asset_stream *s)
{
    copybin_finish(&s->b);
    stream_put(s);
    asset_err e = s->e;
    /* The COPY is ended whatever happened before, so that the connection can roll back. */
    if (s->copying) {
        asset_err end = db_copy_end(s->c);
        e = e == ASSET_OK ? end : e;
    }
    if (e == ASSET_DUPLICATED &&
        (e = exec_discard(s->c, "ROLLBACK TO SAVEPOINT restore_copy", 0, NULL)) == ASSET_OK)
        e = upsert_staged(s->c, &s->b);
    copybin_restart(&s->b, 0); /* wiped; the buffer stays for the next begin */
    return e;
}

void store_asset_stream_free(store_asset_stream *s)
{
    if (s)
        copybin_free(&s->b);
}

asset_err store_chunk_assets(db_conn *c, const char *device_id, const asset_record *rows,
                             const store_label_cols *cols, int n)
{
    store_asset_stream s = {0};
    if (n == 0)
        return ASSET_OK;
    store_chunk_assets_begin(&s, c, device_id, n);
    for (int i = 0; i < n; i++)
        store_chunk_assets_add(&s, &rows[i], &cols[i]);
    asset_err e = store_chunk_assets_end(&s);
    store_asset_stream_free(&s);
    return e;
}

/* Owners in one order in every transaction, so two workers adding to the same owners' counts
 * lock the rows in the same order and never deadlock. */
static int cmp_owner(const void *x, const void *y)
{
    const store_owner_count *a = x, *b = y;
    if (a->owner_kind != b->owner_kind)
        return a->owner_kind - b->owner_kind;
    if (a->attr_enc != b->attr_enc)
        return (int)a->attr_enc - (int)b->attr_enc;
    size_t n = a->owner.n < b->owner.n ? a->owner.n : b->owner.n;
    int c = memcmp(a->owner.p, b->owner.p, n);
    return c ? c : (a->owner.n > b->owner.n) - (a->owner.n < b->owner.n);
}

static asset_err add_owner_counts(db_conn *c, const char *restore_id, store_owner_count *owners,
                                  int n)
{
    sqlbuf b;
    PGresult *r = NULL;
    if (n == 0)
        return ASSET_OK;
    qsort(owners, (size_t)n, sizeof *owners, cmp_owner);
    sqlbuf_init(&b);
    sqlbuf_add(&b, "INSERT INTO restore_owner_counts (restore_id, owner_kind, owner, "
                   "attr_enc, total, failed) VALUES ");
    int rid = sqlbuf_cstr(&b, restore_id);
    for (int i = 0; i < n; i++) {
        store_owner_count *o = &owners[i];
        sqlbuf_add(&b, "%s($%d::uuid, %d, $%d::text, %s, %ld, %ld)", i ? ", " : "", rid,
                   o->owner_kind, sqlbuf_text(&b, o->owner.p, o->owner.n),
                   o->attr_enc ? "true" : "false", o->total, o->failed);
    }
    sqlbuf_add(&b, " ON CONFLICT (restore_id, owner_kind, owner, attr_enc) DO UPDATE SET "
                   "total = restore_owner_counts.total + EXCLUDED.total, "
                   "failed = restore_owner_counts.failed + EXCLUDED.failed");
    asset_err e = sqlbuf_exec(&b, c, &r);
    PQclear(r);
    sqlbuf_free(&b);
    return e;
}

asset_err store_chunk_done(db_conn *c, const store_chunk *ch, const store_progress *pr,
                           store_owner_count *owners, int n_owners, const char *lease_owner,
                           int lease_seconds)
{
    sqlbuf b;
    PGresult *r = NULL;
    asset_err e = add_owner_counts(c, ch->restore_id, owners, n_owners);
    if (e != ASSET_OK)
        return e;
    sqlbuf_init(&b);
    /* lease_owner/lease_until only say who worked on the job last (chunk locks do the rest). */
    int id = sqlbuf_cstr(&b, ch->restore_id);
    sqlbuf_add(&b,
               "WITH c AS (UPDATE restore_chunks SET done = true WHERE restore_id = $%d AND "
               "chunk = $%d) "
               "UPDATE restores SET status = " RESTORE_SQL_RUNNING ", processed = processed + %ld, "
               "accepted = accepted + %ld, failed = failed + %ld, "
               "f_password = f_password + %ld, f_unlocked = f_unlocked + %ld, "
               "f_user_auth = f_user_auth + %ld, f_first_unlock = f_first_unlock + %ld, "
               "lease_owner = $%d, lease_until = now() + make_interval(secs => %d) WHERE id = $%d "
               "AND status IN " RESTORE_SQL_PENDING,
               id, sqlbuf_int(&b, ch->chunk), pr->processed, pr->accepted, pr->failed,
               pr->failures[RULE_PASSWORD], pr->failures[RULE_UNLOCKED],
               pr->failures[RULE_USER_AUTH], pr->failures[RULE_FIRST_UNLOCK],
               sqlbuf_cstr(&b, lease_owner), lease_seconds, id);
    e = sqlbuf_exec(&b, c, &r);
    /* The job was ended meanwhile (its target device removed): the chunk rolls back. */
    if (e == ASSET_OK && strcmp(PQcmdTuples(r), "0") == 0)
        e = ASSET_NOT_FOUND;
    PQclear(r);
    sqlbuf_free(&b);
    return e;
}

asset_err store_restore_finishable(db_conn *c, char id[UUID_TEXT_LEN],
                                   char target_id[UUID_TEXT_LEN], bool *found)
{
    static const char *const names[] = {"id", "target_device_id"};
    static const row_type type = {names, 2};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    *found = false;
    id[0] = target_id[0] = 0;
    asset_err e = db_exec(c,
                          "SELECT r.id, r.target_device_id FROM restores r "
                          "WHERE r.status IN " RESTORE_SQL_PENDING " AND NOT EXISTS (SELECT 1 FROM "
                          "restore_chunks c WHERE c.restore_id = r.id AND NOT c.done) "
                          "ORDER BY r.created_at FOR UPDATE OF r SKIP LOCKED LIMIT 1",
                          0, NULL, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_count(&rows) == 1) {
        *found = true;
        copy_id(id, &rows, 0, 0);
        copy_id(target_id, &rows, 0, 1);
    }
    PQclear(r);
    return e;
}

asset_err store_restore_finish(db_conn *c, const char *id, const char *target_id)
{
    const char *vals[] = {id, target_id};
    asset_err e = exec_discard(
        c,
        "INSERT INTO sync_results (device_id, owner_kind, owner, attr_enc, restore_id, total, "
        "failed, finished_at) SELECT $2, owner_kind, owner, attr_enc, restore_id, total, failed, "
        "now() FROM restore_owner_counts WHERE restore_id = $1 "
        "ON CONFLICT (device_id, owner_kind, owner, attr_enc) DO UPDATE SET "
        "restore_id = EXCLUDED.restore_id, total = EXCLUDED.total, failed = EXCLUDED.failed, "
        "finished_at = EXCLUDED.finished_at",
        2, vals);
    /* The NOTIFY is delivered at COMMIT: it wakes long polls on every instance (longpoll.c). */
    if (e == ASSET_OK)
        e = exec_discard(c,
                         "WITH u AS (UPDATE restores SET status = " RESTORE_SQL_DONE
                         ", finished_at = now(), "
                         "lease_owner = NULL, lease_until = NULL WHERE id = $1 RETURNING id) "
                         "SELECT pg_notify('" SYNC_DONE_CHANNEL "', id::text) FROM u",
                         1, vals);
    return e;
}

asset_err store_restore_fail(db_conn *c, const char *id)
{
    const char *vals[] = {id};
    return exec_discard(
        c,
        "WITH u AS (UPDATE restores SET status = " RESTORE_SQL_FAILED ", finished_at = now(), "
        "lease_owner = NULL, lease_until = NULL WHERE id = $1 AND status IN " RESTORE_SQL_PENDING
        " RETURNING id) SELECT pg_notify('" SYNC_DONE_CHANNEL "', id::text) FROM u",
        1, vals);
}

asset_err store_restore_release(db_conn *c, const char *lease_owner)
{
    const char *vals[] = {lease_owner};
    return exec_discard(c,
                        "UPDATE restores SET lease_owner = NULL, lease_until = NULL "
                        "WHERE lease_owner = $1 AND status = " RESTORE_SQL_RUNNING,
                        1, vals);
}
