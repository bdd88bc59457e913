/* store_restore: the SQL of restore jobs as clients see them (store_sync.h) — queuing a job or a
 * retry with its chunks, reading jobs, their reports (restore_records) and the per-owner sync
 * results. The worker's statements are store_chunk.c. Rows are read by column name (row.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sync.h"

static const char *const status_names[RESTORE_STATUS_COUNT] = {
    [RESTORE_QUEUED] = RESTORE_QUEUED_NAME,
    [RESTORE_RUNNING] = RESTORE_RUNNING_NAME,
    [RESTORE_DONE] = RESTORE_DONE_NAME,
    [RESTORE_FAILED] = RESTORE_FAILED_NAME,
};

const char *store_restore_status_name(int status)
{
    return status >= 0 && status < RESTORE_STATUS_COUNT ? status_names[status]
                                                        : RESTORE_FAILED_NAME;
}

int store_restore_status_parse(const char *name)
{
    for (int i = 0; name && i < RESTORE_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

/* A stored status; one the table does not know reads as failed. */
static int status_of(const char *name)
{
    int st = store_restore_status_parse(name);
    return st >= 0 ? st : RESTORE_FAILED;
}

static void copy_id(char out[UUID_TEXT_LEN], const row_reader *rows, int i, int k)
{
    snprintf(out, UUID_TEXT_LEN, "%s", row_text(rows, i, k, NULL));
}

/* ---- restore_info rows ---- */

enum {
    RI_ID,
    RI_BACKUP_ID,
    RI_TARGET,
    RI_STATUS,
    RI_TOTAL,
    RI_PROCESSED,
    RI_ACCEPTED,
    RI_FAILED,
    RI_F_PASSWORD,
    RI_F_UNLOCKED,
    RI_F_USER_AUTH,
    RI_F_FIRST_UNLOCK,
    RI_CREATED_MS,
    RI_FINISHED_MS,
    RI_RETRY_OF,
    RI_COLS
};
static const char *const restore_names[RI_COLS] = {
    "id",          "backup_id",      "target_device_id", "status",      "total",
    "processed",   "accepted",       "failed",           "f_password",  "f_unlocked",
    "f_user_auth", "f_first_unlock", "created_ms",       "finished_ms", "retry_of"};
static const row_type restore_row = {restore_names, RI_COLS};
#define RESTORE_COLS                                                                               \
    "id, backup_id, target_device_id, status, total, processed, accepted, failed, f_password, "    \
    "f_unlocked, f_user_auth, f_first_unlock, "                                                    \
    "(extract(epoch FROM created_at) * 1000)::bigint AS created_ms, "                              \
    "coalesce((extract(epoch FROM finished_at) * 1000)::bigint, 0) AS finished_ms, "               \
    "coalesce(retry_of::text, '') AS retry_of"

/* Row 0 of a result of RESTORE_COLS into out: NOT_FOUND when there is none. */
static asset_err read_restore(const PGresult *r, row_cache *cache, restore_info *out)
{
    row_reader rows;
    memset(out, 0, sizeof *out);
    if (row_bind(&rows, r, &restore_row, cache) != 0)
        return ASSET_DATA_CORRUPTED;
    if (row_count(&rows) != 1)
        return ASSET_NOT_FOUND;
    copy_id(out->id, &rows, 0, RI_ID);
    copy_id(out->backup_id, &rows, 0, RI_BACKUP_ID);
    copy_id(out->target_id, &rows, 0, RI_TARGET);
    out->status = status_of(row_text(&rows, 0, RI_STATUS, NULL));
    out->total = (long)row_i64(&rows, 0, RI_TOTAL);
    out->processed = (long)row_i64(&rows, 0, RI_PROCESSED);
    out->accepted = (long)row_i64(&rows, 0, RI_ACCEPTED);
    out->failed = (long)row_i64(&rows, 0, RI_FAILED);
    for (int i = 0; i < 4; i++) /* f_password .. f_first_unlock: RULE_PASSWORD .. */
        out->failures[RULE_PASSWORD + i] = (long)row_i64(&rows, 0, RI_F_PASSWORD + i);
    out->created_ms = row_i64(&rows, 0, RI_CREATED_MS);
    out->finished_ms = row_i64(&rows, 0, RI_FINISHED_MS);
    copy_id(out->retry_of, &rows, 0, RI_RETRY_OF);
    return ASSET_OK;
}

