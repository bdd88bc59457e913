/* store_group: the SQL of group commit (service/asset_add.c): concurrent adds of any callers,
 * devices and stores written by one statement in one transaction, each with its own outcome.
 * The rows travel as arrays (pgparams.h) and each row written records its own audit row in the
 * same statement, as a single add does (store_asset_insert).
 *
 * Both statements span devices: under Citus they run through the coordinator
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

#endif
