/* keyring: the master keys (key-encryption keys), by version, in sodium_malloc memory that is
 * read-only once loaded. Wraps and unwraps the data keys stored in the database; the highest
 * version wraps, every loaded version unwraps, which is what makes rotation possible.
 *
 * Spec format (ASSETD_MASTER_KEY): "<base64>" (version 1) or "<v>:<base64>[,<v>:<base64>...]",
 * each key 32 bytes. The keyring owns its memory: keyring_free() wipes and frees it. */
#ifndef ASSETD_KEYRING_H
#define ASSETD_KEYRING_H

#include <stddef.h>

#include "../err.h"

#include "seal.h"

typedef struct keyring keyring;

/* On failure *out is NULL and *why says what is wrong with the spec. */
WUR int keyring_parse(keyring **out, const char *spec, const char **why);
void keyring_free(keyring *k);
/* The version that wraps: ASSETD_MASTER_KEY_ACTIVE when set, else the highest. A rolling
 * rotation first gives every process the new key with the old one still active (all can
 * unwrap both), then makes the new one active: no process ever meets a key it cannot open. */
int keyring_current_version(const keyring *k);
/* -1 if that version is not loaded. */
WUR int keyring_set_active(keyring *k, int version);
/* Whether a version is loaded. */
int keyring_has_version(const keyring *k, int version);

/* Wraps a SEAL_KEY_LEN data key under the current master key, bound to `purpose`. */
WUR int keyring_wrap(unsigned char out[SEAL_WRAPPED_KEY_LEN], int *kek_version,
                     const unsigned char *dek, const char *purpose, const keyring *k);
/* KEYRING_UNKNOWN_VERSION if this process does not hold that master key version (not
 * corruption: another process of a rolling rotation may); -1 if the wrapped key was tampered
 * with or bound elsewhere. */
#define KEYRING_UNKNOWN_VERSION (-2)
WUR int keyring_unwrap(unsigned char dek[SEAL_KEY_LEN], const unsigned char *wrapped,
                       size_t wrapped_len, int kek_version, const char *purpose, const keyring *k);

#endif
