/* Shared between the two halves of sync (backups and the worker). Not a public interface. */
#ifndef ASSETD_SYNC_INTERNAL_H
#define ASSETD_SYNC_INTERNAL_H

#include "rules.h"

/* The AD binding of a backup's records, and the purpose of its wrapped transport key. */
void sync_backup_where(char out[64], const char *backup_id);
void sync_backup_purpose(char out[96], const char *backup_id);
void sync_stats_add(unsigned long long accepted, const long failed[RULE_COUNT]);

#endif
