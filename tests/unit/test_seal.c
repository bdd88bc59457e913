/* test_seal: the crypto of spec §9 with real libsodium — seal/open and every way opening must
 * fail (wrong key, wrong associated data, any flipped byte, truncation), nonce uniqueness, the
 * keyring (spec formats, wrap/unwrap bound to a purpose, versions for rotation), the record
 * binding (which fields the secret's associated data covers and which it must not), sealed
 * label blobs, blind indexes and token hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../service/crypto/keyring.h"
#include "../../service/crypto/record.h"
#include "../../service/crypto/seal.h"

static unsigned char key1[SEAL_KEY_LEN], key2[SEAL_KEY_LEN];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(key1, sizeof key1);
    randombytes_buf(key2, sizeof key2);
    return 0;
}

/* ---- seal_encrypt / seal_decrypt ---- */

static void test_seal_round_trip(void **state)
{
    (void)state;
    const unsigned char ad[] = "associated";
    const size_t lens[] = {0, 1, 15, 16, 17, 1024, 4096};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        unsigned char *in = malloc(n + 1), *sealed = malloc(n + SEAL_OVERHEAD),
                      *out = malloc(n + 1);
        assert_non_null(in);
        assert_non_null(sealed);
        assert_non_null(out);
        randombytes_buf(in, n + 1);
        size_t sl = 0, ol = 12345;
        assert_int_equal(seal_encrypt(sealed, &sl, in, n, ad, sizeof ad, key1), 0);
        assert_int_equal(sl, n + SEAL_OVERHEAD);
        if (n >= 16) /* ciphertext is not the plaintext */
            assert_memory_not_equal(sealed + SEAL_NONCE_LEN, in, 16);
        assert_int_equal(seal_decrypt(out, &ol, sealed, sl, ad, sizeof ad, key1), 0);
        assert_int_equal(ol, n);
        if (n)
            assert_memory_equal(out, in, n);
        free(in);
        free(sealed);
        free(out);
    }
    /* NULL associated data with length 0 works too */
    unsigned char s[5 + SEAL_OVERHEAD], o[5];
    size_t sl = 0, ol = 0;
    assert_int_equal(seal_encrypt(s, &sl, (const unsigned char *)"hello", 5, NULL, 0, key1), 0);
    assert_int_equal(seal_decrypt(o, &ol, s, sl, NULL, 0, key1), 0);
    assert_memory_equal(o, "hello", 5);
    /* ... and is not the same as a non-empty AD */
    assert_int_equal(seal_decrypt(o, &ol, s, sl, (const unsigned char *)"x", 1, key1), -1);
}

static void test_seal_wrong_key_or_ad(void **state)
{
    (void)state;
    const unsigned char msg[] = "top secret";
    unsigned char sealed[sizeof msg + SEAL_OVERHEAD], out[sizeof msg];
    size_t sl = 0, ol = 0;
    assert_int_equal(
        seal_encrypt(sealed, &sl, msg, sizeof msg, (const unsigned char *)"ad1", 3, key1), 0);
    assert_int_equal(seal_decrypt(out, &ol, sealed, sl, (const unsigned char *)"ad1", 3, key2), -1);
    assert_int_equal(seal_decrypt(out, &ol, sealed, sl, (const unsigned char *)"ad2", 3, key1), -1);
    assert_int_equal(seal_decrypt(out, &ol, sealed, sl, (const unsigned char *)"ad", 2, key1), -1);
    assert_int_equal(seal_decrypt(out, &ol, sealed, sl, (const unsigned char *)"ad1", 3, key1), 0);
    assert_memory_equal(out, msg, sizeof msg);
}

static void test_seal_every_flipped_byte_fails(void **state)
{
    (void)state;
    const unsigned char msg[] = "pin:1234"; /* short: every position is covered */
    unsigned char sealed[sizeof msg + SEAL_OVERHEAD], copy[sizeof sealed], out[sizeof sealed];
    const unsigned char ad[] = "ad";
    size_t sl = 0, ol = 0;
    assert_int_equal(seal_encrypt(sealed, &sl, msg, sizeof msg, ad, 2, key1), 0);
    assert_int_equal(sl, sizeof sealed);
    for (size_t i = 0; i < sl; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, sealed, sl);
            copy[i] ^= (unsigned char)(1u << bit);
            if (seal_decrypt(out, &ol, copy, sl, ad, 2, key1) != -1)
                fail_msg("flipping bit %d of byte %zu went unnoticed", bit, i);
        }
    /* the untouched value still opens */
    assert_int_equal(seal_decrypt(out, &ol, sealed, sl, ad, 2, key1), 0);
}

