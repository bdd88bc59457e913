/* sync (part 5, spec §12): the backup lifecycle — listing a device's backups, deleting one,
 * and the retention that deletes old ones. A backup_page owns its arena (items, cursor):
 * backup_page_free releases it.
 *
 * Deleting destroys the backup's wrapped transport key first, in a committed transaction of its
 * own, so its sealed records can never be opened again even if the rows outlive a crash; only
 * then do the rows go. A backup whose key is destroyed is treated as gone everywhere. The SQL is
 * service/store/store_sync.h's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../audit.h"
#include "../log.h"
#include "sync.h"
#include "sync_internal.h"

#define POS_LEN (8 + UUID_TEXT_LEN)

/* The cursor's position (created_us, id) of a backup, and back. */
static void pos_encode(unsigned char pos[POS_LEN], const backup_info *b)
{
    for (int k = 0; k < 8; k++)
        pos[k] = (unsigned char)((uint64_t)b->created_us >> (8 * k));
    memcpy(pos + 8, b->id, UUID_TEXT_LEN - 1);
    pos[POS_LEN - 1] = 0;
}

static void pos_decode(backup_info *b, const unsigned char pos[POS_LEN])
{
    int64_t m = 0;
    for (int k = 0; k < 8; k++)
        m |= (int64_t)pos[k] << (8 * k);
    b->created_us = m;
    memcpy(b->id, pos + 8, UUID_TEXT_LEN - 1);
    b->id[UUID_TEXT_LEN - 1] = 0;
}

asset_err sync_backup_list(svc *s, const char *device_id, long limit, asset_text cursor,
                           backup_page *out)
{
    char context[80];
    unsigned char pos[POS_LEN] = {0};
    backup_info after;
    int rows = 0;
    memset(out, 0, sizeof *out);
    memset(&after, 0, sizeof after);
    snprintf(context, sizeof context, "backups|%s", device_id);
    asset_err e = cursor.n ? sync_cursor_decode(s, context, cursor, pos, POS_LEN) : ASSET_OK;
    if (e == ASSET_OK && cursor.n)
        pos_decode(&after, pos);
    if (e == ASSET_OK)
        e = store_backup_list(s->pool, device_id, cursor.n ? &after : NULL, limit + 1, &out->mem,
                              &out->items, &rows);
    if (e != ASSET_OK)
        goto done;
    out->n = rows > limit ? (int)limit : rows;
    if (rows > out->n) {
        pos_encode(pos, &out->items[out->n - 1]);
        if (!(out->next_cursor = sync_cursor_encode(s, context, pos, POS_LEN, &out->mem)))
            e = ASSET_OUT_OF_MEMORY;
    }
done:
    if (e != ASSET_OK)
        backup_page_free(out);
    return e;
}

void backup_page_free(backup_page *pg)
{
    if (!pg)
        return;
    arena_free(&pg->mem);
    memset(pg, 0, sizeof *pg);
}

typedef struct {
    svc *s;
    const principal *p;
    const char *id, *action;
} delete_ctx;

/* Step one: lock the backup (a restore being created holds a key-share lock on it, so it is
 * either visible to the check below or waits and then finds the key gone), refuse while a
 * restore uses it, destroy the key, audit. */
static asset_err destroy_key_tx(db_conn *c, void *arg)
{
    delete_ctx *x = arg;
    audit_event ev;
    bool busy = false;
    audit_event_init(&ev, x->s, x->p, x->action, NULL, 0, NULL, 0);
    asset_err e = store_backup_lock(c, x->id, ev.device_id);
    if (e == ASSET_OK)
        e = store_backup_in_use(c, x->id, &busy);
    if (e == ASSET_OK && busy)
        e = ASSET_IN_PROGRESS;
    if (e == ASSET_OK)
        e = store_backup_destroy_key(c, x->id);
    return e == ASSET_OK ? audit_append(c, &ev, "ok") : e;
}

static asset_err delete_rows(db_conn *c, void *arg)
{
    return store_backup_delete_rows(c, arg);
}

static asset_err delete_as(svc *s, const principal *p, const char *id, const char *action)
{
    delete_ctx x = {s, p, id, action};
    asset_err e = db_tx(s->pool, DB_READ_COMMITTED, destroy_key_tx, &x);
    if (e != ASSET_OK)
        return e;
    /* The key is gone: a failure here leaves only unreadable rows, which expiry sweeps. */
    if (db_tx(s->pool, DB_READ_COMMITTED, delete_rows, (void *)id) != ASSET_OK)
        log_warn("backup rows left", LOG_STR("backup", id));
    return ASSET_OK;
}

asset_err sync_backup_delete(svc *s, const principal *p, const char *id)
{
    return delete_as(s, p, id, "deleteBackup");
}

/* Backups deleted per sweep. */
#define EXPIRE_BATCH 100

asset_err sync_backups_expire(svc *s, int days, long *deleted)
{
    char(*ids)[UUID_TEXT_LEN] = calloc(EXPIRE_BATCH, sizeof *ids);
    int n = 0;
    principal service;
    memset(&service, 0, sizeof service);
    service.kind = PRINCIPAL_ADMIN; /* the retention runs with the operator's authority */
    *deleted = 0;
    if (!ids)
        return ASSET_OUT_OF_MEMORY;
    asset_err e = store_backups_expired(s->pool, days, ids, EXPIRE_BATCH, &n);
    for (int i = 0; e == ASSET_OK && i < n; i++) {
        asset_err d = delete_as(s, &service, ids[i], "expireBackup");
        if (d == ASSET_NOT_FOUND) /* key destroyed earlier: only the rows were left */
            d = db_tx(s->pool, DB_READ_COMMITTED, delete_rows, ids[i]);
        else if (d == ASSET_OK)
            (*deleted)++;
        if (d != ASSET_IN_PROGRESS)
            e = d;
    }
    free(ids);
    return e;
}

void sync_backups_tick(svc *s, time_t *next)
{
    int days = s->cfg->backup_retention_days;
    time_t now = time(NULL);
    long n = 0;
    if (days <= 0 || now < *next)
        return;
    *next = now + 60;
    if (sync_backups_expire(s, days, &n) != ASSET_OK)
        *next = now + 5;
    else if (n > 0)
        log_info("backups expired", LOG_INT("count", n));
}
