#include "seal.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(((seal_ad *)0)->state) >= sizeof(crypto_generichash_state),
               "seal_ad too small");

/* Random nonces from a per-thread block of the system's random bytes: one getrandom call per
 * 170 seals instead of one each (a restore seals a record every few microseconds). A nonce is
 * public, so holding the next ones in memory exposes nothing; each is taken once and wiped from
 * the block. assetd never forks (a child would share its parent's block). */
enum { NONCE_BLOCK = 4080 }; /* 170 nonces */
static _Thread_local unsigned char nonce_block[NONCE_BLOCK];
static _Thread_local size_t nonce_left;

static void nonce_new(unsigned char out[SEAL_NONCE_LEN])
{
    if (nonce_left < SEAL_NONCE_LEN) {
        randombytes_buf(nonce_block, sizeof nonce_block);
        nonce_left = sizeof nonce_block;
    }
    unsigned char *p = nonce_block + sizeof nonce_block - nonce_left;
    memcpy(out, p, SEAL_NONCE_LEN);
    sodium_memzero(p, SEAL_NONCE_LEN);
    nonce_left -= SEAL_NONCE_LEN;
}

int seal_encrypt(unsigned char *out, size_t *out_len, const unsigned char *in, size_t in_len,
                 const unsigned char *ad, size_t ad_len, const unsigned char *key)
{
    unsigned long long clen = 0;
    nonce_new(out);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_NONCE_LEN, &clen, in, in_len, ad,
                                                   ad_len, NULL, out, key) != 0)
        return -1;
    *out_len = SEAL_NONCE_LEN + (size_t)clen;
    return 0;
}

int seal_decrypt(unsigned char *out, size_t *out_len, const unsigned char *in, size_t in_len,
                 const unsigned char *ad, size_t ad_len, const unsigned char *key)
{
    unsigned long long mlen = 0;
    if (in_len < SEAL_OVERHEAD)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in + SEAL_NONCE_LEN,
                                                   in_len - SEAL_NONCE_LEN, ad, ad_len, in,
                                                   key) != 0)
        return -1;
    *out_len = (size_t)mlen;
    return 0;
}

int seal_verify(const unsigned char *in, size_t in_len, const unsigned char *ad, size_t ad_len,
                const unsigned char *key)
{
    if (in_len < SEAL_OVERHEAD)
        return -1;
    /* Detached over the combined layout (nonce, ciphertext, tag); no output buffer: libsodium
     * then only recomputes and compares the tag. */
    size_t clen = in_len - SEAL_OVERHEAD;
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(NULL, NULL, in + SEAL_NONCE_LEN,
                                                               clen, in + SEAL_NONCE_LEN + clen, ad,
                                                               ad_len, in, key) == 0
               ? 0
               : -1;
}

static crypto_generichash_state *ad_state(seal_ad *ad)
{
    return (crypto_generichash_state *)(void *)ad->state;
}

void seal_ad_u64(seal_ad *ad, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update(ad_state(ad), b, sizeof b);
}

void seal_ad_bytes(seal_ad *ad, const void *p, size_t n)
{
    seal_ad_u64(ad, n);
    crypto_generichash_update(ad_state(ad), p, n);
}

void seal_ad_opt(seal_ad *ad, const void *p, size_t n)
{
    if (!p) {
        seal_ad_u64(ad, UINT64_MAX);
        return;
    }
    seal_ad_bytes(ad, p, n);
}

void seal_ad_begin(seal_ad *ad, const char *domain)
{
    crypto_generichash_init(ad_state(ad), NULL, 0, SEAL_AD_LEN);
    seal_ad_bytes(ad, domain, strlen(domain));
}

void seal_ad_end(seal_ad *ad, unsigned char out[SEAL_AD_LEN])
{
    crypto_generichash_final(ad_state(ad), out, SEAL_AD_LEN);
}

void seal_blind_index(char out[SEAL_INDEX_HEX_LEN + 1], int slot, const char *p, size_t n,
                      const unsigned char *device_key)
{
    unsigned char subkey[32], h[SEAL_INDEX_HEX_LEN / 2];
    crypto_generichash_state st;
    unsigned char s = (unsigned char)slot;
    crypto_kdf_derive_from_key(subkey, sizeof subkey, 1, "assetbix", device_key);
    crypto_generichash_init(&st, subkey, sizeof subkey, sizeof h);
    crypto_generichash_update(&st, &s, 1);
    crypto_generichash_update(&st, (const unsigned char *)p, n);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, SEAL_INDEX_HEX_LEN + 1, h, sizeof h);
    sodium_memzero(subkey, sizeof subkey);
}

void seal_token_hash(unsigned char out[SEAL_TOKEN_HASH_LEN], const char *token, size_t n,
                     const unsigned char *token_key)
{
    crypto_generichash(out, SEAL_TOKEN_HASH_LEN, (const unsigned char *)token, n, token_key,
                       SEAL_KEY_LEN);
}

void seal_new_token(char out[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, SEAL_TOKEN_TEXT_LEN, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}
