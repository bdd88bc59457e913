/* The JSON forms of backups and restores, shared by the sync handlers (h_sync.c,
 * h_sync_report.c). Each returns a new reference (NULL when out of memory). */
#ifndef ASSETD_H_SYNC_H
#define ASSETD_H_SYNC_H

#include <jansson.h>

#include "../service/sync.h"

json_t *backup_json(const backup_info *b);
json_t *restore_json(const restore_info *r);

#endif
