/* test_jsonparse: the request-body parser (api/jsonparse.c) against Jansson's own
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL), which it replaces: on hand-picked texts
 * (every escape, surrogate pairs and lone surrogates, overlong and out-of-range UTF-8, numbers at
 * the int64 and double limits, literals, whitespace, trailing bytes, top-level scalars) and on
 * 200,000 random mutations of valid bodies, both must accept the same texts and build equal
 * values. Then what only this parser reports: the repeated key, positions; and the nesting limit,
 * Jansson's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../api/jsonparse.h"

static void agree(const char *text, size_t n)
{
    json_error_t jerr;
    jsonparse_error err;
    json_t *theirs = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    json_t *ours = jsonparse(text, n, &err);
    if (!theirs != !ours)
        fail_msg("'%.*s': Jansson %s (%s), jsonparse %s", (int)n, text,
                 theirs ? "accepts" : "refuses", theirs ? "" : jerr.text,
                 ours ? "accepts" : "refuses");
    if (ours) {
        assert_int_equal(err.status, JSONPARSE_OK);
        if (!json_equal(ours, theirs))
            fail_msg("'%.*s': different values", (int)n, text);
    } else {
        assert_int_not_equal(err.status, JSONPARSE_OK);
        assert_true(err.position <= n);
    }
    json_decref(ours);
    json_decref(theirs);
}

static void agree_s(const char *text)
{
    agree(text, strlen(text));
}

static void test_hand_picked(void **state)
{
    (void)state;
    const char *cases[] = {
        "{}",
        "[]",
        " \t\r\n{ } \n",
        "{\"a\":1}",
        "{\"a\":1,}",
        "{,}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "",
        " ",
        "1",
        "\"s\"",
        "null",
        "true",
        "[true,false,null]",
        "[tru]",
        "[truex]",
        "[nul]",
        "[True]",
        "[0]",
        "[-0]",
        "[-0.0]",
        "[01]",
        "[00]",
        "[-]",
        "[+1]",
        "[1.]",
        "[.5]",
        "[1.5]",
        "[1e5]",
        "[1E+5]",
        "[1e-5]",
        "[1e]",
        "[1e+]",
        "[2.5e-400]",
        "[1e400]",
        "[-1e400]",
        "[9223372036854775807]",
        "[9223372036854775808]",
        "[-9223372036854775808]",
        "[-9223372036854775809]",
        "[123456789012345678901234567890]",
        "[1.00000000000000000000000000000000000000000000000000000000000000000000000001]",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "[\"\\x\"]",
        "[\"\\u0041\"]",
        "[\"\\u00e9\\u4e2d\"]",
        "[\"\\u0000\"]",
        "[\"a\\u0000b\"]",
        "[\"\\ud83d\\ude00\"]",
        "[\"\\ud83d\"]",
        "[\"\\ude00\"]",
        "[\"\\ud83d\\u0041\"]",
        "[\"\\ud83dx\"]",
        "[\"\\u12\"]",
        "[\"\\u12G4\"]",
        "[\"\\uDBFF\\uDFFF\"]",
        "[\"é中😀\"]",
        "[\"\xc3\"]",
        "[\"\xc0\xaf\"]",
        "[\"\xc1\xbf\"]",
        "[\"\xe0\x80\xaf\"]",
        "[\"\xe0\xa0\x80\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xed\x9f\xbf\"]",
        "[\"\xf0\x80\x80\x80\"]",
        "[\"\xf0\x90\x80\x80\"]",
        "[\"\xf4\x8f\xbf\xbf\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xf5\x80\x80\x80\"]",
        "[\"\xff\"]",
        "[\"\x80\"]",
        "[\"a\x01\"]",
        "[\"a\x1f\"]",
        "[\"a\x7f\"]",
        "[\"tab\there\"]",
        "[\"unterminated]",
        "{\"a\":{\"b\":[1,{\"c\":null}]}}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":{\"a\":2}}",
        "{\"\\u0061\":1,\"a\":2}",
        "{\"a\\u0000\":1}",
        "{\"\":1}",
        "{\"\":1,\"\":2}",
        "[\"\\/\"]",
        "[1,[2,[3,[4]]]]",
        "{\"a\":[]}",
        "[{}]",
        "[{}",
        "{\"a\":[}",
        "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        agree_s(cases[i]);
    agree("{\"a\":1}\0", 8);
    agree("[\"a\0b\"]", 7);
    agree("[1]\0", 4);
}

static void test_random_mutations(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "{\"alias\":\"demo\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal1\":\"grp-1\","
        "\"syncType\":[\"TRUSTED_DEVICE\"],\"accessibility\":\"DEVICE_FIRST_UNLOCKED\"}",
        "{\"assets\":[{\"alias\":\"a\\u00e9\",\"secret\":\"QQ==\"},{\"alias\":\"b\",\"n\":-1.5e3}]"
        "}",
        "[true,false,null,0,-0,12,3.25,\"\\ud83d\\ude00\",\"é\",{\"k\":[{}]}]",
    };
    static const char pool[] = "{}[]\":,.-+0123456789eE\\u\"tfn \x01\x7f\xc3\xa9\xed\xa0\xf0\x90";
    char buf[512];
    srand(12345);
    for (int round = 0; round < 200000; round++) {
        const char *seed = seeds[round % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand() % (n + 1);
            char c = pool[rand() % (int)(sizeof pool - 1)];
            switch (rand() % 3) {
            case 0: /* replace */
                if (at < n)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
                break;
            default: /* delete */
                if (at < n) {
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                }
            }
        }
        agree(buf, n);
    }
}