static void test_seal_truncated_fails(void **state)
{
    (void)state;
    const unsigned char msg[] = "0123456789";
    unsigned char sealed[sizeof msg + SEAL_OVERHEAD], out[sizeof sealed];
    size_t sl = 0, ol = 0;
    assert_int_equal(seal_encrypt(sealed, &sl, msg, sizeof msg, NULL, 0, key1), 0);
    for (size_t n = 0; n < sl; n++)
        if (seal_decrypt(out, &ol, sealed, n, NULL, 0, key1) != -1)
            fail_msg("a sealed value cut to %zu bytes opened", n);
    /* dropping the first byte (shifting the nonce) fails too */
    assert_int_equal(seal_decrypt(out, &ol, sealed + 1, sl - 1, NULL, 0, key1), -1);
    /* and an extra byte appended */
    unsigned char longer[sizeof sealed + 1];
    memcpy(longer, sealed, sl);
    longer[sl] = 0;
    assert_int_equal(seal_decrypt(out, &ol, longer, sl + 1, NULL, 0, key1), -1);
}

static int cmp_nonce(const void *a, const void *b)
{
    return memcmp(a, b, SEAL_NONCE_LEN);
}

static void test_seal_nonces_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    unsigned char(*nonces)[SEAL_NONCE_LEN] = malloc((size_t)N * SEAL_NONCE_LEN);
    unsigned char first[1 + SEAL_OVERHEAD];
    assert_non_null(nonces);
    for (int i = 0; i < N; i++) {
        unsigned char s[1 + SEAL_OVERHEAD];
        size_t sl = 0;
        /* same key, same plaintext, same AD: only the nonce can make them differ */
        assert_int_equal(seal_encrypt(s, &sl, (const unsigned char *)"x", 1, NULL, 0, key1), 0);
        memcpy(nonces[i], s, SEAL_NONCE_LEN);
        if (i == 0)
            memcpy(first, s, sizeof s);
        else if (i == 1)
            assert_memory_not_equal(first, s, sizeof s);
    }
    qsort(nonces, N, SEAL_NONCE_LEN, cmp_nonce);
    for (int i = 1; i < N; i++)
        if (memcmp(nonces[i - 1], nonces[i], SEAL_NONCE_LEN) == 0)
            fail_msg("nonce repeated among %d seals", N);
    free(nonces);
}

/* Nonces come from a block per thread: threads sealing at once never share one. */
enum { THREADS = 4, PER_THREAD = 2000 };
static unsigned char thread_nonces[THREADS * PER_THREAD][SEAL_NONCE_LEN];

static void *seal_many(void *arg)
{
    unsigned char(*out)[SEAL_NONCE_LEN] = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        unsigned char s[1 + SEAL_OVERHEAD];
        size_t sl = 0;
        if (seal_encrypt(s, &sl, (const unsigned char *)"x", 1, NULL, 0, key1) != 0)
            return NULL;
        memcpy(out[i], s, SEAL_NONCE_LEN);
    }
    return arg;
}

static void test_seal_nonces_unique_across_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, seal_many, thread_nonces[t * PER_THREAD]), 0);
    for (int t = 0; t < THREADS; t++) {
        void *ok = NULL;
        pthread_join(th[t], &ok);
        assert_non_null(ok);
    }
    qsort(thread_nonces, THREADS * PER_THREAD, SEAL_NONCE_LEN, cmp_nonce);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        if (memcmp(thread_nonces[i - 1], thread_nonces[i], SEAL_NONCE_LEN) == 0)
            fail_msg("nonce repeated among %d seals of %d threads", THREADS * PER_THREAD, THREADS);
}

/* ---- seal_ad ---- */

