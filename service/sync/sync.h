/* sync: backup and restore (spec §7, §8, §12) — consistent sealed snapshots of a device's
 * syncable assets, restore jobs cut into chunks, the sync worker that decides every record with
 * rules_check_restore() exactly once (a chunk is claimed with FOR UPDATE SKIP LOCKED inside the
 * transaction that writes its records, their outcomes and the job's progress, so any number of
 * workers share a job and a crash only redoes an uncommitted chunk), the per-owner sync results,
 * previews, per-record reports, retries and the backup lifecycle. The decisions, the sealing and
 * the chunking are here; every statement is service/store/store_sync.h's. */
#ifndef ASSETD_SYNC_H
#define ASSETD_SYNC_H

#include <time.h>

#include "../arena.h"
#include "../asset_req.h"
#include "../rules.h"
#include "../store/store_sync.h"
#include "../svc.h"

/* backup_info, restore_info (RESTORE_QUEUED...), sync_result and record_row are the rows of
 * store_sync.h, used as they are; SYNC_DONE_CHANNEL is there too. */

/* Process-wide counters of decided records, for metrics. */
typedef struct {
    unsigned long long accepted;
    unsigned long long failed[RULE_COUNT];
} sync_stats;
void sync_stats_read(sync_stats *out);

/* A restore status's name, and back (-1 for none): store_restore_status_name/_parse. */
const char *sync_status_name(int status);
int sync_status_parse(const char *name);
/* The RESTORE_* of a status name, or -1 if it is none. */
int sync_status_parse(const char *name);

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
WUR asset_err sync_restore_counts(svc *s, long counts[RESTORE_STATUS_COUNT]);

/* The calling installation's sync result for its app, or group (n > 0), in the store enc. */
WUR asset_err sync_result_get(svc *s, const principal *p, asset_text group, bool enc,
                              sync_result *out);

/* ---- beyond the Kit (spec §12): sync_preview.c, sync_report.c, sync_backups.c ---- */

enum { FIX_PASSWORD, FIX_SCREEN_LOCKED, FIX_UNLOCKED_SINCE_BOOT, FIX_COUNT };

typedef struct {
    int owner_kind;   /* 0 app, 1 group */
    asset_text owner; /* in the preview's arena */
    bool attr_enc;
    long total, failed;
} preview_owner;

typedef struct {
    int field;  /* FIX_* */
    bool value; /* the value to set */
    long would_accept;
} preview_fix;

typedef struct {
    long total, accept, fail;
    long failures[RULE_COUNT];
    long old_bound; /* failures no change of NEW's state can lift (OLD's state, in the backup) */
    preview_owner *owners;
    int n_owners;
    preview_fix fixes[FIX_COUNT];
    int n_fixes;
    arena mem;
} sync_preview;

/* "lockScreenPasswordSet", "screenLocked", "unlockedSinceBoot". */
const char *sync_fix_field(int field);

/* Decide every participating record of backup_id against target_id's current state, writing
 * nothing (refusals as sync_restore_create). sync_preview_free releases. */
WUR asset_err sync_restore_preview(svc *s, const char *backup_id, const char *target_id,
                                   sync_preview *out);
void sync_preview_free(sync_preview *pv);

/* Queue a retry of restore id on behalf of p: IN_PROGRESS while id (or a later retry of its
 * family) is not finished, NOT_FOUND when nothing can be retried. */
WUR asset_err sync_restore_retry(svc *s, const principal *p, const char *id, restore_info *out);

/* One page of decided records. */
typedef struct {
    int outcome; /* -1 any, 0 accepted, 1 failed */
    int rule;    /* 0 any, else a restore_rule */
    long limit;
    asset_text cursor;
} records_query;

typedef struct {
    record_row *rows;
    int n;
    const char *next_cursor; /* NULL: last page */
    arena mem;               /* rows, their texts and the cursor */
} records_page;

/* GET /restores/{id}/records: aliases only as aliasHash. NOT_FOUND for an unknown restore;
 * PARAM_VERIFICATION_FAILED for a bad cursor. */
WUR asset_err sync_restore_records(svc *s, const char *id, const records_query *q,
                                   records_page *out);
/* GET /sync-result/records: the calling app's (or group's) records of the restore behind its
 * sync result, aliases in the clear. */
WUR asset_err sync_result_records(svc *s, const principal *p, asset_text group, bool enc,
                                  const records_query *q, records_page *out);
void records_page_free(records_page *pg);

typedef struct {
    backup_info *items;
    int n;
    const char *next_cursor;
    arena mem;
} backup_page;

/* A device's backups, newest first. */
WUR asset_err sync_backup_list(svc *s, const char *device_id, long limit, asset_text cursor,
                               backup_page *out);
void backup_page_free(backup_page *pg);
/* Destroy the backup's transport key (committed first), then its rows, on behalf of p.
 * NOT_FOUND; IN_PROGRESS while a queued or running restore uses it. */
WUR asset_err sync_backup_delete(svc *s, const principal *p, const char *id);
/* Delete the backups older than days (none in use), as sync_backup_delete: the count. */
WUR asset_err sync_backups_expire(svc *s, int days, long *deleted);
/* ASSETD_BACKUP_RETENTION_DAYS, from a sync worker's loop: sync_backups_expire once a minute
 * (*next: when next, 0 at first). Deletes are idempotent, so several processes may sweep. */
void sync_backups_tick(svc *s, time_t *next);

/* Worker threads: each claims restore jobs (SKIP LOCKED), processes them in batches, and waits
 * on LISTEN between jobs. lease_seconds bounds how long a dead worker's job stays claimed. */
typedef struct sync_workers sync_workers;
WUR int sync_workers_start(sync_workers **out, svc *s, int n, int lease_seconds);
/* Stops the threads after their current batch and releases their leases. NULL-safe. */
void sync_workers_stop(sync_workers *w);

#endif
