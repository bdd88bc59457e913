/* What the sync handlers (h_sync.c, h_sync_report.c) share: the body's UUID members, and the
 * JSON forms of backups and restores (each a new reference, NULL when out of memory). */
#ifndef ASSETD_H_SYNC_H
#define ASSETD_H_SYNC_H

#include <jansson.h>

#include "../service/sync/sync.h"

#include "http.h"

/* A required UUID member of the body into *out; answers 400 (-1) otherwise. */
int uuid_member_or_reply(http_req *rq, const char *key, const char **out);
/* The body of POST /restores and /restores/preview: backupId and targetDeviceId, the caller
 * allowed to manage the target; answers (-1) otherwise. */
int restore_body_or_reply(http_req *rq, const char **backup_id, const char **target);
/* A refused restore or preview, answered. */
void restore_problem(http_req *rq, asset_err e);
json_t *backup_json(const backup_info *b);
json_t *restore_json(const restore_info *r);

#endif
