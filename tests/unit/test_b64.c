/* test_b64: the base64 codec of request and response bodies (service/b64.c) must accept and
 * refuse exactly what libsodium's strict decoder (VARIANT_ORIGINAL, nothing ignored, the whole
 * text consumed) accepts and refuses, give the same bytes, and encode as libsodium does — over
 * every length up to 64 bytes, random texts made mostly of base64 characters, and the cases
 * that differ only in padding or unused bits, every ASCII byte in every place of a quad — except
 * bytes outside ASCII, which it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../service/b64.h"

/* What libsodium says of text: 0 and the bytes, or -1. */
static int sodium_decode(unsigned char *out, size_t cap, size_t *len, const char *text, size_t n)
{
    const char *end = NULL;
    if (sodium_base642bin(out, cap, text, n, NULL, len, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        end != text + n)
        return -1;
    return 0;
}

static void agree(const char *text, size_t n)
{
    unsigned char a[128], b[128];
    size_t la = 0, lb = 0;
    int ra = b64_decode(a, sizeof a, &la, text, n);
    int rb = sodium_decode(b, sizeof b, &lb, text, n);
    if (ra != rb)
        fail_msg("'%.*s': b64_decode %d, libsodium %d", (int)n, text, ra, rb);
    if (ra == 0) {
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
    }
}

static void test_round_trip_every_length(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 64; n++) {
        unsigned char raw[64], back[64];
        char ours[B64_ENCODED_LEN(64)], theirs[B64_ENCODED_LEN(64)];
        size_t len = 0;
        randombytes_buf(raw, n);
        assert_int_equal(b64_encode(ours, sizeof ours, raw, n), 0);
        sodium_bin2base64(theirs, sizeof theirs, raw, n, sodium_base64_VARIANT_ORIGINAL);
        assert_string_equal(ours, theirs);
        assert_int_equal(b64_decode(back, sizeof back, &len, ours, strlen(ours)), 0);
        assert_int_equal(len, n);
        assert_memory_equal(back, raw, n);
    }
}

static void test_refuses_what_libsodium_refuses(void **state)
{
    (void)state;
    const char *cases[] = {
        "",         "QQ==",    "QQ=",    "QQ",       "QR==", "QUI=", "QUJ=",     "QUJD",
        "QUJDRA==", "QUJDRA=", "QUJDRA", "====",     "A===", "AB=C", "AB==CDEF", "QUJD\n",
        " QUJD",    "QU JD",   "QUJD=",  "QUJD====", "QUJ-", "QUJ_", "QUJDR===", "Zg==",
        "Zm8=",     "Zm9v",    "Zh==",   "Zm9=",     "/+/+"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        agree(cases[i], strlen(cases[i]));
    agree("QU\0D", 4);
}

/* Bytes outside ASCII are never base64 (libsodium 1.0.18 lets some through; RFC 4648 does not). */
static void test_refuses_non_ascii(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t len = 0;
    for (int c = 0x80; c <= 0xff; c++) {
        char text[4] = {'Q', 'U', 'J', (char)c};
        assert_int_equal(b64_decode(out, sizeof out, &len, text, 4), -1);
    }
}

/* The decoder's table is built by a macro over all 256 bytes: every ASCII byte, in every place of
 * a quad (and of the padded last one), must be read as libsodium reads it. */
static void test_agrees_on_every_ascii_byte_in_every_place(void **state)
{
    (void)state;
    for (int c = 0; c < 0x80; c++)
        for (int at = 0; at < 4; at++) {
            char text[8] = {'Q', 'U', 'J', 'D', 'Q', 'Q', '=', '='};
            text[at] = (char)c;
            agree(text, 4);
            agree(text, 8);
            memcpy(text, "QUJDQUI=", 8);
            text[4 + at] = (char)c;
            agree(text, 8);
        }
}

static void test_agrees_on_random_texts(void **state)
{
    (void)state;
    static const char pool[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/====-_ \n";
    char text[64];
    for (int round = 0; round < 200000; round++) {
        size_t n = randombytes_uniform(24);
        for (size_t i = 0; i < n; i++)
            text[i] = pool[randombytes_uniform(sizeof pool - 1)];
        agree(text, n);
    }
}

static void test_small_buffers(void **state)
{
    (void)state;
    unsigned char out[3];
    char text[5];
    size_t len = 0;
    assert_int_equal(b64_decode(out, 2, &len, "QUJD", 4), -1); /* needs 3 */
    assert_int_equal(b64_decode(out, 3, &len, "QUJD", 4), 0);
    assert_int_equal(b64_decode(out, 1, &len, "QQ==", 4), 0); /* needs 1 */
    assert_int_equal(b64_encode(text, 4, (const unsigned char *)"ABC", 3), -1);
    assert_int_equal(b64_encode(text, 5, (const unsigned char *)"ABC", 3), 0);
    assert_string_equal(text, "QUJD");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_length),
        cmocka_unit_test(test_refuses_what_libsodium_refuses),
        cmocka_unit_test(test_refuses_non_ascii),
        cmocka_unit_test(test_agrees_on_every_ascii_byte_in_every_place),
        cmocka_unit_test(test_agrees_on_random_texts),
        cmocka_unit_test(test_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
