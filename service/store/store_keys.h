/* store_keys: the SQL of the wrapped keys — device data keys (device_keys), service keys
 * (service_keys) and, for master key rotation, backup transport keys (backups.wrapped_key).
 * Keys come and go wrapped (sealed under a master key version): nothing here unwraps.
 *
 * Results are plain structs the caller owns (no PGresult outlives a call); they hold wrapped
 * keys only, so there is nothing to wipe. */
#ifndef ASSETD_STORE_KEYS_H
#define ASSETD_STORE_KEYS_H

#include "../crypto/seal.h"
#include "db.h"
#include "row.h"

/* A key as stored: wrapped[0..len) under master key version kek_version. */
typedef struct {
    int kek_version;
    size_t len;
    unsigned char wrapped[SEAL_WRAPPED_KEY_LEN];
} store_wrapped_key;

/* Reads a wrapped key from columns kek (kek_version) and wrapped of row i: -1 when the bytes
 * are malformed or longer than a wrapped key. For the row types of the store modules. */
WUR int store_wrapped_key_read(const row_reader *r, int i, int kek, int wrapped,
                               store_wrapped_key *out);

/* The wrapped data key (device_id, version): NOT_FOUND when there is none, DATA_CORRUPTED when
 * its bytes are malformed. */
WUR asset_err store_device_key_get(db_conn *c, const char *device_id, int version,
                                   store_wrapped_key *out);

/* The service key `name`: NOT_FOUND when there is none yet. */
WUR asset_err store_service_key_get(db_conn *c, const char *name, store_wrapped_key *out);
/* Stores a service key unless one of that name exists (then the stored one stays: read it
 * back with store_service_key_get). */
WUR asset_err store_service_key_put(db_conn *c, const char *name, const store_wrapped_key *k);

/* Master key rotation: the tables that hold wrapped keys. */
typedef enum {
    STORE_KEYS_DEVICE,
    STORE_KEYS_SERVICE,
    STORE_KEYS_BACKUP,
    STORE_KEYS_TABLES
} store_key_table;

#define STORE_KEY_ID_MAX 64
#define STORE_STALE_BATCH 500

/* A key wrapped under an older master key version. id: the device id (with version, the data
 * key's version), the service key's name or the backup id. When its bytes are malformed,
 * key.len is 0 (no key opens). */
typedef struct {
    char id[STORE_KEY_ID_MAX];
    int version;
    store_wrapped_key key;
} store_stale_key;

/* Up to STORE_STALE_BATCH keys of table t wrapped under another version than `current`, into
 * out[0..*n) (capacity STORE_STALE_BATCH). Backups being deleted (key destroyed) are skipped. */
WUR asset_err store_keys_stale(db_conn *c, store_key_table t, int current, store_stale_key *out,
                               int *n);
/* Writes key k (re-wrapped) in place of old, guarded by old's version: *written is 1, or 0 when
 * the row changed or went meanwhile. */
WUR asset_err store_keys_rewrap(db_conn *c, store_key_table t, const store_stale_key *old,
                                const store_wrapped_key *k, long *written);

#endif