static void test_seal_ad_unambiguous(void **state)
{
    (void)state;
    unsigned char a[SEAL_AD_LEN], b[SEAL_AD_LEN];
    seal_ad ad;
    /* ("ab","c") vs ("a","bc"): length prefixes keep them apart */
    seal_ad_begin(&ad, "d");
    seal_ad_bytes(&ad, "ab", 2);
    seal_ad_bytes(&ad, "c", 1);
    seal_ad_end(&ad, a);
    seal_ad_begin(&ad, "d");
    seal_ad_bytes(&ad, "a", 1);
    seal_ad_bytes(&ad, "bc", 2);
    seal_ad_end(&ad, b);
    assert_memory_not_equal(a, b, SEAL_AD_LEN);
    /* absent vs empty */
    seal_ad_begin(&ad, "d");
    seal_ad_opt(&ad, NULL, 0);
    seal_ad_end(&ad, a);
    seal_ad_begin(&ad, "d");
    seal_ad_opt(&ad, "", 0);
    seal_ad_end(&ad, b);
    assert_memory_not_equal(a, b, SEAL_AD_LEN);
    /* domain separates */
    seal_ad_begin(&ad, "d1");
    seal_ad_end(&ad, a);
    seal_ad_begin(&ad, "d2");
    seal_ad_end(&ad, b);
    assert_memory_not_equal(a, b, SEAL_AD_LEN);
    /* deterministic */
    seal_ad_begin(&ad, "d");
    seal_ad_u64(&ad, 42);
    seal_ad_end(&ad, a);
    seal_ad_begin(&ad, "d");
    seal_ad_u64(&ad, 42);
    seal_ad_end(&ad, b);
    assert_memory_equal(a, b, SEAL_AD_LEN);
}

/* ---- keyring ---- */

