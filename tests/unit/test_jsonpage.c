/* test_jsonpage: the page answer of GET /assets, and the one-asset answer, written directly
 * (api/jsonpage.c) are byte for byte what the Jansson tree (jsonmap_asset_page or jsonmap_asset
 * + json_dumps JSON_COMPACT) gives, for every shape of asset and every character class Jansson
 * escapes; text that is not UTF-8 fails the answer as Jansson does. And the seal check that
 * attributes-only reads use (seal_verify) says what opening would say, without the plaintext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../api/http.h"
#include "../../api/jsonmap.h"
#include "../../api/jsonpage.h"
#include "../../service/crypto/seal.h"

static void fill(asset_out *o, const char *alias, const char *owner, bool group)
{
    memset(o, 0, sizeof *o);
    o->rec.alias = (asset_text){alias, strlen(alias)};
    o->rec.owner = (asset_text){owner, strlen(owner)};
    o->has_group = group;
    o->rec.accessibility = ACCESSIBILITY_DEVICE_FIRST_UNLOCKED;
    o->rec.auth_type = AUTH_TYPE_NONE;
    o->rec.wrap_type = WRAP_NEVER;
    o->rec.update_ms = 1700000000123LL;
}

/* The page through Jansson, as the answer was built before jsonpage. */
static char *via_jansson(const asset_list *l)
{
    json_t *j = jsonmap_asset_page(l);
    if (!j)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static void expect_same(const asset_list *l)
{
    size_t len = 0;
    char *want = via_jansson(l);
    char *got = jsonpage_assets(l, &len);
    assert_non_null(want);
    assert_non_null(got);
    if (strlen(want) != len || memcmp(want, got, len) != 0)
        fail_msg("jsonpage:\n%.*s\nJansson:\n%s", (int)len, got, want);
    http_secure_free(got);
    http_secure_free(want);
}

static void test_page_shapes(void **state)
{
    (void)state;
    static const char ctl[] = "c\x01\x02\x08\x0c\x0a\x0d\x09\x1f\x7f";
    static const char uni[] = "é ünï 😀 \xe2\x80\xa8"; /* 2-, 3- and 4-byte sequences */
    asset_out items[4];
    asset_list l = {0};
    unsigned char secret[37];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (unsigned char)(i * 7);
    fill(&items[0], "plain", "com.example.app", false);
    fill(&items[1], "q\"uo\\te/slash", "group.one", true);
    items[1].rec.sync_type = SYNC_THIS_DEVICE | SYNC_TRUSTED_ACCOUNT;
    items[1].rec.require_password_set = true;
    items[1].rec.is_persistent = true;
    items[1].rec.attr_enc = true;
    items[1].rec.auth_type = AUTH_TYPE_ANY;
    items[1].rec.labels[0] = (asset_text){ctl, sizeof ctl - 1};
    items[1].rec.labels[5] = (asset_text){uni, sizeof uni - 1};
    items[1].rec.labels[11] = (asset_text){"nul\0inside", 10};
    fill(&items[2], "with-secret", "com.example.app", false);
    items[2].rec.sync_type = SYNC_TRUSTED_DEVICE;
    items[2].secret = secret;
    items[2].secret_len = sizeof secret;
    fill(&items[3], "", "com.example.app", false);
    items[3].rec.labels[4] = (asset_text){"", 0};
    l.items = items;
    for (l.n = 0; l.n <= 4; l.n++) {
        l.next_cursor = NULL;
        expect_same(&l);
        l.next_cursor = "AAECAwQF-_cursor";
        expect_same(&l);
    }
}

/* One asset (the answer of GET /assets/{alias}, of an add and of an update) is what
 * json_dumps(jsonmap_asset) gives, for each shape of test_page_shapes and a long secret. */
static void test_one_asset(void **state)
{
    (void)state;
    static const char ctl[] = "c\x01\x02\x08\x0c\x0a\x0d\x09\x1f\x7f";
    static const char uni[] = "é ünï 😀 \xe2\x80\xa8";
    asset_out o[4];
    unsigned char secret[1024];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (unsigned char)(i * 13 + 5);
    fill(&o[0], "plain", "com.example.app", false);
    fill(&o[1], "q\"uo\\te/slash", "group.one", true);
    o[1].rec.sync_type = SYNC_THIS_DEVICE | SYNC_TRUSTED_ACCOUNT;
    o[1].rec.require_password_set = true;
    o[1].rec.attr_enc = true;
    o[1].rec.labels[0] = (asset_text){ctl, sizeof ctl - 1};
    o[1].rec.labels[5] = (asset_text){uni, sizeof uni - 1};
    fill(&o[2], "with-secret", "com.example.app", false);
    o[2].secret = secret;
    o[2].secret_len = sizeof secret;
    fill(&o[3], "short-secret", "group.two", true);
    o[3].secret = secret;
    o[3].secret_len = 2; /* padded */
    for (int i = 0; i < 4; i++) {
        json_t *j = jsonmap_asset(&o[i]);
        assert_non_null(j);
        char *want = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        size_t len = 0;
        char *got = jsonpage_asset(&o[i], &len);
        assert_non_null(want);
        assert_non_null(got);
        if (strlen(want) != len || memcmp(want, got, len) != 0)
            fail_msg("jsonpage_asset:\n%.*s\nJansson:\n%s", (int)len, got, want);
        http_secure_free(got);
        http_secure_free(want);
    }
    o[0].rec.labels[2] = (asset_text){"\xff", 1}; /* not UTF-8: refused, as by Jansson */
    size_t len = 7;
    assert_null(jsonpage_asset(&o[0], &len));
    assert_int_equal(len, 0);
}

static void test_page_invalid_utf8_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        asset_out o;
        asset_list l = {.items = &o, .n = 1};
        size_t len = 7;
        fill(&o, "ok", "com.example.app", false);
        o.rec.labels[2] = (asset_text){bad[i], strlen(bad[i])};
        assert_null(via_jansson(&l)); /* the reference refuses it too */
        assert_null(jsonpage_assets(&l, &len));
        assert_int_equal(len, 0);
    }
}

