/* store_sync: the SQL of backup and restore (spec §7, §8, §12) — the tables backups,
 * backup_records, backup_groups (store_backup.c), restores, restore_owner_counts,
 * restore_records, sync_results (store_restore.c) and the sync worker's chunk statements on
 * restore_chunks (store_chunk.c). Knows columns and statements, nothing about sealing or rules:
 * service/sync/ decides, reseals and chunks; these read and write typed rows.
 *
 * Functions taking a db_pool run one statement on a pooled connection (db_run); those taking a
 * db_conn run inside the caller's transaction. Results are plain structs; where one lists rows,
 * its texts live in the arena (or the store_records) the caller passes, and go with it. */
#ifndef ASSETD_STORE_SYNC_H
#define ASSETD_STORE_SYNC_H

#include "copybin.h"
#include "store.h"

/* ---- the public shapes of sync (sync.h uses them as they are) ---- */

/* A restore's status: this enum in C; its name in the restores table (migration 0002's CHECK)
 * and in the API. store_restore_status_name() and store_restore_status_parse() convert through
 * one table (store_restore.c); SQL spells the same names with the RESTORE_SQL_* literals. */
enum { RESTORE_QUEUED, RESTORE_RUNNING, RESTORE_DONE, RESTORE_FAILED, RESTORE_STATUS_COUNT };
#define RESTORE_QUEUED_NAME "queued"
#define RESTORE_RUNNING_NAME "running"
#define RESTORE_DONE_NAME "done"
#define RESTORE_FAILED_NAME "failed"
#define RESTORE_SQL_QUEUED "'" RESTORE_QUEUED_NAME "'"
#define RESTORE_SQL_RUNNING "'" RESTORE_RUNNING_NAME "'"
#define RESTORE_SQL_DONE "'" RESTORE_DONE_NAME "'"
#define RESTORE_SQL_FAILED "'" RESTORE_FAILED_NAME "'"
/* "status IN " RESTORE_SQL_PENDING: a job that is not finished. */
#define RESTORE_SQL_PENDING "(" RESTORE_SQL_QUEUED ", " RESTORE_SQL_RUNNING ")"
/* The name of a RESTORE_* (RESTORE_FAILED_NAME for anything else). */
const char *store_restore_status_name(int status);
/* The RESTORE_* of a status name, or -1 if it is none. */
int store_restore_status_parse(const char *name);

typedef struct {
    char id[UUID_TEXT_LEN];
    char device_id[UUID_TEXT_LEN];
    int64_t created_ms;
    long record_count;
    int64_t created_us; /* the backup list's keyset position (with id) */
} backup_info;

typedef struct {
    char id[UUID_TEXT_LEN];
    char backup_id[UUID_TEXT_LEN];
    char target_id[UUID_TEXT_LEN];
    int status;
    long total, processed, accepted, failed;
    long failures[RULE_COUNT]; /* by rule; [RULE_OK] unused */
    int64_t created_ms;
    int64_t finished_ms;          /* 0 while not finished */
    char retry_of[UUID_TEXT_LEN]; /* "" unless a retry */
} restore_info;

typedef struct {
    long total, failed;
    bool has_restore;
    char restore_id[UUID_TEXT_LEN];
    int64_t finished_ms;
} sync_result;

/* One decided record of a restore's report. */
typedef struct {
    int owner_kind;
    asset_text owner, alias;
    bool attr_enc;
    int rule; /* RULE_OK: accepted */
    char alias_hash[65];
    int ordinal; /* in the backup: the report's keyset position */
} record_row;

/* Records read for a backup or a restore: rows[0..n) (n + 1 allocated), ordinals[i] the
 * backup record's ordinal (restore side only). Texts point into res (the store's, never read by
 * the caller: kept rather than copied, since a restore reads every record of a backup), bytea
 * into the arena the reader was given. store_records_free releases rows, ordinals and res;
 * NULL-safe. */
typedef struct {
    asset_record *rows;
    int *ordinals;
    int n;
    PGresult *res;
} store_records;
void store_records_free(store_records *r);

/* ---- backups (store_backup.c) ---- */

