/* sync (part 1): backups, restore jobs, sync results. The worker is sync_worker.c. */
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit.h"
#include "../crypto/keyring.h"
#include "../crypto/record.h"
#include "../store/sqlbuf.h"
#include "../store/store.h"
#include "sync.h"
#include "sync_internal.h"

static const char *const status_names[RESTORE_STATUS_COUNT] = {
    [RESTORE_QUEUED] = RESTORE_QUEUED_NAME,
    [RESTORE_RUNNING] = RESTORE_RUNNING_NAME,
    [RESTORE_DONE] = RESTORE_DONE_NAME,
    [RESTORE_FAILED] = RESTORE_FAILED_NAME,
};

const char *sync_status_name(int status)
{
    return status >= 0 && status < RESTORE_STATUS_COUNT ? status_names[status]
                                                        : RESTORE_FAILED_NAME;
}

int sync_status_parse(const char *name)
{
    for (int i = 0; name && i < RESTORE_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

void sync_backup_where(char out[64], const char *backup_id)
{
    snprintf(out, 64, "backup:%s", backup_id);
}

void sync_backup_purpose(char out[96], const char *backup_id)
{
    snprintf(out, 96, "assetd.backup:%s", backup_id);
}

/* Re-seal one of the device's records for the backup: open under the device key, drop the
 * local labels, seal secret and labels under the transport key. */
static asset_err reseal_for_backup(asset_record *r, arena *a, const char *device_id,
                                   const unsigned char *dek, const char *where,
                                   const unsigned char *tk)
{
    unsigned char *secret = NULL;
    size_t len = 0;
    if ((r->attr_enc && record_open_labels(r, a, device_id, dek) != 0) ||
        record_open_secret(&secret, &len, r, a, device_id, dek) != 0)
        return ASSET_DATA_CORRUPTED;
    for (int i = LABEL_LOCAL; i < ASSET_LABELS; i++)
        r->labels[i] = (asset_text){NULL, 0};
    r->key_version = SYNC_BACKUP_KEY_VERSION;
    int rc = record_seal_labels(r, a, where, tk) | record_seal_secret(r, a, secret, len, where, tk);
    sodium_memzero(secret, len);
    return rc == 0 ? ASSET_OK : ASSET_CRYPTO_ERROR;
}

/* Copy one batch of the device's syncable assets (after seq *last) into the backup. */
static asset_err backup_batch(svc *s, db_conn *c, const char *device_id, const char *backup_id,
                              const unsigned char *tk, int64_t *last, int *ordinal, int *got)
{
    char where[64], last_s[24];
    unsigned char dek[SEAL_KEY_LEN];
    int dek_version = -1;
    PGresult *res = NULL;
    arena a = {0};
    copybuf b;
    copybuf_init(&b);
    sync_backup_where(where, backup_id);
    snprintf(last_s, sizeof last_s, "%lld", (long long)*last);
    const char *vals[] = {device_id, last_s};
    asset_err e = db_exec(c,
                          "SELECT " STORE_ASSET_COLS " FROM assets WHERE device_id = $1 AND "
                          "(sync_type & " SQL_SYNC_SYNCABLE ") <> 0 AND seq > $2 ORDER BY seq "
                          "LIMIT 500",
                          2, vals, NULL, NULL, &res);
    if (e != ASSET_OK)
        goto done;
    *got = PQntuples(res);
    if (*got == 0)
        goto done;
    row_reader rows;
    if (store_asset_rows(&rows, res) != 0) {
        e = ASSET_DATA_CORRUPTED;
        goto done;
    }
    for (int i = 0; i < *got && e == ASSET_OK; i++) {
        asset_record r;
        if (store_asset_decode(&rows, i, &r, &a) != 0) {
            e = ASSET_DATA_CORRUPTED;
            break;
        }
        if (r.key_version != dek_version) {
            if ((e = svc_device_key(s, c, device_id, r.key_version, dek)) != ASSET_OK)
                break;
            dek_version = r.key_version;
        }
        if ((e = reseal_for_backup(&r, &a, device_id, dek, where, tk)) != ASSET_OK)
            break;
        copybuf_text(&b, backup_id, strlen(backup_id));
        copybuf_int(&b, (*ordinal)++);
        copybuf_int(&b, r.owner_kind);
        copybuf_text(&b, r.owner.p, r.owner.n);
        copybuf_bool(&b, r.attr_enc);
        copybuf_text(&b, r.alias.p, r.alias.n);
        copybuf_int(&b, r.accessibility);
        copybuf_bool(&b, r.require_password_set);
        copybuf_int(&b, r.auth_type);
        copybuf_int(&b, r.sync_type);
        copybuf_bool(&b, r.is_persistent);
        copybuf_int(&b, r.wrap_type);
        copybuf_bytea(&b, r.labels_sealed, r.labels_sealed_len);
        copybuf_bytea(&b, r.sealed, r.sealed_len);
        copybuf_row(&b);
        *last = r.seq;
    }
    if (e == ASSET_OK)
        e = copybuf_send(&b, c,
                         "COPY backup_records (backup_id, ordinal, owner_kind, owner, attr_enc, "
                         "alias, accessibility, req_pwd, auth_type, sync_type, persistent, "
                         "wrap_type, labels_sealed, sealed) FROM STDIN");
done:
    sodium_memzero(dek, sizeof dek);
    copybuf_free(&b);
    arena_free(&a);
    PQclear(res);
    return e;
}

asset_err sync_backup_create(svc *s, const principal *p, const char *device_id, backup_info *out)
{
    unsigned char tk[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN];
    char purpose[96], kek[16], count_s[16];
    int kv = 0, ordinal = 0, got = 0;
    int64_t last = 0;
    db_conn *c = NULL;
    PGresult *r = NULL;
    bool in_tx = false;
    memset(out, 0, sizeof *out);
    uuid_new(out->id);
    snprintf(out->device_id, sizeof out->device_id, "%s", device_id);
    randombytes_buf(tk, sizeof tk);
    sync_backup_purpose(purpose, out->id);
    asset_err e =
        keyring_wrap(wrapped, &kv, tk, purpose, s->cfg->keys) == 0 ? ASSET_OK : ASSET_CRYPTO_ERROR;
    snprintf(kek, sizeof kek, "%d", kv);
    /* One REPEATABLE READ transaction: the snapshot is consistent with the recorded state. */
    if (e != ASSET_OK || (e = db_acquire(s->pool, &c)) != ASSET_OK)
        goto done;
    PGresult *tx = NULL;
    if ((e = db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, NULL, NULL, &tx)) !=
        ASSET_OK)
        goto done;
    PQclear(tx);
    in_tx = true;
    const char *v1[] = {out->id, device_id, kek, (const char *)wrapped};
    const int l1[] = {0, 0, 0, sizeof wrapped}, f1[] = {0, 0, 0, 1};
    e = db_exec(
        c,
        "INSERT INTO backups (id, device_id, account_id, pwd_set, screen_locked, "
        "unlocked_since_boot, kek_version, wrapped_key, record_count) "
        "SELECT $1, id, account_id, pwd_set, screen_locked, unlocked_since_boot, $3, $4, 0 "
        "FROM devices WHERE id = $2 RETURNING (extract(epoch FROM created_at) * 1000)::bigint",
        4, v1, l1, f1, &r);
    if (e != ASSET_OK)
        goto done;
    if (PQntuples(r) != 1) {
        e = ASSET_NOT_FOUND;
        goto done;
    }
    out->created_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = NULL;
    do {
        e = backup_batch(s, c, device_id, out->id, tk, &last, &ordinal, &got);
    } while (e == ASSET_OK && got > 0);
    if (e != ASSET_OK)
        goto done;
    snprintf(count_s, sizeof count_s, "%d", ordinal);
    const char *v2[] = {out->id, count_s};
    audit_event ev;
    audit_event_init(&ev, s, p, "createBackup", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", device_id);
    /* The groups the preview decides (sync_preview.c): what the rules read, counted. */
    PGresult *g = NULL;
    e = db_exec(
        c,
        "INSERT INTO backup_groups SELECT $1, owner_kind, owner, attr_enc, accessibility, "
        "req_pwd, auth_type, sync_type, count(*) FROM backup_records WHERE backup_id = $1 "
        "GROUP BY owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, sync_type",
        1, v2, NULL, NULL, &g);
    PQclear(g);
    if (e != ASSET_OK ||
        (e = db_exec(c, "UPDATE backups SET record_count = $2 WHERE id = $1", 2, v2, NULL, NULL,
                     &r)) != ASSET_OK ||
        (e = audit_append(c, &ev, "ok")) != ASSET_OK || (e = db_commit(c)) != ASSET_OK)
        goto done;
    in_tx = false;
    out->record_count = ordinal;
done:
    if (in_tx)
        db_rollback(c);
    db_release(s->pool, c);
    PQclear(r);
    sodium_memzero(tk, sizeof tk);
    return e;
}

asset_err sync_backup_get(svc *s, const char *id, backup_info *out)
{
    PGresult *r = NULL;
    const char *vals[] = {id};
    memset(out, 0, sizeof *out);
    asset_err e =
        db_run_sql(s->pool,
                   "SELECT id, device_id, (extract(epoch FROM created_at) * 1000)::bigint, "
                   "record_count FROM backups WHERE id = $1 AND octet_length(wrapped_key) > 0",
                   1, vals, NULL, NULL, &r);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    if (e == ASSET_OK) {
        snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->device_id, sizeof out->device_id, "%s", PQgetvalue(r, 0, 1));
        out->created_ms = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        out->record_count = atol(PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return e;
}

void sync_read_restore(PGresult *r, restore_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(out->backup_id, sizeof out->backup_id, "%s", PQgetvalue(r, 0, 1));
    snprintf(out->target_id, sizeof out->target_id, "%s", PQgetvalue(r, 0, 2));
    int st = sync_status_parse(PQgetvalue(r, 0, 3));
    out->status = st >= 0 ? st : RESTORE_FAILED;
    out->total = atol(PQgetvalue(r, 0, 4));
    out->processed = atol(PQgetvalue(r, 0, 5));
    out->accepted = atol(PQgetvalue(r, 0, 6));
    out->failed = atol(PQgetvalue(r, 0, 7));
    for (int i = 0; i < 4; i++)
        out->failures[RULE_PASSWORD + i] = atol(PQgetvalue(r, 0, 8 + i));
    out->created_ms = strtoll(PQgetvalue(r, 0, 12), NULL, 10);
    out->finished_ms = strtoll(PQgetvalue(r, 0, 13), NULL, 10);
    snprintf(out->retry_of, sizeof out->retry_of, "%s", PQgetvalue(r, 0, 14));
}

asset_err sync_restore_check(svc *s, const char *backup_id, const char *target_id, bool *same)
{
    PGresult *r = NULL;
    const char *v1[] = {backup_id, target_id};
    /* A backup whose transport key is destroyed is being deleted: gone already. */
    asset_err e = db_run_sql(s->pool,
                             "SELECT b.device_id, b.account_id, d.account_id, "
                             "(SELECT count(*) FROM devices WHERE id = $2) "
                             "FROM backups b LEFT JOIN devices d ON d.id = $2 WHERE b.id = $1 AND "
                             "octet_length(b.wrapped_key) > 0",
                             2, v1, NULL, NULL, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1 || atoi(PQgetvalue(r, 0, 3)) == 0) {
        PQclear(r);
        return ASSET_NOT_FOUND;
    }
    *same = strcmp(PQgetvalue(r, 0, 0), target_id) == 0;
    bool trusted = !PQgetisnull(r, 0, 1) && !PQgetisnull(r, 0, 2) &&
                   strcmp(PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2)) == 0 && PQgetvalue(r, 0, 1)[0];
    PQclear(r);
    return *same || trusted ? ASSET_OK : ASSET_PERMISSION_DENIED;
}

asset_err sync_restore_create(svc *s, const principal *p, const char *backup_id,
                              const char *target_id, restore_info *out)
{
    PGresult *r = NULL;
    bool same = false;
    memset(out, 0, sizeof *out);
    asset_err e = sync_restore_check(s, backup_id, target_id, &same);
    if (e != ASSET_OK)
        return e;
    char id[UUID_TEXT_LEN];
    db_conn *c = NULL;
    audit_event ev;
    uuid_new(id);
    audit_event_init(&ev, s, p, "createRestore", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", target_id);
    const char *v2[] = {id, backup_id, target_id,
                        same ? SQL_SYNC_THIS_DEVICE : SQL_SYNC_TRUSTED_DEVICE};
    if ((e = db_acquire(s->pool, &c)) != ASSET_OK || (e = db_begin(c)) != ASSET_OK)
        goto done;
    /* The job is cut into chunks of records here, so several workers can share it; the NOTIFY
     * is delivered at COMMIT and wakes the idle ones. */
    char chunk_s[16];
    snprintf(chunk_s, sizeof chunk_s, "%d", s->cfg->restore_batch);
    const char *v3[] = {id, backup_id, chunk_s};
    PGresult *chunks = NULL;
    if ((e = db_exec(
             c,
             "WITH ins AS (INSERT INTO restores (id, backup_id, target_device_id, "
             "sync_bit, total) SELECT $1, $2, $3, $4, count(*) FROM backup_records "
             "WHERE backup_id = $2 AND (sync_type & $4::smallint) <> 0 RETURNING " RESTORE_COLS
             "), n AS (SELECT pg_notify('assetd_restores', id::text) FROM ins) "
             "SELECT ins.* FROM ins, n",
             4, v2, NULL, NULL, &r)) == ASSET_OK)
        e = db_exec(c,
                    "INSERT INTO restore_chunks (restore_id, chunk, first_ordinal, last_ordinal) "
                    "SELECT $1, g, g * $3::int, least(g * $3::int + $3::int - 1, "
                    "b.record_count - 1) FROM backups b, "
                    "generate_series(0, (b.record_count - 1) / $3::int) g "
                    "WHERE b.id = $2 AND b.record_count > 0",
                    3, v3, NULL, NULL, &chunks);
    PQclear(chunks);
    if (e != ASSET_OK || (e = audit_append(c, &ev, "ok")) != ASSET_OK ||
        (e = db_commit(c)) != ASSET_OK)
        goto done;
    sync_read_restore(r, out);
done:
    if (c && e != ASSET_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_rollback(c);
    db_release(s->pool, c);
    PQclear(r);
    return e;
}

asset_err sync_restore_get(svc *s, const char *id, restore_info *out)
{
    PGresult *r = NULL;
    const char *vals[] = {id};
    asset_err e = db_run_sql(s->pool, "SELECT " RESTORE_COLS " FROM restores WHERE id = $1", 1,
                             vals, NULL, NULL, &r);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    if (e == ASSET_OK)
        sync_read_restore(r, out);
    PQclear(r);
    return e;
}

asset_err sync_restore_counts(svc *s, long counts[RESTORE_STATUS_COUNT])
{
    PGresult *r = NULL;
    asset_err e = db_run_sql(s->pool, "SELECT status, count(*) FROM restores GROUP BY status", 0,
                             NULL, NULL, NULL, &r);
    memset(counts, 0, RESTORE_STATUS_COUNT * sizeof *counts);
    for (int i = 0, k; e == ASSET_OK && i < PQntuples(r); i++)
        if ((k = sync_status_parse(PQgetvalue(r, i, 0))) >= 0)
            counts[k] = atol(PQgetvalue(r, i, 1));
    PQclear(r);
    return e;
}

asset_err sync_result_get(svc *s, const principal *p, asset_text group, bool enc, sync_result *out)
{
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    if (group.n && !principal_in_group(p, group.p, group.n))
        return ASSET_PERMISSION_DENIED;
    const char *owner = group.n ? group.p : p->app_id;
    size_t owner_len = group.n ? group.n : strlen(p->app_id);
    const char *vals[] = {p->device_id, group.n ? SQL_OWNER_GROUP : SQL_OWNER_APP, owner,
                          enc ? "t" : "f"};
    const int lens[] = {0, 0, (int)owner_len, 0}, fmts[] = {0, 0, 1, 0};
    asset_err e = db_run_sql(s->pool,
                             "SELECT total, failed, restore_id, "
                             "(extract(epoch FROM finished_at) * 1000)::bigint FROM sync_results "
                             "WHERE device_id = $1 AND owner_kind = $2 AND owner = $3::text AND "
                             "attr_enc = $4",
                             4, vals, lens, fmts, &r);
    if (e == ASSET_OK && PQntuples(r) == 1) {
        out->total = atol(PQgetvalue(r, 0, 0));
        out->failed = atol(PQgetvalue(r, 0, 1));
        out->has_restore = true;
        snprintf(out->restore_id, sizeof out->restore_id, "%s", PQgetvalue(r, 0, 2));
        out->finished_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    }
    PQclear(r);
    return e;
}

/* ---- stats ---- */

static _Atomic unsigned long long stat_accepted;
static _Atomic unsigned long long stat_failed[RULE_COUNT];

void sync_stats_add(unsigned long long accepted, const long failed[RULE_COUNT])
{
    atomic_fetch_add_explicit(&stat_accepted, accepted, memory_order_relaxed);
    for (int i = 0; i < RULE_COUNT; i++)
        atomic_fetch_add_explicit(&stat_failed[i], (unsigned long long)failed[i],
                                  memory_order_relaxed);
}

void sync_stats_read(sync_stats *out)
{
    out->accepted = atomic_load_explicit(&stat_accepted, memory_order_relaxed);
    for (int i = 0; i < RULE_COUNT; i++)
        out->failed[i] = atomic_load_explicit(&stat_failed[i], memory_order_relaxed);
}