/* A full page of the longest labels, every byte of which is escaped. */
static void test_page_large(void **state)
{
    (void)state;
    enum { N = 100 };
    asset_out *items = calloc(N, sizeof *items);
    char *label = malloc(2049);
    assert_non_null(items);
    assert_non_null(label);
    memset(label, '"', 2048); /* every byte escaped: twice as long */
    label[2048] = 0;
    for (int i = 0; i < N; i++) {
        fill(&items[i], "a", "com.example.app", false);
        for (int k = 0; k < ASSET_LABELS; k++)
            items[i].rec.labels[k] = (asset_text){label, 2048};
    }
    asset_list l = {.items = items, .n = N};
    expect_same(&l);
    free(label);
    free(items);
}

static void test_seal_verify(void **state)
{
    (void)state;
    unsigned char key[SEAL_KEY_LEN], other[SEAL_KEY_LEN], sealed[64 + SEAL_OVERHEAD], out[64];
    unsigned char msg[64];
    size_t n = 0, m = 0;
    randombytes_buf(key, sizeof key);
    randombytes_buf(other, sizeof other);
    randombytes_buf(msg, sizeof msg);
    assert_int_equal(seal_encrypt(sealed, &n, msg, sizeof msg, (const unsigned char *)"ad", 2, key),
                     0);
    assert_int_equal(seal_verify(sealed, n, (const unsigned char *)"ad", 2, key), 0);
    assert_int_equal(seal_decrypt(out, &m, sealed, n, (const unsigned char *)"ad", 2, key), 0);
    assert_int_equal(seal_verify(sealed, n, (const unsigned char *)"ax", 2, key), -1);
    assert_int_equal(seal_verify(sealed, n, (const unsigned char *)"ad", 2, other), -1);
    assert_int_equal(seal_verify(sealed, SEAL_OVERHEAD - 1, (const unsigned char *)"ad", 2, key),
                     -1);
    for (size_t i = 0; i < n; i += 9) { /* nonce, ciphertext and tag bytes alike */
        sealed[i] ^= 1;
        assert_int_equal(seal_verify(sealed, n, (const unsigned char *)"ad", 2, key), -1);
        assert_int_equal(seal_decrypt(out, &m, sealed, n, (const unsigned char *)"ad", 2, key), -1);
        sealed[i] ^= 1;
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    json_set_alloc_funcs(http_secure_malloc, http_secure_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_shapes),
        cmocka_unit_test(test_one_asset),
        cmocka_unit_test(test_page_invalid_utf8_fails),
        cmocka_unit_test(test_page_large),
        cmocka_unit_test(test_seal_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
