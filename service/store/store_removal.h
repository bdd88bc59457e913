/* store_removal: the SQL of removing a device (spec §13) with everything that hangs off it, in
 * every table: its data keys, assets, challenges, sync results, restores onto it, idempotency
 * keys, installations and, when asked, its backups. Owns no memory. */
#ifndef ASSETD_STORE_REMOVAL_H
#define ASSETD_STORE_REMOVAL_H

#include <stdbool.h>

#include "db.h"

/* Inside one transaction, in this order: lock the device row, destroy its data keys
 * (crypto-shred), then delete its rows; its queued or running restores end 'failed' and are
 * announced on the `done_channel` NOTIFY channel (at commit). NOT_FOUND when there is no such
 * device; IN_PROGRESS (nothing deleted) when delete_backups and a restore onto another device
 * still reads one of its backups. */
WUR asset_err store_device_remove(db_conn *c, const char *device_id, bool delete_backups,
                                  const char *done_channel);

#endif