asset_err store_restore_insert(db_conn *c, const char *id, const char *backup_id,
                               const char *target_id, int sync_bit, int chunk_size,
                               restore_info *out)
{
    static row_cache cache;
    char bit[8], chunk[16];
    PGresult *r = NULL, *chunks = NULL;
    snprintf(bit, sizeof bit, "%d", sync_bit);
    snprintf(chunk, sizeof chunk, "%d", chunk_size);
    const char *v1[] = {id, backup_id, target_id, bit, chunk};
    const char *v2[] = {id, backup_id, chunk};
    memset(out, 0, sizeof *out);
    /* report_chunk: its report keeps rows for refused records only (IMPLIED_ACCEPTED). The
     * total from the backup's groups (their counts, written with the backup), not by counting
     * its records: a restore's time runs from this transaction's start. */
    asset_err e = db_exec(
        c,
        "WITH ins AS (INSERT INTO restores (id, backup_id, target_device_id, sync_bit, total, "
        "report_chunk) SELECT $1, $2, $3, $4, coalesce(sum(n), 0), $5::int FROM backup_groups "
        "WHERE backup_id = $2 AND (sync_type & $4::smallint) <> 0 RETURNING " RESTORE_COLS
        "), n AS (SELECT pg_notify('" STORE_RESTORE_CHANNEL "', id::text) FROM ins) "
        "SELECT ins.* FROM ins, n",
        5, v1, NULL, NULL, &r);
    /* Cut into chunks here, so several workers can share the job: chunk g holds ordinals
     * g * chunk_size .. (the report's implied outcomes rely on it). */
    if (e == ASSET_OK)
        e = db_exec(c,
                    "INSERT INTO restore_chunks (restore_id, chunk, first_ordinal, last_ordinal) "
                    "SELECT $1, g, g * $3::int, least(g * $3::int + $3::int - 1, "
                    "b.record_count - 1) FROM backups b, "
                    "generate_series(0, (b.record_count - 1) / $3::int) g "
                    "WHERE b.id = $2 AND b.record_count > 0",
                    3, v2, NULL, NULL, &chunks);
    if (e == ASSET_OK)
        e = read_restore(r, &cache, out);
    PQclear(chunks);
    PQclear(r);
    return e;
}

asset_err store_restore_get(db_pool *p, const char *id, restore_info *out)
{
    static row_cache cache;
    PGresult *r = NULL;
    const char *vals[] = {id};
    memset(out, 0, sizeof *out);
    asset_err e = db_run_sql(p, "SELECT " RESTORE_COLS " FROM restores WHERE id = $1", 1, vals,
                             NULL, NULL, &r);
    if (e == ASSET_OK)
        e = read_restore(r, &cache, out);
    PQclear(r);
    return e;
}

