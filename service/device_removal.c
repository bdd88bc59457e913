/* Device removal (spec §13): DELETE /devices/{id}. See devices_remove() in devices.h.
 *
 * One transaction, in this order: lock the device row (a restore chunk writing onto it holds a
 * key-share lock through its foreign key, so it finishes first, and later ones fail their
 * foreign key check and roll back), destroy the data keys (crypto-shred: without them no row of
 * the device can be opened, whatever copy of it survives), then delete the rows. The restore
 * jobs onto the device are kept as 'failed' (the sync worker never resurrects a job that is
 * not queued or running), and so are its backups unless asked: they are sealed under their own
 * transport keys, not under the device's key. */

#include "authcache.h"
#include "devices.h"
#include "sync/sync.h"

typedef struct {
    const char *id;
    bool delete_backups;
} removal;

/* Statements in order; $1 is the device id. */
static const char *const steps[] = {
    /* In-flight writes of its installations commit first, and are removed below. */
    "SELECT " SVC_INSTALLATION_LOCK("id") " FROM installations WHERE device_id = $1",
    "DELETE FROM device_keys WHERE device_id = $1",
    "DELETE FROM assets WHERE device_id = $1",
    "DELETE FROM challenges WHERE installation_id IN "
    "(SELECT id FROM installations WHERE device_id = $1)",
    "DELETE FROM sync_results WHERE device_id = $1",
    /* Long polls on those jobs wake at commit, on every instance (longpoll.c). */
    "WITH f AS (UPDATE restores SET status = " RESTORE_SQL_FAILED
    ", finished_at = now(), lease_owner = NULL, "
    "lease_until = NULL WHERE target_device_id = $1 AND status IN " RESTORE_SQL_PENDING " "
    "RETURNING id) SELECT pg_notify('" SYNC_DONE_CHANNEL "', id::text) FROM f",
    "DELETE FROM idempotency_keys WHERE principal = 'device:' || $1::text OR principal IN "
    "(SELECT 'installation:' || id FROM installations WHERE device_id = $1::uuid)",
    "DELETE FROM installations WHERE device_id = $1",
};

static asset_err exec_id(db_conn *c, const char *sql, const char *id, PGresult **out)
{
    const char *vals[] = {id};
    return db_exec(c, sql, 1, vals, NULL, NULL, out);
}

static asset_err remove_tx(db_conn *c, void *arg)
{
    removal *m = arg;
    PGresult *r = NULL;
    asset_err e = exec_id(c, "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", m->id, &r);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    PQclear(r);
    r = NULL;
    if (e == ASSET_OK && m->delete_backups) {
        /* A restore onto another device still reading one of its backups. */
        e = exec_id(c,
                    "SELECT 1 FROM restores r JOIN backups b ON b.id = r.backup_id "
                    "WHERE b.device_id = $1 AND r.target_device_id <> $1 "
                    "AND r.status IN " RESTORE_SQL_PENDING " LIMIT 1",
                    m->id, &r);
        if (e == ASSET_OK && PQntuples(r) > 0)
            e = ASSET_IN_PROGRESS;
        PQclear(r);
        r = NULL;
    }
    for (size_t i = 0; e == ASSET_OK && i < sizeof steps / sizeof steps[0]; i++) {
        e = exec_id(c, steps[i], m->id, &r);
        PQclear(r);
        r = NULL;
    }
    /* A backup's transport key is in its row: deleting the row destroys it with its records. */
    if (e == ASSET_OK && m->delete_backups) {
        e = exec_id(c, "DELETE FROM backups WHERE device_id = $1", m->id, &r);
        PQclear(r);
        r = NULL;
    }
    if (e == ASSET_OK) {
        e = exec_id(c, "DELETE FROM devices WHERE id = $1", m->id, &r);
        PQclear(r);
    }
    return e;
}

asset_err devices_remove(svc *s, const char *device_id, bool delete_backups)
{
    removal m = {device_id, delete_backups};
    asset_err e = db_tx(s->pool, DB_READ_COMMITTED, remove_tx, &m);
    /* Whatever the outcome: a cached principal never outlives a removal attempt here. */
    authcache_forget_device(s->auth_cache, device_id);
    return e;
}
