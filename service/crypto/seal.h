/* seal: authenticated encryption of secrets and keys (libsodium XChaCha20-Poly1305), the
 * associated-data digest that binds a record to its device, owner, alias and protected
 * attributes, blind indexes for encrypted labels, and keyed token hashes. No I/O, no state.
 *
 * A sealed value is nonce (24) || ciphertext || tag (16): SEAL_OVERHEAD bytes longer than the
 * plaintext. Every function returns 0 or -1; on -1 the output holds no plaintext. */
#ifndef ASSETD_SEAL_H
#define ASSETD_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../err.h"

#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 24
#define SEAL_OVERHEAD (24 + 16)
#define SEAL_AD_LEN 32
#define SEAL_WRAPPED_KEY_LEN (SEAL_KEY_LEN + SEAL_OVERHEAD)
#define SEAL_INDEX_HEX_LEN 32 /* blind index: 16 bytes as lowercase hex */
#define SEAL_TOKEN_HASH_LEN 32

/* out must hold in_len + SEAL_OVERHEAD bytes. */
WUR int seal_encrypt(unsigned char *out, size_t *out_len, const unsigned char *in, size_t in_len,
                     const unsigned char *ad, size_t ad_len, const unsigned char *key);
/* out must hold in_len - SEAL_OVERHEAD bytes. -1 when in is too short, tampered, or was sealed
 * with another key or other associated data. */
WUR int seal_decrypt(unsigned char *out, size_t *out_len, const unsigned char *in, size_t in_len,
                     const unsigned char *ad, size_t ad_len, const unsigned char *key);
/* seal_decrypt's verdict without the plaintext: the tag is checked, nothing is decrypted. */
WUR int seal_verify(const unsigned char *in, size_t in_len, const unsigned char *ad, size_t ad_len,
                    const unsigned char *key);

/* Incremental builder of a SEAL_AD_LEN digest over length-prefixed fields, so that no two
 * different field lists give the same bytes. */
typedef struct {
    unsigned char state[384] __attribute__((aligned(64)));
} seal_ad;
void seal_ad_begin(seal_ad *ad, const char *domain);
void seal_ad_bytes(seal_ad *ad, const void *p, size_t n);
void seal_ad_u64(seal_ad *ad, uint64_t v);
/* An optional field: absent (p == NULL) differs from every present value. */
void seal_ad_opt(seal_ad *ad, const void *p, size_t n);
void seal_ad_end(seal_ad *ad, unsigned char out[SEAL_AD_LEN]);

/* Keyed hash of an encrypted label's value, as lowercase hex plus NUL. The key is derived from
 * the device's data key, so equal labels on two devices do not match. */
void seal_blind_index(char out[SEAL_INDEX_HEX_LEN + 1], int slot, const char *p, size_t n,
                      const unsigned char *device_key);

/* Keyed hash of a bearer token, the only form of it ever stored. */
void seal_token_hash(unsigned char out[SEAL_TOKEN_HASH_LEN], const char *token, size_t n,
                     const unsigned char *token_key);

/* A fresh random token: 32 bytes as unpadded base64url (43 chars) plus NUL. */
#define SEAL_TOKEN_TEXT_LEN 44
void seal_new_token(char out[SEAL_TOKEN_TEXT_LEN]);

#endif
