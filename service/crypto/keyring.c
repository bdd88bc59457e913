#include "keyring.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEYRING_MAX 16

struct keyring {
    int n;
    int active; /* the version that wraps; 0: the highest */
    int versions[KEYRING_MAX];
    unsigned char *keys; /* sodium_malloc, n * SEAL_KEY_LEN, read-only after parse */
};

static int parse_one(keyring *k, const char *p, size_t len, const char **why)
{
    int version = 1;
    const char *colon = memchr(p, ':', len);
    if (colon) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end != colon || v < 1 || v > 1000000) {
            *why = "key version must be a positive integer";
            return -1;
        }
        version = (int)v;
        len -= (size_t)(colon + 1 - p);
        p = colon + 1;
    }
    for (int i = 0; i < k->n; i++)
        if (k->versions[i] == version) {
            *why = "a key version is given twice";
            return -1;
        }
    if (k->n == KEYRING_MAX) {
        *why = "too many key versions";
        return -1;
    }
    size_t out_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(k->keys + (size_t)k->n * SEAL_KEY_LEN, SEAL_KEY_LEN, p, len, "\n\r ",
                          &out_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != p + len || out_len != SEAL_KEY_LEN) {
        *why = "a key is not base64 of exactly 32 bytes";
        return -1;
    }
    k->versions[k->n++] = version;
    return 0;
}

int keyring_parse(keyring **out, const char *spec, const char **why)
{
    keyring *k = calloc(1, sizeof *k);
    *out = NULL;
    if (!k || !(k->keys = sodium_malloc(KEYRING_MAX * SEAL_KEY_LEN))) {
        *why = "out of memory";
        goto fail;
    }
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' '))
            len--;
        if (parse_one(k, p, len, why) != 0)
            goto fail;
        p += len;
        while (*p == ',' || *p == '\n' || *p == '\r' || *p == ' ')
            p++;
    }
    if (k->n == 0) {
        *why = "no key given";
        goto fail;
    }
    sodium_mprotect_readonly(k->keys);
    *out = k;
    return 0;
fail:
    keyring_free(k);
    return -1;
}

void keyring_free(keyring *k)
{
    if (!k)
        return;
    if (k->keys)
        sodium_free(k->keys); /* sodium_free wipes */
    free(k);
}

static const unsigned char *key_of(const keyring *k, int version)
{
    for (int i = 0; i < k->n; i++)
        if (k->versions[i] == version)
            return k->keys + (size_t)i * SEAL_KEY_LEN;
    return NULL;
}

int keyring_set_active(keyring *k, int version)
{
    if (!key_of(k, version))
        return -1;
    k->active = version;
    return 0;
}

int keyring_current_version(const keyring *k)
{
    if (k->active)
        return k->active;
    int v = 0;
    for (int i = 0; i < k->n; i++)
        if (k->versions[i] > v)
            v = k->versions[i];
    return v;
}

int keyring_has_version(const keyring *k, int version)
{
    return key_of(k, version) != NULL;
}

int keyring_wrap(unsigned char out[SEAL_WRAPPED_KEY_LEN], int *kek_version,
                 const unsigned char *dek, const char *purpose, const keyring *k)
{
    size_t len = 0;
    int v = keyring_current_version(k);
    if (seal_encrypt(out, &len, dek, SEAL_KEY_LEN, (const unsigned char *)purpose, strlen(purpose),
                     key_of(k, v)) != 0)
        return -1;
    *kek_version = v;
    return 0;
}

int keyring_unwrap(unsigned char dek[SEAL_KEY_LEN], const unsigned char *wrapped,
                   size_t wrapped_len, int kek_version, const char *purpose, const keyring *k)
{
    const unsigned char *kek = key_of(k, kek_version);
    size_t len = 0;
    if (!kek)
        return KEYRING_UNKNOWN_VERSION;
    if (wrapped_len != SEAL_WRAPPED_KEY_LEN)
        return -1;
    if (seal_decrypt(dek, &len, wrapped, wrapped_len, (const unsigned char *)purpose,
                     strlen(purpose), kek) != 0 ||
        len != SEAL_KEY_LEN) {
        sodium_memzero(dek, SEAL_KEY_LEN);
        return -1;
    }
    return 0;
}