static char *b64_key(const unsigned char *k, size_t n)
{
    static char buf[4][128];
    static int i;
    char *out = buf[i++ & 3];
    sodium_bin2base64(out, 128, k, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static void test_keyring_formats(void **state)
{
    (void)state;
    keyring *k = NULL;
    const char *why = NULL;
    char spec[512];

    /* "<base64>": version 1 */
    assert_int_equal(keyring_parse(&k, b64_key(key1, 32), &why), 0);
    assert_non_null(k);
    assert_int_equal(keyring_current_version(k), 1);
    assert_true(keyring_has_version(k, 1));
    assert_false(keyring_has_version(k, 2));
    keyring_free(k);

    /* a trailing newline (as from a key file) is tolerated */
    snprintf(spec, sizeof spec, "%s\n", b64_key(key1, 32));
    assert_int_equal(keyring_parse(&k, spec, &why), 0);
    keyring_free(k);

    /* "1:b64,2:b64": highest version wraps, both unwrap */
    snprintf(spec, sizeof spec, "1:%s,2:%s", b64_key(key1, 32), b64_key(key2, 32));
    assert_int_equal(keyring_parse(&k, spec, &why), 0);
    assert_int_equal(keyring_current_version(k), 2);
    assert_true(keyring_has_version(k, 1));
    assert_true(keyring_has_version(k, 2));
    assert_false(keyring_has_version(k, 3));
    /* ASSETD_MASTER_KEY_ACTIVE: a listed version may be made the one that wraps */
    assert_int_equal(keyring_set_active(k, 1), 0);
    assert_int_equal(keyring_current_version(k), 1);
    assert_int_equal(keyring_set_active(k, 3), -1);
    assert_int_equal(keyring_current_version(k), 1);
    keyring_free(k);

    /* order does not matter: the highest is current */
    snprintf(spec, sizeof spec, "7:%s, 3:%s", b64_key(key1, 32), b64_key(key2, 32));
    assert_int_equal(keyring_parse(&k, spec, &why), 0);
    assert_int_equal(keyring_current_version(k), 7);
    keyring_free(k);

    struct {
        const char *label;
        char spec[512];
    } bad[12];
    int nb = 0;
    snprintf(bad[nb].spec, 512, "%s", ""), bad[nb++].label = "empty";
    snprintf(bad[nb].spec, 512, "not base64 at all!"), bad[nb++].label = "bad base64";
    snprintf(bad[nb].spec, 512, "%s", b64_key(key1, 31)), bad[nb++].label = "31 bytes";
    snprintf(bad[nb].spec, 512, "%s", b64_key(key1, 33)), bad[nb++].label = "33 bytes";
    snprintf(bad[nb].spec, 512, "1:%s,1:%s", b64_key(key1, 32), b64_key(key2, 32)),
        bad[nb++].label = "duplicate version";
    snprintf(bad[nb].spec, 512, "%s,1:%s", b64_key(key1, 32), b64_key(key2, 32)),
        bad[nb++].label = "implicit 1 and explicit 1";
    snprintf(bad[nb].spec, 512, "0:%s", b64_key(key1, 32)), bad[nb++].label = "version 0";
    snprintf(bad[nb].spec, 512, "-1:%s", b64_key(key1, 32)), bad[nb++].label = "version -1";
    snprintf(bad[nb].spec, 512, "x:%s", b64_key(key1, 32)), bad[nb++].label = "version x";
    snprintf(bad[nb].spec, 512, ":%s", b64_key(key1, 32)), bad[nb++].label = "no version";
    snprintf(bad[nb].spec, 512, "1:%s,2:", b64_key(key1, 32)), bad[nb++].label = "empty key";
    {
        char url[128];
        sodium_bin2base64(url, sizeof url, key1, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        snprintf(bad[nb].spec, 512, "%s", url), bad[nb++].label = "unpadded url base64";
    }
    for (int i = 0; i < nb; i++) {
        k = (keyring *)1;
        why = NULL;
        if (keyring_parse(&k, bad[i].spec, &why) == 0)
            fail_msg("keyring spec accepted: %s", bad[i].label);
        assert_null(k);
        assert_non_null(why);
    }
}

static void test_keyring_wrap_unwrap(void **state)
{
    (void)state;
    keyring *k = NULL, *k12 = NULL, *only2 = NULL;
    const char *why = NULL;
    char spec[256];
    unsigned char dek[SEAL_KEY_LEN], out[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN];
    int ver = 0;
    randombytes_buf(dek, sizeof dek);
    assert_int_equal(keyring_parse(&k, b64_key(key1, 32), &why), 0);
    assert_int_equal(keyring_wrap(wrapped, &ver, dek, "assetd.dek:dev-a:1", k), 0);
    assert_int_equal(ver, 1);
    assert_memory_not_equal(wrapped + SEAL_NONCE_LEN, dek, SEAL_KEY_LEN);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-a:1", k), 0);
    assert_memory_equal(out, dek, sizeof dek);

    /* purpose binding: the same wrapped key for another device or version does not open */
    memset(out, 0x55, sizeof out);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-b:1", k), -1);
    unsigned char zero[SEAL_KEY_LEN] = {0};
    assert_memory_equal(out, zero, sizeof zero); /* no plaintext left behind */
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-a:2", k), -1);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "", k), -1);
    /* unknown version: told apart from corruption (another process may hold it) */
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 2, "assetd.dek:dev-a:1", k),
                     KEYRING_UNKNOWN_VERSION);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 0, "assetd.dek:dev-a:1", k),
                     KEYRING_UNKNOWN_VERSION);
    /* wrong length, tampered */
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped - 1, 1, "assetd.dek:dev-a:1", k),
                     -1);
    wrapped[30] ^= 1;
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-a:1", k), -1);
    wrapped[30] ^= 1;

    /* rotation: a ring with 1 and 2 still unwraps version 1, and wraps new keys with 2 */
    snprintf(spec, sizeof spec, "1:%s,2:%s", b64_key(key1, 32), b64_key(key2, 32));
    assert_int_equal(keyring_parse(&k12, spec, &why), 0);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-a:1", k12), 0);
    assert_memory_equal(out, dek, sizeof dek);
    unsigned char wrapped2[SEAL_WRAPPED_KEY_LEN];
    assert_int_equal(keyring_wrap(wrapped2, &ver, dek, "p", k12), 0);
    assert_int_equal(ver, 2);
    assert_int_equal(keyring_unwrap(out, wrapped2, sizeof wrapped2, 2, "p", k12), 0);
    assert_memory_equal(out, dek, sizeof dek);
    /* version 2 wrapped under key2: the old ring does not hold it; nor does the wrong label
     * open it */
    assert_int_equal(keyring_unwrap(out, wrapped2, sizeof wrapped2, 2, "p", k),
                     KEYRING_UNKNOWN_VERSION);
    assert_int_equal(keyring_unwrap(out, wrapped2, sizeof wrapped2, 1, "p", k12), -1);
    /* a ring where version 1 is a different key cannot open version-1 wraps */
    snprintf(spec, sizeof spec, "1:%s", b64_key(key2, 32));
    assert_int_equal(keyring_parse(&only2, spec, &why), 0);
    assert_int_equal(keyring_unwrap(out, wrapped, sizeof wrapped, 1, "assetd.dek:dev-a:1", only2),
                     -1);
    keyring_free(k);
    keyring_free(k12);
    keyring_free(only2);
    keyring_free(NULL);
}