/* Inserts backup id of device_id with the device's state as it is now and the wrapped
 * transport key (record_count 0 until store_backup_finish). NOT_FOUND: no such device. */
WUR asset_err store_backup_insert(db_conn *c, const char *id, const char *device_id,
                                  int kek_version, const unsigned char *wrapped, size_t wrapped_len,
                                  int64_t *created_ms);
/* Opens the reading of device_id's syncable assets, by seq, until the transaction ends (a
 * cursor); store_backup_source_next reads up to limit more of them (asset rows,
 * store_asset_decode: key_version is the device key's), none when all are read. */
WUR asset_err store_backup_source_open(db_conn *c, const char *device_id);
WUR asset_err store_backup_source_next(db_conn *c, int limit, arena *a, store_records *out);
/* Appends rows[0..n), resealed for the backup, as records first_ordinal, first_ordinal + 1...
 * (COPY). */
WUR asset_err store_backup_records_add(db_conn *c, const char *backup_id, int first_ordinal,
                                       const asset_record *rows, int n);
/* Records the count and the backup's groups (what the preview decides, counted). */
WUR asset_err store_backup_finish(db_conn *c, const char *backup_id, long record_count);
/* A backup whose transport key is destroyed is gone for all of these: NOT_FOUND. */
WUR asset_err store_backup_get(db_pool *p, const char *id, backup_info *out);

/* The parties of restoring backup_id onto target_id. */
typedef struct {
    bool found;                    /* the backup exists and the target device too */
    char source_id[UUID_TEXT_LEN]; /* the backup's device */
    bool same_account;             /* both have the same, non-empty account */
} store_restore_parties;
WUR asset_err store_restore_parties_get(db_pool *p, const char *backup_id, const char *target_id,
                                        store_restore_parties *out);

/* A device's backups after position (created_us, id) when after is not NULL, newest first, at
 * most limit; items in a. */
WUR asset_err store_backup_list(db_pool *p, const char *device_id, const backup_info *after,
                                long limit, arena *a, backup_info **items, int *n);
/* Locks backup id until the transaction ends; its device. NOT_FOUND. */
WUR asset_err store_backup_lock(db_conn *c, const char *id, char device_id[UUID_TEXT_LEN]);
/* Whether a queued or running restore uses backup id. */
WUR asset_err store_backup_in_use(db_conn *c, const char *id, bool *busy);
/* Destroys the backup's transport key (its records can never be opened again). */
WUR asset_err store_backup_destroy_key(db_conn *c, const char *id);
/* Deletes the rows of a backup whose key is destroyed. */
WUR asset_err store_backup_delete_rows(db_conn *c, const char *id);
/* At most cap backups due for deletion: older than days and not in use, or key destroyed. */
WUR asset_err store_backups_expired(db_pool *p, int days, char (*ids)[UUID_TEXT_LEN], int cap,
                                    int *n);

/* OLD's state (recorded in the backup) and NEW's (the target now). NOT_FOUND. */
WUR asset_err store_restore_states(db_conn *c, const char *backup_id, const char *target_id,
                                   device_state *old_dev, device_state *new_dev);
/* One combination of owner and the attributes the rules read, with its record count. */
typedef struct {
    int owner_kind;
    asset_text owner; /* in the arena */
    bool attr_enc;
    access_attrs attrs;
    long n;
} store_backup_group;
/* backup_id's groups of records taking part in a move of kind sync_bit, ordered by owner. */
WUR asset_err store_backup_groups(db_conn *c, const char *backup_id, int sync_bit, arena *a,
                                  store_backup_group **out, int *n);

/* ---- restore jobs and their reports (store_restore.c) ---- */

/* Queues job id (restoring backup_id onto target_id, its records with sync_bit) cut into
 * chunks of chunk_size records, and wakes the workers (NOTIFY at COMMIT). */
WUR asset_err store_restore_insert(db_conn *c, const char *id, const char *backup_id,
                                   const char *target_id, int sync_bit, int chunk_size,
                                   restore_info *out);
WUR asset_err store_restore_get(db_pool *p, const char *id, restore_info *out);
/* Jobs by status. */
WUR asset_err store_restore_counts(db_pool *p, long counts[RESTORE_STATUS_COUNT]);
/* The sync result of an owner on a device (out->has_restore false when none). */
WUR asset_err store_sync_result_get(db_pool *p, const char *device_id, int owner_kind,
                                    asset_text owner, bool enc, sync_result *out);

