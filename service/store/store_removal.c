#include "store_removal.h"

#include "store_devices.h"
#include "store_sync.h"

/* Statements in order; $1 is the device id, $2 (when `channel`) the NOTIFY channel. */
static const struct {
    const char *sql;
    bool channel;
} steps[] = {
    /* In-flight writes of its installations and restore chunks onto it commit first, and are
     * removed below (assets have no foreign key to the device: migration 0013). */
    {.sql = "SELECT " STORE_INSTALLATION_LOCK("id") " FROM installations WHERE device_id = $1"},
    {.sql = "SELECT " STORE_DEVICE_LOCK("$1")},
    {.sql = "DELETE FROM device_keys WHERE device_id = $1"},
    {.sql = "DELETE FROM assets WHERE device_id = $1"},
    {.sql = "DELETE FROM challenges WHERE installation_id IN "
            "(SELECT id FROM installations WHERE device_id = $1)"},
    {.sql = "DELETE FROM sync_results WHERE device_id = $1"},
    /* Long polls on those jobs wake at commit, on every instance (longpoll.c). */
    {.sql = "WITH f AS (UPDATE restores SET status = " RESTORE_SQL_FAILED ", finished_at = now(), "
            "lease_owner = "
            "NULL, "
            "lease_until = NULL WHERE target_device_id = $1 AND status IN " RESTORE_SQL_PENDING " "
            "RETURNING id) SELECT pg_notify($2, id::text) FROM f",
     .channel = true},
    {.sql = "DELETE FROM idempotency_keys WHERE principal = 'device:' || $1::text OR principal IN "
            "(SELECT 'installation:' || id FROM installations WHERE device_id = $1::uuid)"},
    {.sql = "DELETE FROM installations WHERE device_id = $1"},
};

/* sql with $1 = id (and $2 = arg when not NULL); *rows (when not NULL): the rows it returned. */
static asset_err exec_id(db_conn *c, const char *sql, const char *id, const char *arg, int *rows)
{
    PGresult *res = NULL;
    const char *vals[] = {id, arg};
    asset_err e = db_exec(c, sql, arg ? 2 : 1, vals, NULL, NULL, &res);
    if (e == ASSET_OK && rows)
        *rows = PQntuples(res);
    PQclear(res);
    return e;
}

asset_err store_device_remove(db_conn *c, const char *device_id, bool delete_backups,
                              const char *done_channel)
{
    int rows = 0;
    asset_err e =
        exec_id(c, "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", device_id, NULL, &rows);
    if (e == ASSET_OK && rows != 1)
        e = ASSET_NOT_FOUND;
    if (e == ASSET_OK && delete_backups) {
        /* A restore onto another device still reading one of its backups. */
        e = exec_id(c,
                    "SELECT 1 FROM restores r JOIN backups b ON b.id = r.backup_id "
                    "WHERE b.device_id = $1 AND r.target_device_id <> $1 "
                    "AND r.status IN " RESTORE_SQL_PENDING " LIMIT 1",
                    device_id, NULL, &rows);
        if (e == ASSET_OK && rows > 0)
            e = ASSET_IN_PROGRESS;
    }
    for (size_t i = 0; e == ASSET_OK && i < sizeof steps / sizeof steps[0]; i++)
        e = exec_id(c, steps[i].sql, device_id, steps[i].channel ? done_channel : NULL, NULL);
    /* A backup's transport key is in its row: deleting the row destroys it with its records. */
    if (e == ASSET_OK && delete_backups)
        e = exec_id(c, "DELETE FROM backups WHERE device_id = $1", device_id, NULL, NULL);
    if (e == ASSET_OK)
        e = exec_id(c, "DELETE FROM devices WHERE id = $1", device_id, NULL, NULL);
    return e;
}