/* ---- record binding ---- */

typedef struct {
    asset_record r;
    char owner[32], alias[32], labels[ASSET_LABELS][24];
} rec_buf;

static void rec_init(rec_buf *b)
{
    memset(b, 0, sizeof *b);
    strcpy(b->owner, "com.example.app");
    strcpy(b->alias, "alias-1");
    b->r.owner_kind = 0;
    b->r.owner = (asset_text){b->owner, strlen(b->owner)};
    b->r.alias = (asset_text){b->alias, strlen(b->alias)};
    b->r.accessibility = ACCESSIBILITY_DEVICE_FIRST_UNLOCKED;
    b->r.auth_type = AUTH_TYPE_NONE;
    b->r.sync_type = SYNC_THIS_DEVICE;
    b->r.wrap_type = WRAP_NEVER;
    b->r.key_version = 1;
    for (int i = 0; i < ASSET_LABELS; i++) {
        snprintf(b->labels[i], sizeof b->labels[i], "label-%d", i);
        if (i % 2 == 0) /* half present, half absent */
            b->r.labels[i] = (asset_text){b->labels[i], strlen(b->labels[i])};
    }
}

static void ad_of(unsigned char out[SEAL_AD_LEN], const char *where, const asset_record *r)
{
    record_secret_ad(out, where, r);
}

typedef void (*mutator)(rec_buf *b, const char **where);
static void m_owner(rec_buf *b, const char **w)
{
    (void)w;
    b->owner[0] = 'C';
}
static void m_owner_kind(rec_buf *b, const char **w)
{
    (void)w;
    b->r.owner_kind = 1;
}
static void m_attr_enc(rec_buf *b, const char **w)
{
    (void)w;
    b->r.attr_enc = true;
}
static void m_alias(rec_buf *b, const char **w)
{
    (void)w;
    b->alias[6] = '2';
}
static void m_alias_len(rec_buf *b, const char **w)
{
    (void)w;
    b->r.alias.n--;
}
static void m_access(rec_buf *b, const char **w)
{
    (void)w;
    b->r.accessibility = ACCESSIBILITY_DEVICE_UNLOCKED;
}
static void m_req_pwd(rec_buf *b, const char **w)
{
    (void)w;
    b->r.require_password_set = true;
}
static void m_auth(rec_buf *b, const char **w)
{
    (void)w;
    b->r.auth_type = AUTH_TYPE_ANY;
}
static void m_sync(rec_buf *b, const char **w)
{
    (void)w;
    b->r.sync_type = SYNC_THIS_DEVICE | SYNC_TRUSTED_DEVICE;
}
static void m_persist(rec_buf *b, const char **w)
{
    (void)w;
    b->r.is_persistent = true;
}
static void m_wrap(rec_buf *b, const char **w)
{
    (void)w;
    b->r.wrap_type = WRAP_TRUSTED_ACCOUNT;
}
static void m_crit0(rec_buf *b, const char **w)
{
    (void)w;
    b->labels[0][0] = 'L';
}
static void m_crit1_add(rec_buf *b, const char **w)
{
    (void)w; /* critical 2 was absent */
    b->r.labels[1] = (asset_text){b->labels[1], strlen(b->labels[1])};
}
static void m_crit2_remove(rec_buf *b, const char **w)
{
    (void)w; /* critical 3 was present */
    b->r.labels[2] = (asset_text){NULL, 0};
}
static void m_crit3_add(rec_buf *b, const char **w)
{
    (void)w;
    b->r.labels[3] = (asset_text){b->labels[3], strlen(b->labels[3])};
}
static void m_crit_swap(rec_buf *b, const char **w)
{
    (void)w; /* moving a value to another critical slot */
    b->r.labels[1] = b->r.labels[0];
    b->r.labels[0] = (asset_text){NULL, 0};
}
static void m_key_version(rec_buf *b, const char **w)
{
    (void)w;
    b->r.key_version = 2;
}
static void m_where(rec_buf *b, const char **w)
{
    (void)b;
    *w = "device-b";
}

