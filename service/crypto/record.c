#include "record.h"

#include <sodium.h>
#include <string.h>

asset_record record_from_add(const asset_req *q, int owner_kind, asset_text owner, int key_version)
{
    asset_record r = {.owner_kind = owner_kind,
                      .owner = owner,
                      .attr_enc = q->attr_enc,
                      .alias = q->alias,
                      .accessibility = q->accessibility,
                      .auth_type = q->auth_type,
                      .sync_type = q->sync_type,
                      .wrap_type = q->wrap_type,
                      .require_password_set = q->require_password_set,
                      .is_persistent = q->is_persistent,
                      .key_version = key_version};
    memcpy(r.labels, q->labels, sizeof r.labels);
    return r;
}

access_attrs record_access(const asset_record *r)
{
    access_attrs a = {(asset_accessibility)r->accessibility, r->require_password_set,
                      (asset_auth_type)r->auth_type};
    return a;
}

static void ad_identity(seal_ad *ad, const char *domain, const char *where, const asset_record *r)
{
    seal_ad_begin(ad, domain);
    seal_ad_bytes(ad, where, strlen(where));
    seal_ad_u64(ad, (uint64_t)r->owner_kind);
    seal_ad_bytes(ad, r->owner.p, r->owner.n);
    seal_ad_u64(ad, r->attr_enc);
    seal_ad_bytes(ad, r->alias.p, r->alias.n);
    seal_ad_u64(ad, (uint64_t)r->key_version);
}

void record_secret_ad(unsigned char out[SEAL_AD_LEN], const char *where, const asset_record *r)
{
    seal_ad ad;
    ad_identity(&ad, "assetd.secret.v1", where, r);
    seal_ad_u64(&ad, r->accessibility);
    seal_ad_u64(&ad, r->require_password_set);
    seal_ad_u64(&ad, r->auth_type);
    seal_ad_u64(&ad, r->sync_type);
    seal_ad_u64(&ad, r->is_persistent);
    seal_ad_u64(&ad, r->wrap_type);
    for (int i = 0; i < 4; i++)
        seal_ad_opt(&ad, r->labels[LABEL_CRITICAL + i].p, r->labels[LABEL_CRITICAL + i].n);
    seal_ad_end(&ad, out);
}

static void labels_ad(unsigned char out[SEAL_AD_LEN], const char *where, const asset_record *r)
{
    seal_ad ad;
    ad_identity(&ad, "assetd.labels.v1", where, r);
    seal_ad_end(&ad, out);
}

int record_seal_secret(asset_record *r, arena *a, const unsigned char *secret, size_t len,
                       const char *where, const unsigned char *key)
{
    unsigned char ad[SEAL_AD_LEN];
    unsigned char *out = arena_alloc(a, len + SEAL_OVERHEAD);
    size_t out_len = 0;
    if (!out)
        return -1;
    record_secret_ad(ad, where, r);
    if (seal_encrypt(out, &out_len, secret, len, ad, sizeof ad, key) != 0)
        return -1;
    r->sealed = out;
    r->sealed_len = out_len;
    return 0;
}

int record_open_secret(unsigned char **out, size_t *out_len, const asset_record *r, arena *a,
                       const char *where, const unsigned char *key)
{
    unsigned char ad[SEAL_AD_LEN];
    *out = NULL;
    if (r->sealed_len < SEAL_OVERHEAD)
        return -1;
    unsigned char *buf = arena_alloc(a, r->sealed_len - SEAL_OVERHEAD + 1);
    if (!buf)
        return -1;
    record_secret_ad(ad, where, r);
    if (seal_decrypt(buf, out_len, r->sealed, r->sealed_len, ad, sizeof ad, key) != 0)
        return -1;
    *out = buf;
    return 0;
}

int record_verify_secret(const asset_record *r, const char *where, const unsigned char *key)
{
    unsigned char ad[SEAL_AD_LEN];
    record_secret_ad(ad, where, r);
    return seal_verify(r->sealed, r->sealed_len, ad, sizeof ad, key);
}

/* Label blob: for each of the 12 slots a 4-byte little-endian length (0xffffffff: absent) and
 * the bytes. */
int record_seal_labels(asset_record *r, arena *a, const char *where, const unsigned char *key)
{
    size_t len = 0;
    for (int i = 0; i < ASSET_LABELS; i++)
        len += 4 + (r->labels[i].p ? r->labels[i].n : 0);
    unsigned char *plain = arena_alloc(a, len), *p = plain;
    unsigned char *out = arena_alloc(a, len + SEAL_OVERHEAD);
    unsigned char ad[SEAL_AD_LEN];
    size_t out_len = 0;
    if (!plain || !out)
        return -1;
    for (int i = 0; i < ASSET_LABELS; i++) {
        uint32_t n = r->labels[i].p ? (uint32_t)r->labels[i].n : UINT32_MAX;
        for (int k = 0; k < 4; k++)
            *p++ = (unsigned char)(n >> (8 * k));
        if (r->labels[i].p) {
            memcpy(p, r->labels[i].p, r->labels[i].n);
            p += r->labels[i].n;
        }
    }
    labels_ad(ad, where, r);
    int rc = seal_encrypt(out, &out_len, plain, len, ad, sizeof ad, key);
    sodium_memzero(plain, len);
    if (rc != 0)
        return -1;
    r->labels_sealed = out;
    r->labels_sealed_len = out_len;
    return 0;
}

int record_open_labels(asset_record *r, arena *a, const char *where, const unsigned char *key)
{
    unsigned char ad[SEAL_AD_LEN];
    size_t len = 0, off = 0;
    if (!r->labels_sealed || r->labels_sealed_len < SEAL_OVERHEAD)
        return -1;
    unsigned char *plain = arena_alloc(a, r->labels_sealed_len);
    if (!plain)
        return -1;
    labels_ad(ad, where, r);
    if (seal_decrypt(plain, &len, r->labels_sealed, r->labels_sealed_len, ad, sizeof ad, key) != 0)
        return -1;
    for (int i = 0; i < ASSET_LABELS; i++) {
        if (len - off < 4)
            return -1;
        uint32_t n = 0;
        for (int k = 0; k < 4; k++)
            n |= (uint32_t)plain[off + (size_t)k] << (8 * k);
        off += 4;
        if (n == UINT32_MAX) {
            r->labels[i].p = NULL;
            r->labels[i].n = 0;
            continue;
        }
        if (len - off < n)
            return -1;
        r->labels[i].p = (const char *)plain + off;
        r->labels[i].n = n;
        off += n;
    }
    return off == len ? 0 : -1;
}
