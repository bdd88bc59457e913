/* sync (part 5, spec §12): the backup lifecycle — listing a device's backups, deleting one,
 * and the retention that deletes old ones. A backup_page owns its arena (items, cursor):
 * backup_page_free releases it.
 *
 * Deleting destroys the backup's wrapped transport key first, in a committed transaction of its
 * own, so its sealed records can never be opened again even if the rows outlive a crash; only
 * then do the rows go. A backup whose key is destroyed is treated as gone everywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../audit.h"
#include "../log.h"
#include "sync.h"
#include "sync_internal.h"

#define POS_LEN (8 + UUID_TEXT_LEN)

typedef struct {
    const char *device_id;
    long limit;
    unsigned char pos[POS_LEN];
    bool has_pos;
    PGresult **res;
} list_ctx;

static asset_err list_run(db_conn *c, void *arg)
{
    list_ctx *x = arg;
    char micros[24] = "0", lim[24], id[UUID_TEXT_LEN] = "";
    if (x->has_pos) {
        int64_t m = 0;
        for (int k = 0; k < 8; k++)
            m |= (int64_t)x->pos[k] << (8 * k);
        snprintf(micros, sizeof micros, "%lld", (long long)m);
        memcpy(id, x->pos + 8, UUID_TEXT_LEN - 1);
        id[UUID_TEXT_LEN - 1] = 0;
    }
    snprintf(lim, sizeof lim, "%ld", x->limit + 1);
    const char *vals[] = {x->device_id, x->has_pos ? "t" : "f", micros,
                          x->has_pos ? id : "00000000-0000-0000-0000-000000000000", lim};
    PQclear(*x->res);
    *x->res = NULL;
    return db_exec(c,
                   "SELECT id, device_id, (extract(epoch FROM created_at) * 1000)::bigint, "
                   "record_count, (extract(epoch FROM created_at) * 1000000)::bigint "
                   "FROM backups WHERE device_id = $1 AND octet_length(wrapped_key) > 0 AND "
                   "(NOT $2::boolean OR (created_at, id) < (timestamptz 'epoch' + "
                   "$3::bigint * interval '1 microsecond', $4::uuid)) "
                   "ORDER BY created_at DESC, id DESC LIMIT $5::int",
                   5, vals, NULL, NULL, x->res);
}

asset_err sync_backup_list(svc *s, const char *device_id, long limit, asset_text cursor,
                           backup_page *out)
{
    PGresult *r = NULL;
    char context[80];
    list_ctx x = {device_id, limit, {0}, cursor.n > 0, &r};
    memset(out, 0, sizeof *out);
    snprintf(context, sizeof context, "backups|%s", device_id);
    asset_err e = cursor.n ? sync_cursor_decode(s, context, cursor, x.pos, POS_LEN) : ASSET_OK;
    if (e == ASSET_OK)
        e = db_run(s->pool, list_run, &x);
    if (e != ASSET_OK)
        goto done;
    int rows = PQntuples(r), n = rows > limit ? (int)limit : rows;
    if (n && !(out->items = arena_alloc(&out->mem, (size_t)n * sizeof *out->items))) {
        e = ASSET_OUT_OF_MEMORY;
        goto done;
    }
    for (int i = 0; i < n; i++, out->n++) {
        backup_info *b = &out->items[i];
        snprintf(b->id, sizeof b->id, "%s", PQgetvalue(r, i, 0));
        snprintf(b->device_id, sizeof b->device_id, "%s", PQgetvalue(r, i, 1));
        b->created_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        b->record_count = atol(PQgetvalue(r, i, 3));
    }
    if (rows > n) {
        int64_t m = strtoll(PQgetvalue(r, n - 1, 4), NULL, 10);
        for (int k = 0; k < 8; k++)
            x.pos[k] = (unsigned char)((uint64_t)m >> (8 * k));
        memcpy(x.pos + 8, PQgetvalue(r, n - 1, 0), UUID_TEXT_LEN - 1);
        x.pos[POS_LEN - 1] = 0;
        if (!(out->next_cursor = sync_cursor_encode(s, context, x.pos, POS_LEN, &out->mem)))
            e = ASSET_OUT_OF_MEMORY;
    }
done:
    PQclear(r);
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
    PGresult *r = NULL;
    const char *vals[] = {x->id};
    asset_err e = db_exec(c,
                          "SELECT device_id FROM backups WHERE id = $1 AND "
                          "octet_length(wrapped_key) > 0 FOR UPDATE",
                          1, vals, NULL, NULL, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ASSET_NOT_FOUND;
    }
    audit_event ev;
    audit_event_init(&ev, x->s, x->p, x->action, NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if ((e = db_exec(
             c,
             "SELECT 1 FROM restores WHERE backup_id = $1 AND status IN " RESTORE_SQL_PENDING
             " LIMIT 1",
             1, vals, NULL, NULL, &r)) != ASSET_OK)
        return e;
    bool busy = PQntuples(r) > 0;
    PQclear(r);
    r = NULL;
    if (busy)
        return ASSET_IN_PROGRESS;
    if ((e = db_exec(c, "UPDATE backups SET wrapped_key = '\\x'::bytea WHERE id = $1", 1, vals,
                     NULL, NULL, &r)) != ASSET_OK)
        return e;
    PQclear(r);
    return audit_append(c, &ev, "ok");
}

static asset_err delete_rows(db_conn *c, void *arg)
{
    const char *id = arg;
    PGresult *r = NULL;
    const char *vals[] = {id};
    asset_err e = db_exec(c, "DELETE FROM backups WHERE id = $1 AND octet_length(wrapped_key) = 0",
                          1, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
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

typedef struct {
    int days;
    PGresult **res;
} expire_ctx;

static asset_err expired(db_conn *c, void *arg)
{
    expire_ctx *x = arg;
    char days[16];
    snprintf(days, sizeof days, "%d", x->days);
    const char *vals[] = {days};
    PQclear(*x->res);
    *x->res = NULL;
    return db_exec(c,
                   "SELECT id FROM backups b WHERE (created_at < now() - make_interval(days => "
                   "$1::int) AND NOT EXISTS (SELECT 1 FROM restores r WHERE r.backup_id = b.id "
                   "AND r.status IN " RESTORE_SQL_PENDING ")) OR octet_length(wrapped_key) = 0 "
                   "ORDER BY created_at LIMIT 100",
                   1, vals, NULL, NULL, x->res);
}

asset_err sync_backups_expire(svc *s, int days, long *deleted)
{
    PGresult *r = NULL;
    expire_ctx x = {days, &r};
    principal service;
    memset(&service, 0, sizeof service);
    service.kind = PRINCIPAL_ADMIN; /* the retention runs with the operator's authority */
    *deleted = 0;
    asset_err e = db_run(s->pool, expired, &x);
    for (int i = 0; e == ASSET_OK && i < PQntuples(r); i++) {
        asset_err d = delete_as(s, &service, PQgetvalue(r, i, 0), "expireBackup");
        if (d == ASSET_NOT_FOUND) /* key destroyed earlier: only the rows were left */
            d = db_tx(s->pool, DB_READ_COMMITTED, delete_rows, PQgetvalue(r, i, 0));
        else if (d == ASSET_OK)
            (*deleted)++;
        if (d != ASSET_IN_PROGRESS)
            e = d;
    }
    PQclear(r);
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