static void test_record_ad_binds_fields(void **state)
{
    (void)state;
    struct {
        const char *name;
        mutator m;
    } ms[] = {
        {"owner", m_owner},
        {"owner_kind", m_owner_kind},
        {"attr_enc", m_attr_enc},
        {"alias", m_alias},
        {"alias length", m_alias_len},
        {"accessibility", m_access},
        {"requirePasswordSet", m_req_pwd},
        {"authType", m_auth},
        {"syncType", m_sync},
        {"isPersistent", m_persist},
        {"wrapType", m_wrap},
        {"critical label 1 value", m_crit0},
        {"critical label 2 added", m_crit1_add},
        {"critical label 3 removed", m_crit2_remove},
        {"critical label 4 added", m_crit3_add},
        {"critical label moved to another slot", m_crit_swap},
        {"key version", m_key_version},
        {"where (device)", m_where},
    };
    unsigned char base[SEAL_AD_LEN], ad[SEAL_AD_LEN];
    rec_buf b;
    rec_init(&b);
    ad_of(base, "device-a", &b.r);
    ad_of(ad, "device-a", &b.r);
    assert_memory_equal(base, ad, SEAL_AD_LEN); /* deterministic */
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        const char *where = "device-a";
        rec_init(&b);
        ms[i].m(&b, &where);
        ad_of(ad, where, &b.r);
        if (memcmp(ad, base, SEAL_AD_LEN) == 0)
            fail_msg("changing %s does not change the secret's associated data", ms[i].name);
    }
}

static void test_record_ad_ignores_mutable_fields(void **state)
{
    (void)state;
    unsigned char base[SEAL_AD_LEN], ad[SEAL_AD_LEN];
    rec_buf b;
    rec_init(&b);
    ad_of(base, "device-a", &b.r);
    /* normal and local labels are updatable, so they are not bound: change, add, remove each */
    for (int i = LABEL_NORMAL; i < ASSET_LABELS; i++) {
        rec_init(&b);
        if (b.r.labels[i].p) {
            b.labels[i][0] = 'X';
            ad_of(ad, "device-a", &b.r);
            assert_memory_equal(ad, base, SEAL_AD_LEN);
            b.r.labels[i] = (asset_text){NULL, 0};
        } else {
            b.r.labels[i] = (asset_text){"new", 3};
        }
        ad_of(ad, "device-a", &b.r);
        if (memcmp(ad, base, SEAL_AD_LEN) != 0)
            fail_msg("label slot %d (normal/local) changes the associated data", i);
    }
    /* nor are the row's position, time, and sealed blobs */
    rec_init(&b);
    b.r.seq = 99;
    b.r.update_ms = 123456;
    b.r.sealed = (const unsigned char *)"zz";
    b.r.sealed_len = 2;
    b.r.labels_sealed = (const unsigned char *)"yy";
    b.r.labels_sealed_len = 2;
    ad_of(ad, "device-a", &b.r);
    assert_memory_equal(ad, base, SEAL_AD_LEN);
}

static void test_record_secret_round_trip_and_binding(void **state)
{
    (void)state;
    arena a = {0};
    rec_buf b;
    const unsigned char secret[] = "correct horse battery staple";
    unsigned char *out = NULL;
    size_t out_len = 0;
    rec_init(&b);
    assert_int_equal(record_seal_secret(&b.r, &a, secret, sizeof secret, "dev-a", key1), 0);
    assert_non_null(b.r.sealed);
    assert_int_equal(b.r.sealed_len, sizeof secret + SEAL_OVERHEAD);
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key1), 0);
    assert_int_equal(out_len, sizeof secret);
    assert_memory_equal(out, secret, sizeof secret);
    /* moved to another device, another alias, changed critical label: fails */
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-b", key1), -1);
    assert_null(out);
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key2), -1);
    const unsigned char *sealed = b.r.sealed;
    size_t sl = b.r.sealed_len;
    rec_init(&b);
    b.r.sealed = sealed;
    b.r.sealed_len = sl;
    b.alias[0] = 'A';
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key1), -1);
    rec_init(&b);
    b.r.sealed = sealed;
    b.r.sealed_len = sl;
    b.labels[0][0] = 'X';
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key1), -1);
    /* but a changed normal label does not matter */
    rec_init(&b);
    b.r.sealed = sealed;
    b.r.sealed_len = sl;
    b.labels[LABEL_NORMAL][0] = 'X';
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key1), 0);
    assert_memory_equal(out, secret, sizeof secret);
    /* too short */
    b.r.sealed_len = SEAL_OVERHEAD - 1;
    assert_int_equal(record_open_secret(&out, &out_len, &b.r, &a, "dev-a", key1), -1);
    arena_free(&a);
}

