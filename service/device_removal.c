/* Device removal (spec §13): DELETE /devices/{id}. See devices_remove() in devices.h; the
 * statements are store_device_remove()'s (store/store_removal.c).
 *
 * One transaction, in this order: lock the device row, its installations and the device itself
 * (STORE_DEVICE_LOCK: a restore chunk writing onto it holds that lock shared, so it finishes
 * first, and later ones find their job failed and write nothing; assets have no foreign key to
 * devices since migration 0013), destroy the data keys (crypto-shred: without them no row of
 * the device can be opened, whatever copy of it survives), then delete the rows. The restore
 * jobs onto the device are kept as 'failed' (the sync worker never resurrects a job that is
 * not queued or running), and so are its backups unless asked: they are sealed under their own
 * transport keys, not under the device's key. */

#include "authcache.h"
#include "devices.h"
#include "store/store_removal.h"
#include "sync/sync.h"

typedef struct {
    const char *id;
    bool delete_backups;
} removal;

static asset_err remove_fn(db_conn *c, void *arg)
{
    removal *m = arg;
    return store_device_remove(c, m->id, m->delete_backups, SYNC_DONE_CHANNEL);
}

asset_err devices_remove(svc *s, const char *device_id, bool delete_backups)
{
    removal m = {device_id, delete_backups};
    asset_err e = db_tx(s->pool, DB_READ_COMMITTED, remove_fn, &m);
    /* Whatever the outcome: a cached principal never outlives a removal attempt here. */
    authcache_forget_device(s->auth_cache, device_id);
    return e;
}