/* The one difference from Jansson (api/jsonparse.h): a raw NUL byte after a number or a literal. */
/* Long strings are scanned 8 bytes at a time: each byte value, at each place of a run long enough
 * for several such steps, must end or break the string exactly where Jansson says. */
static void test_long_strings_every_byte_everywhere(void **state)
{
    (void)state;
    char text[64];
    for (int c = 1; c < 256; c++)
        for (size_t at = 2; at < 40; at++) {
            memset(text, 'x', sizeof text);
            memcpy(text, "[\"", 2);
            text[at] = (char)c;
            memcpy(text + 44, "\"]", 2);
            agree(text, 46);
            if (at + 1 < 44 && c >= 0xc2 && c <= 0xdf) { /* a well-formed 2-byte sequence */
                text[at + 1] = (char)0x80;
                agree(text, 46);
            }
        }
}

static void test_raw_nul_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t n;
    } cases[] = {{"[1\0]", 4}, {"[true\0]", 7}, {"{\"a\":976.4\0}", 12}, {"[1\0 ]", 5}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_error_t jerr;
        jsonparse_error err;
        json_t *theirs = json_loadb(cases[i].text, cases[i].n, JSON_ALLOW_NUL, &jerr);
        assert_non_null(theirs); /* Jansson's quirk: if it goes, agree() covers these */
        json_decref(theirs);
        assert_null(jsonparse(cases[i].text, cases[i].n, &err));
        assert_int_equal(err.status, JSONPARSE_SYNTAX);
    }
}

static void test_repeated_key_named(void **state)
{
    (void)state;
    jsonparse_error err;
    const char *text = "{\"alias\":\"a\",\"secret\":\"QQ==\",\"alias\":\"b\"}";
    assert_null(jsonparse(text, strlen(text), &err));
    assert_int_equal(err.status, JSONPARSE_DUPLICATE_KEY);
    assert_string_equal(err.key, "alias");
    assert_int_equal(err.key_len, 5);
    assert_int_equal(err.position, strstr(text, ",\"alias\"") - text + 1);
    text = "{\"a\":{\"x\":1,\"x\":2}}";
    assert_null(jsonparse(text, strlen(text), &err));
    assert_int_equal(err.status, JSONPARSE_DUPLICATE_KEY);
    assert_string_equal(err.key, "x");
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char text[2 * (JSONPARSE_MAX_DEPTH + 1) + 1];
    jsonparse_error err;
    for (int depth = JSONPARSE_MAX_DEPTH; depth <= JSONPARSE_MAX_DEPTH + 1; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        json_t *v = jsonparse(text, 2 * (size_t)depth, &err);
        agree(text, 2 * (size_t)depth);
        if (depth <= JSONPARSE_MAX_DEPTH) {
            assert_non_null(v);
        } else {
            assert_null(v);
            assert_int_equal(err.status, JSONPARSE_SYNTAX);
            assert_int_equal(err.position, JSONPARSE_MAX_DEPTH);
        }
        json_decref(v);
    }
}

static void test_error_position(void **state)
{
    (void)state;
    jsonparse_error err;
    const char *text = "{\"a\":[1,2,x]}";
    assert_null(jsonparse(text, strlen(text), &err));
    assert_int_equal(err.status, JSONPARSE_SYNTAX);
    assert_int_equal(err.position, strchr(text, 'x') - text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_picked),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_raw_nul_refused),
        cmocka_unit_test(test_repeated_key_named),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_long_strings_every_byte_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
