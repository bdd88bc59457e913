/* sync (part 1): backups, restore jobs, sync results. The worker is sync_worker.c; the SQL is
 * service/store/store_sync.h's. */
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../audit.h"
#include "../crypto/keyring.h"
#include "../crypto/record.h"
#include "sync.h"
#include "sync_internal.h"

const char *sync_status_name(int status)
{
    return store_restore_status_name(status);
}

int sync_status_parse(const char *name)
{
    return store_restore_status_parse(name);
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

/* Assets read and resealed per COPY into backup_records. */
#define BACKUP_BATCH_ROWS 500

typedef struct {
    svc *s;
    const principal *p;
    const char *device_id;
    const unsigned char *tk; /* the backup's transport key */
    int kek_version;
    const unsigned char *wrapped;
    backup_info *out;
} backup_ctx;

/* Copy the next batch of the device's syncable assets into the backup, resealed; *got: how
 * many (0: none left). */
static asset_err backup_batch(backup_ctx *x, db_conn *c, int *got)
{
    char where[64];
    unsigned char dek[SEAL_KEY_LEN];
    int dek_version = -1;
    store_records recs = {0};
    arena a = {0};
    sync_backup_where(where, x->out->id);
    *got = 0;
    asset_err e = store_backup_source_next(c, BACKUP_BATCH_ROWS, &a, &recs);
    for (int i = 0; e == ASSET_OK && i < recs.n; i++) {
        asset_record *r = &recs.rows[i];
        if (r->key_version != dek_version) {
            if ((e = svc_device_key(x->s, c, x->device_id, r->key_version, dek)) != ASSET_OK)
                break;
            dek_version = r->key_version;
        }
        e = reseal_for_backup(r, &a, x->device_id, dek, where, x->tk);
    }
    if (e == ASSET_OK)
        e = store_backup_records_add(c, x->out->id, (int)x->out->record_count, recs.rows, recs.n);
    if (e == ASSET_OK && recs.n) {
        *got = recs.n;
        x->out->record_count += recs.n;
    }
    sodium_memzero(dek, sizeof dek);
    store_records_free(&recs);
    arena_free(&a);
    return e;
}

/* The backup row, its records batch by batch, its groups and count, the audit event: one
 * REPEATABLE READ transaction, so the snapshot is consistent with the recorded state. */
static asset_err backup_tx(db_conn *c, void *arg)
{
    backup_ctx *x = arg;
    int got = 0;
    x->out->record_count = 0;
    asset_err e = store_backup_insert(c, x->out->id, x->device_id, x->kek_version, x->wrapped,
                                      SEAL_WRAPPED_KEY_LEN, &x->out->created_ms);
    if (e == ASSET_OK)
        e = store_backup_source_open(c, x->device_id);
    while (e == ASSET_OK && (e = backup_batch(x, c, &got)) == ASSET_OK && got > 0)
        ;
    if (e == ASSET_OK)
        e = store_backup_finish(c, x->out->id, x->out->record_count);
    if (e != ASSET_OK)
        return e;
    audit_event ev;
    audit_event_init(&ev, x->s, x->p, "createBackup", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", x->device_id);
    return audit_append(c, &ev, "ok");
}

asset_err sync_backup_create(svc *s, const principal *p, const char *device_id, backup_info *out)
{
    unsigned char tk[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN];
    char purpose[96];
    int kv = 0;
    memset(out, 0, sizeof *out);
    uuid_new(out->id);
    snprintf(out->device_id, sizeof out->device_id, "%s", device_id);
    randombytes_buf(tk, sizeof tk);
    sync_backup_purpose(purpose, out->id);
    asset_err e =
        keyring_wrap(wrapped, &kv, tk, purpose, s->cfg->keys) == 0 ? ASSET_OK : ASSET_CRYPTO_ERROR;
    backup_ctx x = {s, p, device_id, tk, kv, wrapped, out};
    if (e == ASSET_OK)
        e = db_tx(s->pool, DB_REPEATABLE_READ, backup_tx, &x);
    sodium_memzero(tk, sizeof tk);
    if (e != ASSET_OK) {
        out->created_ms = 0;
        out->record_count = 0;
    }
    return e;
}

asset_err sync_backup_get(svc *s, const char *id, backup_info *out)
{
    return store_backup_get(s->pool, id, out);
}

asset_err sync_restore_check(svc *s, const char *backup_id, const char *target_id, bool *same)
{
    store_restore_parties pt;
    asset_err e = store_restore_parties_get(s->pool, backup_id, target_id, &pt);
    if (e != ASSET_OK)
        return e;
    if (!pt.found)
        return ASSET_NOT_FOUND;
    *same = strcmp(pt.source_id, target_id) == 0;
    return *same || pt.same_account ? ASSET_OK : ASSET_PERMISSION_DENIED;
}

typedef struct {
    svc *s;
    const principal *p;
    const char *id, *backup_id, *target_id;
    int sync_bit;
    restore_info *out;
} restore_ctx;

/* The job, cut into chunks, and its audit event; the NOTIFY is delivered at COMMIT and wakes
 * the idle workers. */
static asset_err restore_tx(db_conn *c, void *arg)
{
    restore_ctx *x = arg;
    asset_err e = store_restore_insert(c, x->id, x->backup_id, x->target_id, x->sync_bit,
                                       x->s->cfg->restore_batch, x->out);
    if (e != ASSET_OK)
        return e;
    audit_event ev;
    audit_event_init(&ev, x->s, x->p, "createRestore", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", x->target_id);
    return audit_append(c, &ev, "ok");
}

asset_err sync_restore_create(svc *s, const principal *p, const char *backup_id,
                              const char *target_id, restore_info *out)
{
    char id[UUID_TEXT_LEN];
    bool same = false;
    memset(out, 0, sizeof *out);
    asset_err e = sync_restore_check(s, backup_id, target_id, &same);
    if (e != ASSET_OK)
        return e;
    uuid_new(id);
    restore_ctx x = {s,  p, id, backup_id, target_id, same ? SYNC_THIS_DEVICE : SYNC_TRUSTED_DEVICE,
                     out};
    e = db_tx(s->pool, DB_READ_COMMITTED, restore_tx, &x);
    if (e != ASSET_OK)
        memset(out, 0, sizeof *out);
    return e;
}

asset_err sync_restore_get(svc *s, const char *id, restore_info *out)
{
    return store_restore_get(s->pool, id, out);
}

asset_err sync_restore_counts(svc *s, long counts[RESTORE_STATUS_COUNT])
{
    return store_restore_counts(s->pool, counts);
}

asset_err sync_result_get(svc *s, const principal *p, asset_text group, bool enc, sync_result *out)
{
    memset(out, 0, sizeof *out);
    if (group.n && !principal_in_group(p, group.p, group.n))
        return ASSET_PERMISSION_DENIED;
    asset_text owner = group.n ? group : (asset_text){p->app_id, strlen(p->app_id)};
    return store_sync_result_get(s->pool, p->device_id, group.n ? OWNER_GROUP : OWNER_APP, owner,
                                 enc, out);
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
