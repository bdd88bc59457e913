/* store_group: the SQL of requests of many callers served by one statement. Group commit
 * (service/asset_add.c): concurrent adds of any callers, devices and stores written by one
 * statement in one transaction, each with its own outcome. The rows travel as arrays
 * (pgparams.h) and each row written records its own audit row in the same statement, as a single
 * add does (store_asset_insert). Group reads (service/asset_get.c): concurrent GET
 * /assets/{alias} looked up by one statement, each caller's principal checked in it. Group
 * removes (service/asset_remove.c): concurrent DELETE /assets/{alias} in one statement; group
 * updates (service/asset_update.c): concurrent PATCH /assets/{alias} in one transaction.
 *
 * These statements span devices: under Citus they run through the coordinator
 * (tests/citus/routing.mjs lists them, with the plan). */
#ifndef ASSETD_STORE_GROUP_H
#define ASSETD_STORE_GROUP_H

#include "store.h"
#include "store_audit.h"
#include "store_batch.h"
#include "store_devices.h"

/* Holds installations refs[0..n) until the transaction ends, as store_installation_hold does
 * for one: held[k] false when its token is no longer valid (uninstalled, rotated, removed);
 * current[k] false when it is not current any more (STORE_INSTALLATION_CURRENT: a state change
 * since it was read). */
WUR asset_err store_group_hold(db_conn *c, const store_principal_ref *refs, int n, bool *held,
                               bool *current);

/* One add of a group: where it goes, the sealed row and its label columns, its audit event
 * (alias hash included) and its alias key (store_alias_key). All borrowed. */
typedef struct {
    const store_scope *sc;
    const asset_record *r;
    const store_label_cols *cols;
    const audit_event *ev;
    const unsigned char *key; /* STORE_ALIAS_KEY_LEN bytes */
} store_group_row;

/* What became of a row written. */
typedef struct {
    bool written;  /* false: its alias exists (and overwrite was false) */
    bool inserted; /* true: a new asset; false: an existing one replaced */
    int64_t seq, update_ms, version;
} store_group_written;

/* Writes rows[pick[k]] (k < n; their alias keys must differ); out[pick[k]] tells what became of
 * each. mode, as for a batch (store_batch.h): what an alias that exists does — BATCH_REPLACE
 * replaces it (POST /assets with OVERWRITE), BATCH_SKIP leaves it alone (not written),
 * BATCH_FAIL fails the statement with DUPLICATED, which aborts the transaction: the cheapest
 * when none is expected to exist. Rows go in alias key order, so that concurrent groups wait
 * for each other's keys in one order. */
WUR asset_err store_group_insert(db_conn *c, const store_group_row *rows, const int *pick, int n,
                                 batch_conflict mode, store_group_written *out);

/* One read of a group: an asset's alias key (store_alias_key) and device, and ref, the index of
 * the principal reading it among the group's refs. Borrowed. */
typedef struct {
    const unsigned char *key; /* STORE_ALIAS_KEY_LEN bytes */
    const char *device_id;
    int ref;
} store_group_key;

/* Looks up keys[0..n) at once: one row per key, in any order, with its index, whether its
 * principal refs[ref] is still current (as store_asset_get_current checks; always true when
 * check[ref] is false) and, when it is and the asset exists, the asset (STORE_ASSET_COLS, binary
 * format). *out is the caller's to PQclear. */
WUR asset_err store_group_get(db_conn *c, const store_group_key *keys, int n,
                              const store_principal_ref *refs, const bool *check, int nrefs,
                              PGresult **out);
/* Reads store_group_get's result for its n keys: current[k], and row[k] the row of key k's asset
 * (-1: none, or not current); *assets binds the result for store_asset_decode. -1 when the result
 * is not what the statement returns. */
WUR int store_group_got(const PGresult *res, int n, int *row, bool *current, row_reader *assets);

/* Removes the assets of keys[0..n) (ref unused) at once, each one removed recording ev[k] (its
 * audit event, outcome ok) in the same statement: removed[k] says whether key k's asset was
 * there. */
WUR asset_err store_group_delete(db_conn *c, const store_group_key *keys,
                                 const audit_event *const *ev, int n, bool *removed);

/* Locks (FOR UPDATE, in alias key order) the assets of keys[0..n) (ref unused) until the
 * transaction ends; one row per asset found, STORE_ASSET_COLS in binary format and its key's
 * index. *out is the caller's to PQclear. */
WUR asset_err store_group_lock(db_conn *c, const store_group_key *keys, int n, PGresult **out);
/* Reads store_group_lock's result for its n keys: row[k] the row of key k's asset (-1: none);
 * *assets binds the result for store_asset_decode. -1 when the result is not the statement's. */
WUR int store_group_locked(const PGresult *res, int n, int *row, row_reader *assets);

/* One update of a group: the asset (its device, and r: its seq, labels and sealed parts as they
 * are to be), its label columns, whether updated_at moves, its audit event. All borrowed. */
typedef struct {
    const char *device_id;
    const asset_record *r;
    const store_label_cols *cols;
    bool touch;
    const audit_event *ev;
} store_group_change;

/* Writes rows[pick[k]] (k < n), each recording its audit event in the same statement;
 * out[pick[k]] has its new update_ms and version (written false: the row was not there). */
WUR asset_err store_group_update(db_conn *c, const store_group_change *rows, const int *pick, int n,
                                 store_group_written *out);

#endif