/* The family of restore id, for a retry: its first job locked until the transaction ends, then
 * the latest job of the family (the base). */
typedef struct {
    bool found;
    int status;       /* of the base */
    int asked_status; /* of id itself */
    char base_id[UUID_TEXT_LEN];
    char target_id[UUID_TEXT_LEN];
    device_state old_state; /* recorded in the backup */
} store_retry_base;
WUR asset_err store_restore_family(db_conn *c, const char *id, store_retry_base *out);
/* Queues job id retrying the records of job base refused under rules (bit 1 << rule), as a
 * retry of retry_of: its chunks, its owners' counts less the retried records, the inherited
 * outcomes of those owners' other records. NOT_FOUND when there is nothing to retry or the
 * target is gone. */
WUR asset_err store_restore_retry_insert(db_conn *c, const char *id, const char *base, int rules,
                                         const char *retry_of, int chunk_size, restore_info *out);

/* One page of a restore's decided records, in ordinal order. */
typedef struct {
    const char *restore_id;
    int after;      /* ordinal; -1: from the start */
    int outcome;    /* -1 any, 0 accepted, 1 failed */
    int rule;       /* 0 any */
    int owner_kind; /* -1: every owner; else only owner/enc's */
    asset_text owner;
    bool enc;
    bool decided_only; /* leave out inherited outcomes */
    long limit;
} store_records_query;
/* Rows in a (texts copied there). */
WUR asset_err store_restore_records(db_pool *p, const store_records_query *q, arena *a,
                                    record_row **rows, int *n);
/* The statement store_restore_records runs: $1 the job, $2 after, $3 outcome, $4 rule, $5-$7
 * owner kind, owner and store, $8 decided only, $9 the page's size (the plan check of
 * tests/integration/test_store_sync.c EXPLAINs it). */
const char *store_restore_records_sql(void);

/* ---- the sync worker's statements, on its own connection (store_chunk.c) ---- */

/* A chunk of a job, claimed (FOR UPDATE SKIP LOCKED) until the transaction ends. */
typedef struct {
    char restore_id[UUID_TEXT_LEN];
    int chunk, first_ordinal, last_ordinal;
} store_chunk;
/* Makes the COMMIT of the transaction not wait for its WAL to reach the disk (SET LOCAL
 * synchronous_commit off). For a chunk's transaction only: its records and its done mark commit
 * together, so a chunk lost with the last moments of a crashed server is simply claimed and
 * written again; the job's finish commits synchronously, and flushes every chunk before it. */
WUR asset_err store_chunk_commit_async(db_conn *c);
/* Claims one chunk of any unfinished job, oldest job first; *found false when none is left. */
WUR asset_err store_chunk_claim(db_conn *c, store_chunk *out, bool *found);
/* Holds target_id, the job's target device, until the transaction ends (STORE_DEVICE_LOCK_SHARED:
 * a removal of the device waits for this chunk, assets having no foreign key to devices), then
 * tells whether job restore_id is still unfinished, as read after the lock was granted (a
 * removal that went first ended it). Two statements: the second sees what committed meanwhile. */
WUR asset_err store_chunk_hold_target(db_conn *c, const char *restore_id, const char *target_id,
                                      bool *live);

/* A job as the worker needs it: its backup's OLD state and wrapped transport key. */
typedef struct {
    char backup_id[UUID_TEXT_LEN], target_id[UUID_TEXT_LEN];
    int sync_bit;
    device_state old_state;
    int kek_version;
    unsigned char wrapped[SEAL_WRAPPED_KEY_LEN];
    size_t wrapped_len;
    char retry_base[UUID_TEXT_LEN]; /* "" unless a retry */
    int retry_rules;                /* of a retry: bit 1 << rule */
    bool accepted_implied; /* its report keeps rows for refused records only (migration 0017) */
} store_job;
/* NOT_FOUND; DATA_CORRUPTED for a malformed wrapped key. */
WUR asset_err store_restore_job(db_conn *c, const char *id, store_job *out);
/* NEW's state now and its current data key version. NOT_FOUND. */
WUR asset_err store_restore_target(db_conn *c, const char *device_id, device_state *st,
                                   int *dek_version);