static void test_record_labels_round_trip(void **state)
{
    (void)state;
    arena a = {0};
    rec_buf b;
    rec_init(&b);
    b.r.attr_enc = true;
    /* one label of maximal length, to exercise a long blob */
    char *longv = arena_alloc(&a, ASSET_LABEL_MAX);
    assert_non_null(longv);
    memset(longv, 'q', ASSET_LABEL_MAX);
    b.r.labels[11] = (asset_text){longv, ASSET_LABEL_MAX};
    asset_text want[ASSET_LABELS];
    memcpy(want, b.r.labels, sizeof want);
    assert_int_equal(record_seal_labels(&b.r, &a, "dev-a", key1), 0);
    assert_non_null(b.r.labels_sealed);
    /* the blob does not contain the plaintext */
    assert_null(memmem(b.r.labels_sealed, b.r.labels_sealed_len, "label-0", 7));
    const unsigned char *blob = b.r.labels_sealed;
    size_t bl = b.r.labels_sealed_len;

    /* open into a record with no labels */
    for (int i = 0; i < ASSET_LABELS; i++)
        b.r.labels[i] = (asset_text){"garbage", 7};
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), 0);
    for (int i = 0; i < ASSET_LABELS; i++) {
        if (!want[i].p) {
            if (b.r.labels[i].p)
                fail_msg("absent label %d came back present", i);
            continue;
        }
        assert_non_null(b.r.labels[i].p);
        assert_int_equal(b.r.labels[i].n, want[i].n);
        assert_memory_equal(b.r.labels[i].p, want[i].p, want[i].n);
    }

    /* all absent, and one-byte labels, round-trip too */
    rec_buf c;
    rec_init(&c);
    c.r.attr_enc = true;
    for (int i = 0; i < ASSET_LABELS; i++)
        c.r.labels[i] = (asset_text){NULL, 0};
    c.r.labels[5] = (asset_text){"z", 1};
    assert_int_equal(record_seal_labels(&c.r, &a, "dev-a", key1), 0);
    c.r.labels[5] = (asset_text){NULL, 0};
    assert_int_equal(record_open_labels(&c.r, &a, "dev-a", key1), 0);
    for (int i = 0; i < ASSET_LABELS; i++)
        if (i != 5)
            assert_null(c.r.labels[i].p);
    assert_int_equal(c.r.labels[5].n, 1);
    assert_memory_equal(c.r.labels[5].p, "z", 1);

    /* moved to another alias, owner, device, store, key version, key: fails */
    rec_init(&b);
    b.r.attr_enc = true;
    b.r.labels_sealed = blob;
    b.r.labels_sealed_len = bl;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), 0);
    b.alias[0] = 'B';
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.alias[0] = 'a';
    b.owner[0] = 'X';
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.owner[0] = 'c';
    assert_int_equal(record_open_labels(&b.r, &a, "dev-b", key1), -1);
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key2), -1);
    b.r.attr_enc = false;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.r.attr_enc = true;
    b.r.key_version = 3;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.r.key_version = 1;
    b.r.owner_kind = 1;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.r.owner_kind = 0;
    /* tampered or missing blob */
    unsigned char *t = arena_alloc(&a, bl);
    memcpy(t, blob, bl);
    t[bl / 2] ^= 0x10;
    b.r.labels_sealed = t;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.r.labels_sealed = NULL;
    b.r.labels_sealed_len = 0;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), -1);
    b.r.labels_sealed = blob;
    b.r.labels_sealed_len = bl;
    assert_int_equal(record_open_labels(&b.r, &a, "dev-a", key1), 0);
    arena_free(&a);
}

