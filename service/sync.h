/* sync: backup and restore (spec §7, §8) — consistent sealed snapshots of a device's syncable
 * assets, restore jobs, the sync worker that decides every record with rules_check_restore()
 * exactly once (batches committed together with the job's progress, leases so a dead worker's
 * job is resumed by another), and the per-owner sync results. */
#ifndef ASSETD_SYNC_H
#define ASSETD_SYNC_H

#include "asset.h"
#include "rules.h"
#include "svc.h"

typedef struct {
    char id[UUID_TEXT_LEN];
    char device_id[UUID_TEXT_LEN];
    int64_t created_ms;
    long record_count;
} backup_info;

enum { RESTORE_QUEUED, RESTORE_RUNNING, RESTORE_DONE, RESTORE_FAILED };

typedef struct {
    char id[UUID_TEXT_LEN];
    char backup_id[UUID_TEXT_LEN];
    char target_id[UUID_TEXT_LEN];
    int status;
    long total, processed, accepted, failed;
    long failures[RULE_COUNT]; /* by rule; [RULE_OK] unused */
    int64_t created_ms;
    int64_t finished_ms; /* 0 while not finished */
} restore_info;

typedef struct {
    long total, failed;
    bool has_restore;
    char restore_id[UUID_TEXT_LEN];
    int64_t finished_ms;
} sync_result;

/* Process-wide counters of decided records, for metrics. */
typedef struct {
    unsigned long long accepted;
    unsigned long long failed[RULE_COUNT];
} sync_stats;
void sync_stats_read(sync_stats *out);

const char *sync_status_name(int status);

/* Snapshot device_id now, on behalf of p (audited). NOT_FOUND if no such device. */
WUR asset_err sync_backup_create(svc *s, const principal *p, const char *device_id,
                                 backup_info *out);
WUR asset_err sync_backup_get(svc *s, const char *id, backup_info *out);

/* Queue a restore of backup_id onto target_id, on behalf of p (who may manage the target):
 * NOT_FOUND for an unknown backup or target, PERMISSION_DENIED across accounts or when p may
 * not read the backup. */
WUR asset_err sync_restore_create(svc *s, const principal *p, const char *backup_id,
                                  const char *target_id, restore_info *out);
WUR asset_err sync_restore_get(svc *s, const char *id, restore_info *out);
/* Jobs by state (queued, running, done, failed). */
WUR asset_err sync_restore_counts(svc *s, long counts[4]);

/* The calling installation's sync result for its app, or group (n > 0), in the store enc. */
WUR asset_err sync_result_get(svc *s, const principal *p, asset_text group, bool enc,
                              sync_result *out);

/* Worker threads: each claims restore jobs (SKIP LOCKED), processes them in batches, and waits
 * on LISTEN between jobs. lease_seconds bounds how long a dead worker's job stays claimed. */
typedef struct sync_workers sync_workers;
WUR int sync_workers_start(sync_workers **out, svc *s, int n, int lease_seconds);
/* Stops the threads after their current batch and releases their leases. NULL-safe. */
void sync_workers_stop(sync_workers *w);

#endif