/* The backup records of chunk ch (of a retry: only those its base refused under its rules),
 * by ordinal, as records sealed for the backup (key_version is left 0: the caller knows the
 * backup's); bytea in a. DATA_CORRUPTED for a malformed row. */
WUR asset_err store_chunk_records(db_conn *c, const store_job *j, const store_chunk *ch, arena *a,
                                  store_records *out);
/* Writes rows[0..n) (resealed for device_id, with their label columns) as assets of device_id,
 * each replacing an asset of the same alias key there (binary COPY). */
WUR asset_err store_chunk_assets(db_conn *c, const char *device_id, const asset_record *rows,
                                 const store_label_cols *cols, int n);
/* The same, a row at a time as the caller makes them: the rows go to the server in pieces while
 * the next ones are made, so the server inserts while the worker opens and reseals. begin, then
 * add each row (its bytes are copied at once), then end, always: its result is the write's, a
 * failure of begin's or add's included. Between begin and end the connection runs nothing else.
 * A stream is zeroed before its first begin; end keeps its buffer (wiped) for the next begin, so
 * a worker writing chunk after chunk reuses the same memory; store_asset_stream_free frees it. */
typedef struct {
    db_conn *c;
    const char *device_id;
    unsigned char device[16]; /* device_id's bytes, parsed once at begin */
    copybin b;
    size_t sent; /* bytes of b sent so far */
    bool copying;
    asset_err e; /* the first failure */
} store_asset_stream;
void store_chunk_assets_begin(store_asset_stream *s, db_conn *c, const char *device_id, int n_hint);
void store_chunk_assets_add(store_asset_stream *s, const asset_record *r,
                            const store_label_cols *cols);
WUR asset_err store_chunk_assets_end(store_asset_stream *s);
/* Wipes and frees the stream's buffer; NULL-safe. */
void store_asset_stream_free(store_asset_stream *s);
/* The report of the chunk: rules[i] for recs->rows[i] (< 0: not decided, left out; RULE_OK
 * left out too when accepted_implied: the chunk's done mark says it) (COPY). */
WUR asset_err store_chunk_report(db_conn *c, const char *restore_id, const store_records *recs,
                                 const int *rules, bool accepted_implied);

typedef struct {
    int owner_kind;
    asset_text owner;
    bool attr_enc;
    long total, failed;
} store_owner_count;
typedef struct {
    long processed, accepted, failed;
    long failures[RULE_COUNT];
} store_progress;
/* Adds the chunk's counts (owners sorted here: every transaction locks owners' rows in one
 * order, so workers never deadlock on them), marks the chunk done and names lease_owner as the
 * job's last worker for lease_seconds. NOT_FOUND when the job was ended meanwhile. */
WUR asset_err store_chunk_done(db_conn *c, const store_chunk *ch, const store_progress *pr,
                               store_owner_count *owners, int n_owners, const char *lease_owner,
                               int lease_seconds);
/* Claims (FOR UPDATE SKIP LOCKED) one unfinished job none of whose chunks is left. */
WUR asset_err store_restore_finishable(db_conn *c, char id[UUID_TEXT_LEN],
                                       char target_id[UUID_TEXT_LEN], bool *found);
/* Writes the job's sync results on target_id, marks it done and notifies SYNC_DONE_CHANNEL. */
WUR asset_err store_restore_finish(db_conn *c, const char *id, const char *target_id);
/* Marks a queued or running job failed (and notifies). Best effort, outside a transaction: a
 * job left unmarked has its chunk claimed, and fail, again. */
asset_err store_restore_fail(db_conn *c, const char *id);
/* Clears lease_owner from the running jobs it names (informational; best effort). */
asset_err store_restore_release(db_conn *c, const char *lease_owner);

/* NOTIFY channels: a new job (workers LISTEN), a finished job (long polls LISTEN). */
#define STORE_RESTORE_CHANNEL "assetd_restores"
#define SYNC_DONE_CHANNEL "assetd_restore_done"

#endif