static void test_record_access(void **state)
{
    (void)state;
    rec_buf b;
    rec_init(&b);
    b.r.accessibility = ACCESSIBILITY_DEVICE_UNLOCKED;
    b.r.require_password_set = true;
    b.r.auth_type = AUTH_TYPE_ANY;
    access_attrs a = record_access(&b.r);
    assert_int_equal(a.accessibility, ACCESSIBILITY_DEVICE_UNLOCKED);
    assert_true(a.require_password_set);
    assert_int_equal(a.auth_type, AUTH_TYPE_ANY);
}

/* ---- blind index, token hash, tokens ---- */

static void test_blind_index(void **state)
{
    (void)state;
    char a[SEAL_INDEX_HEX_LEN + 1], b[SEAL_INDEX_HEX_LEN + 1];
    seal_blind_index(a, 4, "value", 5, key1);
    seal_blind_index(b, 4, "value", 5, key1);
    assert_string_equal(a, b); /* deterministic, so it can be filtered on */
    assert_int_equal(strlen(a), SEAL_INDEX_HEX_LEN);
    for (size_t i = 0; i < SEAL_INDEX_HEX_LEN; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
    assert_null(strstr(a, "value"));
    seal_blind_index(b, 4, "value", 5, key2);
    assert_string_not_equal(a, b); /* per device key */
    seal_blind_index(b, 5, "value", 5, key1);
    assert_string_not_equal(a, b); /* per slot */
    seal_blind_index(b, 4, "valuf", 5, key1);
    assert_string_not_equal(a, b); /* per value */
    seal_blind_index(b, 4, "valu", 4, key1);
    assert_string_not_equal(a, b); /* length honoured */
    /* all slots differ from each other for the same value */
    char all[ASSET_LABELS][SEAL_INDEX_HEX_LEN + 1];
    for (int s = 0; s < ASSET_LABELS; s++) {
        seal_blind_index(all[s], s, "same", 4, key1);
        for (int t = 0; t < s; t++)
            assert_string_not_equal(all[s], all[t]);
    }
}

static void test_token_hash_keyed(void **state)
{
    (void)state;
    unsigned char a[SEAL_TOKEN_HASH_LEN], b[SEAL_TOKEN_HASH_LEN];
    seal_token_hash(a, "tok", 3, key1);
    seal_token_hash(b, "tok", 3, key1);
    assert_memory_equal(a, b, sizeof a);
    seal_token_hash(b, "tok", 3, key2);
    assert_memory_not_equal(a, b, sizeof a);
    seal_token_hash(b, "tol", 3, key1);
    assert_memory_not_equal(a, b, sizeof a);
    /* keyed: not the plain (unkeyed) BLAKE2b of the token */
    crypto_generichash(b, sizeof b, (const unsigned char *)"tok", 3, NULL, 0);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_new_token(void **state)
{
    (void)state;
    char a[SEAL_TOKEN_TEXT_LEN], b[SEAL_TOKEN_TEXT_LEN];
    seal_new_token(a);
    seal_new_token(b);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    /* base64url of 32 bytes */
    unsigned char raw[64];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, a, strlen(a), NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, 32);
    assert_null(strpbrk(a, "+/="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_wrong_key_or_ad),
        cmocka_unit_test(test_seal_every_flipped_byte_fails),
        cmocka_unit_test(test_seal_truncated_fails),
        cmocka_unit_test(test_seal_nonces_unique),
        cmocka_unit_test(test_seal_nonces_unique_across_threads),
        cmocka_unit_test(test_seal_ad_unambiguous),
        cmocka_unit_test(test_keyring_formats),
        cmocka_unit_test(test_keyring_wrap_unwrap),
        cmocka_unit_test(test_record_ad_binds_fields),
        cmocka_unit_test(test_record_ad_ignores_mutable_fields),
        cmocka_unit_test(test_record_secret_round_trip_and_binding),
        cmocka_unit_test(test_record_labels_round_trip),
        cmocka_unit_test(test_record_access),
        cmocka_unit_test(test_blind_index),
        cmocka_unit_test(test_token_hash_keyed),
        cmocka_unit_test(test_new_token),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
