/* Shared between the parts of sync (backups, worker, preview, report). Not a public interface. */
#ifndef ASSETD_SYNC_INTERNAL_H
#define ASSETD_SYNC_INTERNAL_H

#include "sync.h"

/* May backup_id be restored onto target_id? NOT_FOUND, PERMISSION_DENIED across accounts;
 * *same: onto its own device. */
WUR asset_err sync_restore_check(svc *s, const char *backup_id, const char *target_id, bool *same);

/* Keyset cursors of the sync listings: pos[0..n) (n <= 48) and a MAC over it and context. */
const char *sync_cursor_encode(const svc *s, const char *context, const unsigned char *pos,
                               size_t n, arena *a);
WUR asset_err sync_cursor_decode(const svc *s, const char *context, asset_text cursor,
                                 unsigned char *pos, size_t n);

/* The key_version of a backup record: it is sealed under its backup's transport key, which has
 * only this one version (a device's data keys have many). */
#define SYNC_BACKUP_KEY_VERSION 1

/* The AD binding of a backup's records, and the purpose of its wrapped transport key. */
void sync_backup_where(char out[64], const char *backup_id);
void sync_backup_purpose(char out[96], const char *backup_id);
void sync_stats_add(unsigned long long accepted, const long failed[RULE_COUNT]);

#endif