asset_err store_restore_counts(db_pool *p, long counts[RESTORE_STATUS_COUNT])
{
    static const char *const names[] = {"status", "n"};
    static const row_type type = {names, 2};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    memset(counts, 0, RESTORE_STATUS_COUNT * sizeof *counts);
    asset_err e = db_run_sql(p, "SELECT status, count(*) AS n FROM restores GROUP BY status", 0,
                             NULL, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    for (int i = 0; e == ASSET_OK && i < row_count(&rows); i++) {
        int k = store_restore_status_parse(row_text(&rows, i, 0, NULL));
        if (k >= 0)
            counts[k] = (long)row_i64(&rows, i, 1);
    }
    PQclear(r);
    return e;
}

asset_err store_sync_result_get(db_pool *p, const char *device_id, int owner_kind, asset_text owner,
                                bool enc, sync_result *out)
{
    enum { TOTAL, FAILED, RESTORE_ID, FINISHED_MS, NCOL };
    static const char *const names[NCOL] = {"total", "failed", "restore_id", "finished_ms"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {device_id, owner_kind == OWNER_GROUP ? SQL_OWNER_GROUP : SQL_OWNER_APP,
                          owner.p, enc ? "t" : "f"};
    const int lens[] = {0, 0, (int)owner.n, 0}, fmts[] = {0, 0, 1, 0};
    memset(out, 0, sizeof *out);
    asset_err e = db_run_sql(p,
                             "SELECT total, failed, restore_id, "
                             "(extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms "
                             "FROM sync_results WHERE device_id = $1 AND owner_kind = $2 AND "
                             "owner = $3::text AND attr_enc = $4",
                             4, vals, lens, fmts, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_count(&rows) == 1) {
        out->total = (long)row_i64(&rows, 0, TOTAL);
        out->failed = (long)row_i64(&rows, 0, FAILED);
        out->has_restore = true;
        copy_id(out->restore_id, &rows, 0, RESTORE_ID);
        out->finished_ms = row_i64(&rows, 0, FINISHED_MS);
    }
    PQclear(r);
    return e;
}

/* The report of a job whose report_chunk is set (migration 0017) keeps rows for its refused
 * records only: backup record b of its backup was accepted by job (id, sync_bit, report_chunk:
 * SQL expressions) when it takes part in the job's kind of move, its chunk is done and it has no
 * row. A chunk's refused rows and its done mark commit together, so the implied outcomes appear
 * exactly when the stored ones do. The chunk's and the row's look-ups are one scalar subquery,
 * a filter evaluated per record, not a join: a join lets the planner read every record of the
 * backup after the cursor and sort them for a page of 100 (70 ms against 0.7 for 100,000
 * records). */
#define IMPLIED_ACCEPTED(id, bit, chunk)                                                           \
    "(b.sync_type & " bit ") <> 0 AND (SELECT c.done AND NOT EXISTS (SELECT 1 FROM "               \
    "restore_records x WHERE x.restore_id = c.restore_id AND x.ordinal = b.ordinal) "              \
    "FROM restore_chunks c WHERE c.restore_id = " id " AND c.chunk = b.ordinal / " chunk ")"

/* A retry's inherited outcomes that its base (job $2 of the retry's statement) keeps no row
 * for: its implied accepted records of the owners the retry touches (todo). */
#define INHERITED_IMPLIED                                                                          \
    "SELECT ins.id, b.ordinal, b.owner_kind, b.owner, b.attr_enc, 0, true "                        \
    "FROM ins, restores p JOIN backup_records b ON b.backup_id = p.backup_id "                     \
    "WHERE p.id = $2 AND p.report_chunk IS NOT NULL AND "                                          \
    "(b.owner_kind, b.owner, b.attr_enc) IN (SELECT owner_kind, owner, attr_enc FROM todo) "       \
    "AND " IMPLIED_ACCEPTED("p.id", "p.sync_bit", "p.report_chunk")

/* ---- retries ---- */

asset_err store_restore_family(db_conn *c, const char *id, store_retry_base *out)
{
    enum { BASE, STATUS, TARGET, PWD, LOCKED, UNLOCKED, ASKED, NCOL };
    static const char *const names[NCOL] = {"id",          "status",        "target_device_id",
                                            "pwd_set",     "screen_locked", "unlocked_since_boot",
                                            "asked_status"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    PGresult *r = NULL;
    row_reader rows;
    const char *vals[] = {id};
    memset(out, 0, sizeof *out);
    /* Locking the family's first job serializes retries of one family; the family is read by
     * the next statement, whose snapshot sees a retry committed while we waited. */
    asset_err e = db_exec(c,
                          "SELECT id FROM restores WHERE id = (SELECT coalesce(retry_root, id) "
                          "FROM restores WHERE id = $1) FOR UPDATE",
                          1, vals, NULL, NULL, &r);
    PQclear(r);
    r = NULL;
    if (e == ASSET_OK)
        e = db_exec(c,
                    "WITH root AS (SELECT coalesce(retry_root, id) AS id FROM restores "
                    "WHERE id = $1) "
                    "SELECT r.id, r.status, r.target_device_id, b.pwd_set, b.screen_locked, "
                    "b.unlocked_since_boot, (SELECT status FROM restores WHERE id = $1) AS "
                    "asked_status FROM restores r JOIN backups b ON b.id = r.backup_id, root "
                    "WHERE r.id = root.id OR r.retry_root = root.id "
                    "ORDER BY r.created_at DESC, (r.id = root.id) LIMIT 1",
                    1, vals, NULL, NULL, &r);
    if (e == ASSET_OK && row_bind(&rows, r, &type, &cache) != 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_count(&rows) == 1) {
        out->found = true;
        out->status = status_of(row_text(&rows, 0, STATUS, NULL));
        out->asked_status = status_of(row_text(&rows, 0, ASKED, NULL));
        copy_id(out->base_id, &rows, 0, BASE);
        copy_id(out->target_id, &rows, 0, TARGET);
        out->old_state = (device_state){row_bool(&rows, 0, PWD), row_bool(&rows, 0, LOCKED),
                                        row_bool(&rows, 0, UNLOCKED)};
    }
    PQclear(r);
    return e;
}

asset_err store_restore_retry_insert(db_conn *c, const char *id, const char *base, int rules,
                                     const char *retry_of, int chunk_size, restore_info *out)
{
    static row_cache cache;
    char rules_s[8], chunk[16];
    PGresult *r = NULL;
    snprintf(rules_s, sizeof rules_s, "%d", rules);
    snprintf(chunk, sizeof chunk, "%d", chunk_size);
    const char *vals[] = {id, base, rules_s, retry_of, chunk};
    memset(out, 0, sizeof *out);
    /* The job, its chunks over the retried records, its owners' counts (the base's, less the
     * retried records, which the worker counts again) and the inherited outcomes of those
     * owners' other records: the base's rows, and its implied accepted records when it keeps
     * none for them. The retried rules never include RULE_OK. A retry keeps a row for every
     * outcome (its chunks cover only the records it retries). */
    asset_err e =
        db_exec(c,
                "WITH todo AS (SELECT ordinal, owner_kind, owner, attr_enc FROM restore_records "
                "WHERE restore_id = $2 AND ((1 << rule) & $3::int) <> 0), "
                "ins AS (INSERT INTO restores (id, backup_id, target_device_id, sync_bit, total, "
                "retry_of, retry_root, retry_base, retry_rules) "
                "SELECT $1, p.backup_id, p.target_device_id, p.sync_bit, "
                "(SELECT count(*) FROM todo), $4, coalesce(p.retry_root, p.id), p.id, "
                "$3::smallint FROM restores p WHERE p.id = $2 AND EXISTS (SELECT 1 FROM todo) "
                "AND EXISTS (SELECT 1 FROM devices d WHERE d.id = p.target_device_id) "
                "RETURNING " RESTORE_COLS "), "
                "ch AS (INSERT INTO restore_chunks (restore_id, chunk, first_ordinal, "
                "last_ordinal) SELECT ins.id, g, min(ordinal), max(ordinal) FROM ins, "
                "(SELECT ordinal, (row_number() OVER (ORDER BY ordinal) - 1) / $5::int AS g "
                "FROM todo) t GROUP BY ins.id, g), "
                "oc AS (INSERT INTO restore_owner_counts (restore_id, owner_kind, owner, "
                "attr_enc, total, failed) SELECT ins.id, o.owner_kind, o.owner, o.attr_enc, "
                "o.total - t.n, o.failed - t.n FROM ins, restore_owner_counts o JOIN "
                "(SELECT owner_kind, owner, attr_enc, count(*) AS n FROM todo "
                "GROUP BY owner_kind, owner, attr_enc) t USING (owner_kind, owner, attr_enc) "
                "WHERE o.restore_id = $2), "
                "inh AS (INSERT INTO restore_records (restore_id, ordinal, owner_kind, owner, "
                "attr_enc, rule, inherited) SELECT ins.id, x.ordinal, x.owner_kind, x.owner, "
                "x.attr_enc, x.rule, true FROM ins, restore_records x "
                "WHERE x.restore_id = $2 AND ((1 << x.rule) & $3::int) = 0 AND "
                "(x.owner_kind, x.owner, x.attr_enc) IN (SELECT owner_kind, owner, attr_enc "
                "FROM todo) UNION ALL " INHERITED_IMPLIED "), "
                "n AS (SELECT pg_notify('" STORE_RESTORE_CHANNEL "', id::text) FROM ins) "
                "SELECT ins.* FROM ins, (SELECT count(*) FROM n) nn",
                5, vals, NULL, NULL, &r);
    if (e == ASSET_OK)
        e = read_restore(r, &cache, out);
    PQclear(r);
    return e;
}

/* ---- the report ---- */

/* The job's column col, by a scalar subquery: a constant for the planner. */
#define JOB_COL(col) "(SELECT " col " FROM restores WHERE id = $1)"

/* A page of job $1's stored report rows after ordinal $2 (filters: $3 outcome, $4 rule, $5-$7
 * owner, $8 decided only; $9 rows at most), in ordinal order from the primary key. One table, its
 * alias looked up per row of the page: joined to the job and its backup, a table not analyzed
 * yet (a job being restored) let the planner read every row of the job and sort them for a page
 * (test_report_page_plans). */
#define PAGE_STORED                                                                                \
    "(SELECT x.ordinal, x.owner_kind, x.owner, x.attr_enc, x.rule, (SELECT b.alias "               \
    "FROM backup_records b WHERE b.backup_id = " JOB_COL(                                          \
        "backup_id") " AND "                                                                       \
                     "b.ordinal = x.ordinal) AS alias FROM restore_records x "                     \
                     "WHERE x.restore_id = $1 AND x.ordinal > $2::int "                            \
                     "AND ($3::int < 0 OR (x.rule = 0) = ($3::int = 0)) AND ($4::int = 0 OR "      \
                     "x.rule = $4::int) "                                                          \
                     "AND ($5::int < 0 OR (x.owner_kind = $5::int AND x.owner = $6::text AND "     \
                     "x.attr_enc = $7::boolean)) AND NOT ($8::boolean AND x.inherited) "           \
                     "ORDER BY x.ordinal LIMIT $9::int)"

/* The same page of its implied accepted records, if it keeps no rows for them (never inherited;
 * only when the filters let accepted records through), in ordinal order from backup_records'
 * primary key or owner index. The job's columns are read by scalar subqueries, constants for
 * the planner, so that the index's order is the page's (a join to restores would sort every
 * record after the cursor instead). */
/* clang-format off */
#define PAGE_IMPLIED                                                                               \
    "(SELECT b.ordinal, b.owner_kind, b.owner, b.attr_enc, 0::smallint, b.alias "                  \
    "FROM backup_records b WHERE $3::int <= 0 AND $4::int = 0 "                                    \
    "AND " JOB_COL("report_chunk") " IS NOT NULL "                                                 \
    "AND b.backup_id = " JOB_COL("backup_id") " AND b.ordinal > $2::int "                          \
    "AND ($5::int < 0 OR (b.owner_kind = $5::int AND b.owner = $6::text AND "                      \
    "b.attr_enc = $7::boolean)) "                                                                  \
    "AND " IMPLIED_ACCEPTED("$1", JOB_COL("sync_bit"), JOB_COL("report_chunk"))                    \
    " ORDER BY b.ordinal LIMIT $9::int)"
/* clang-format on */

/* Each side up to the page's size, the two merged. */
#define RECORDS_PAGE_SQL PAGE_STORED " UNION ALL " PAGE_IMPLIED " ORDER BY ordinal LIMIT $9::int"

const char *store_restore_records_sql(void)
{
    return RECORDS_PAGE_SQL;
}

asset_err store_restore_records(db_pool *p, const store_records_query *q, arena *a,
                                record_row **out, int *n)
{
    enum { ORDINAL, KIND, OWNER, ENC, RULE, ALIAS, NCOL };
    static const char *const names[NCOL] = {"ordinal",  "owner_kind", "owner",
                                            "attr_enc", "rule",       "alias"};
    static const row_type type = {names, NCOL};
    static row_cache cache;
    char after[16], outcome[16], rule[16], kind[16], lim[24];
    PGresult *r = NULL;
    row_reader rows;
    snprintf(after, sizeof after, "%d", q->after);
    snprintf(outcome, sizeof outcome, "%d", q->outcome);
    snprintf(rule, sizeof rule, "%d", q->rule);
    snprintf(kind, sizeof kind, "%d", q->owner_kind);
    snprintf(lim, sizeof lim, "%ld", q->limit);
    const char *vals[] = {q->restore_id,
                          after,
                          outcome,
                          rule,
                          kind,
                          q->owner.p ? q->owner.p : "",
                          q->enc ? "t" : "f",
                          q->decided_only ? "t" : "f",
                          lim};
    const int lens[] = {0, 0, 0, 0, 0, (int)q->owner.n, 0, 0, 0},
              fmts[] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
    *out = NULL;
    *n = 0;
    asset_err e = db_run_sql(p, RECORDS_PAGE_SQL, 9, vals, lens, fmts, &r);
    int count = 0;
    if (e == ASSET_OK)
        *out = row_bind_array(&rows, r, &type, &cache, a, sizeof **out, &count, &e);
    for (int i = 0; e == ASSET_OK && i < count; i++, (*n)++) {
        record_row *o = &(*out)[i];
        size_t ol = 0, al = 0;
        const char *owner = row_text(&rows, i, OWNER, &ol), *alias = row_text(&rows, i, ALIAS, &al);
        memset(o, 0, sizeof *o);
        o->owner = (asset_text){arena_strndup(a, owner, ol), ol};
        o->alias = (asset_text){arena_strndup(a, alias, al), al};
        if (!o->owner.p || !o->alias.p) {
            e = ASSET_OUT_OF_MEMORY;
            break;
        }
        o->ordinal = row_int(&rows, i, ORDINAL);
        o->owner_kind = row_int(&rows, i, KIND);
        o->attr_enc = row_bool(&rows, i, ENC);
        o->rule = row_int(&rows, i, RULE);
    }
    PQclear(r);
    return e;
}
