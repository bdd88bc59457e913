/* record: an asset as stored (one row of the assets table, or of a backup), and the crypto that
 * binds it together: the associated data of its secret (device, owner, store, alias, protected
 * attributes, critical labels, key version), sealing and opening the secret, and the sealed
 * label blob of requireAttrEncrypted assets.
 *
 * Text fields borrow memory from the caller (a PGresult, a request, an arena). */
#ifndef ASSETD_RECORD_H
#define ASSETD_RECORD_H

#include <stdint.h>

#include "../arena.h"
#include "../asset_req.h"
#include "seal.h"

typedef struct {
    int64_t seq;
    int owner_kind; /* OWNER_APP, OWNER_GROUP */
    asset_text owner;
    bool attr_enc;
    asset_text alias;
    uint8_t accessibility, auth_type, sync_type, wrap_type;
    bool require_password_set, is_persistent;
    asset_text labels[ASSET_LABELS]; /* plaintext values (opened, for encrypted labels) */
    const unsigned char *labels_sealed;
    size_t labels_sealed_len;
    const unsigned char *sealed;
    size_t sealed_len;
    int key_version;
    int64_t update_ms;
    int64_t version; /* changes on every write (spec §13: the ETag) */
} asset_record;

/* The record an add request describes, for owner (kind, name) and data key version: attributes
 * and labels from q (borrowed), nothing sealed yet. */
asset_record record_from_add(const asset_req *q, int owner_kind, asset_text owner, int key_version);

/* The §6 attributes of a record. */
access_attrs record_access(const asset_record *r);

/* Associated data of a record's secret under binding `where` (a device id, or a backup id). */
void record_secret_ad(unsigned char out[SEAL_AD_LEN], const char *where, const asset_record *r);

/* Seals secret for r into arena memory: sets r->sealed. */
WUR int record_seal_secret(asset_record *r, arena *a, const unsigned char *secret, size_t len,
                           const char *where, const unsigned char *key);
/* Opens r->sealed into arena memory. -1 when it fails to open: tampered or moved. */
WUR int record_open_secret(unsigned char **out, size_t *out_len, const asset_record *r, arena *a,
                           const char *where, const unsigned char *key);

/* record_open_secret's verdict without opening: 0, or -1 when tampered or moved. For reads that
 * answer attributes only. */
__attribute__((warn_unused_result)) int
record_verify_secret(const asset_record *r, const char *where, const unsigned char *key);

/* Encrypted labels: seal r->labels into r->labels_sealed, or open r->labels_sealed into
 * r->labels (arena memory). */
WUR int record_seal_labels(asset_record *r, arena *a, const char *where, const unsigned char *key);
WUR int record_open_labels(asset_record *r, arena *a, const char *where, const unsigned char *key);

#endif
