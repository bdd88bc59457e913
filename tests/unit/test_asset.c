/* test_asset: the field table of spec §3 and the request validation of service/asset_req.c —
 * every field's type, range and length at the boundaries, base64 strictness, enums, repeated
 * and duplicate values, the per-operation field sets and asset_req_finish (required fields,
 * defaults, UNSUPPORTED and PARAM_VERIFICATION_FAILED combinations), and asset_req_clear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../service/asset_req.h"

/* ---- helpers ---- */

/* n bytes of 'a' (static buffer, not NUL-terminated in meaning: use with n). */
static char big[8192];
static const char *as(size_t n)
{
    assert_true(n <= sizeof big);
    return big;
}

/* base64 (standard, padded) of n bytes 0, 1, 2, ... into a static buffer. */
static char b64buf[4096];
static const char *b64_of(const unsigned char *p, size_t n)
{
    sodium_bin2base64(b64buf, sizeof b64buf, p, n, sodium_base64_VARIANT_ORIGINAL);
    return b64buf;
}
static unsigned char seq_bytes[2048];
static const char *b64n(size_t n)
{
    return b64_of(seq_bytes, n);
}

static int setup(void **state)
{
    (void)state;
    memset(big, 'a', sizeof big);
    for (size_t i = 0; i < sizeof seq_bytes; i++)
        seq_bytes[i] = (unsigned char)(i * 7 + 3);
    return 0;
}

static asset_err set_text(asset_req *r, asset_field f, const char *s)
{
    const char *why = NULL;
    asset_err e = asset_req_set_text(r, f, s, strlen(s), &why);
    if (e != ASSET_OK)
        assert_non_null(why);
    return e;
}

static asset_err set_name(asset_req *r, asset_field f, const char *s)
{
    const char *why = NULL;
    asset_err e = asset_req_set_name(r, f, s, strlen(s), &why);
    if (e != ASSET_OK)
        assert_non_null(why);
    return e;
}

static asset_err set_bool(asset_req *r, asset_field f, bool v)
{
    const char *why = NULL;
    return asset_req_set_bool(r, f, v, &why);
}

static asset_err set_int(asset_req *r, asset_field f, long long v)
{
    const char *why = NULL;
    asset_err e = asset_req_set_int(r, f, v, &why);
    if (e != ASSET_OK)
        assert_non_null(why);
    return e;
}

static asset_err finish(asset_req *r, asset_op op, const char **field)
{
    const char *why = NULL, *fld = NULL;
    asset_err e = asset_req_finish(r, op, &fld, &why);
    if (field)
        *field = fld;
    if (e != ASSET_OK)
        assert_non_null(why);
    return e;
}

/* A minimal valid add: secret + alias. */
static void base_add(asset_req *r)
{
    asset_req_init(r);
    assert_int_equal(set_text(r, F_SECRET, "c2VjcmV0"), ASSET_OK);
    assert_int_equal(set_text(r, F_ALIAS, "alias-1"), ASSET_OK);
}

static asset_field field_named(const char *name)
{
    int f = asset_field_by_name(name, strlen(name));
    if (f < 0)
        fail_msg("no field named %s", name);
    return (asset_field)f;
}

/* ---- the field table ---- */

typedef struct {
    const char *name;
    uint32_t tag;
    field_kind kind;
    long min, max; /* only checked for BYTES, TEXT, INT */
} want_field;

static const want_field spec_fields[] = {
    {"secret", 0x30000001, KIND_BYTES, 1, 1024},
    {"alias", 0x30000002, KIND_TEXT, 1, 256},
    {"accessibility", 0x20000003, KIND_ENUM, 0, 0},
    {"requirePasswordSet", 0x10000004, KIND_BOOL, 0, 0},
    {"authType", 0x20000005, KIND_ENUM, 0, 0},
    {"authValidityPeriod", 0x20000006, KIND_INT, 1, 600},
    {"syncType", 0x20000010, KIND_SYNC, 0, 0},
    {"isPersistent", 0x10000011, KIND_BOOL, 0, 0},
    {"dataLabelCritical1", 0x30000020, KIND_TEXT, 1, 2048},
    {"dataLabelCritical2", 0x30000021, KIND_TEXT, 1, 2048},
    {"dataLabelCritical3", 0x30000022, KIND_TEXT, 1, 2048},
    {"dataLabelCritical4", 0x30000023, KIND_TEXT, 1, 2048},
    {"dataLabelNormal1", 0x30000030, KIND_TEXT, 1, 2048},
    {"dataLabelNormal2", 0x30000031, KIND_TEXT, 1, 2048},
    {"dataLabelNormal3", 0x30000032, KIND_TEXT, 1, 2048},
    {"dataLabelNormal4", 0x30000033, KIND_TEXT, 1, 2048},
    {"dataLabelNormalLocal1", 0x30000034, KIND_TEXT, 1, 2048},
    {"dataLabelNormalLocal2", 0x30000035, KIND_TEXT, 1, 2048},
    {"dataLabelNormalLocal3", 0x30000036, KIND_TEXT, 1, 2048},
    {"dataLabelNormalLocal4", 0x30000037, KIND_TEXT, 1, 2048},
    {"conflictResolution", 0x20000044, KIND_ENUM, 0, 0},
    {"requireAttrEncrypted", 0x10000047, KIND_BOOL, 0, 0},
    {"groupId", 0x30000048, KIND_TEXT, 7, 127},
    /* §3: "WRAP_TYPE (0x20000049; the C header's 0x30000049 is a known header bug)" */
    {"wrapType", 0x20000049, KIND_ENUM, 0, 0},
    /* Asset Store Kit tags of the query/auth parameters (asset_type.h: RETURN_TYPE =
     * NUMBER|0x40, AUTH_CHALLENGE = BYTES|0x07, AUTH_TOKEN = BYTES|0x08). */
    {"returnType", 0x20000040, KIND_ENUM, 0, 0},
    {"authChallenge", 0x30000007, KIND_BYTES, 32, 32},
    {"authToken", 0x30000008, KIND_BYTES, 1, 1024},
    {"limit", 0, KIND_INT, 1, 1000},
    {"orderBy", 0, KIND_ENUM, 0, 0},
    {"cursor", 0, KIND_TEXT, 1, 0 /* not checked */},
    {"offset", 0, KIND_INT, 0, 0 /* not checked */},
};

static void test_field_table_matches_spec(void **state)
{
    (void)state;
    size_t n = sizeof spec_fields / sizeof spec_fields[0];
    assert_int_equal(n, F_COUNT); /* every field of the table is described by the spec */
    for (size_t i = 0; i < n; i++) {
        const want_field *w = &spec_fields[i];
        int f = asset_field_by_name(w->name, strlen(w->name));
        if (f < 0)
            fail_msg("field %s is missing", w->name);
        const field_info *fi = asset_field_info((asset_field)f);
        assert_non_null(fi);
        assert_string_equal(fi->name, w->name);
        if (fi->tag != w->tag && w->kind != KIND_BYTES) /* bytes: see test_bytes_field_tags */
            fail_msg("%s: tag 0x%08x, the Asset Store Kit's is 0x%08x", w->name, (unsigned)fi->tag,
                     (unsigned)w->tag);
        if (fi->kind != w->kind)
            fail_msg("%s: kind %d, want %d", w->name, fi->kind, w->kind);
        if (w->kind == KIND_BYTES || w->kind == KIND_INT || w->kind == KIND_TEXT) {
            assert_int_equal(fi->min, w->min);
            if (w->max)
                assert_int_equal(fi->max, w->max);
        }
        if (w->kind == KIND_ENUM || w->kind == KIND_SYNC) {
            assert_non_null(fi->enums);
            assert_non_null(fi->enum_vals);
        }
    }
    assert_null(asset_field_info(F_COUNT));
    assert_null(asset_field_info((asset_field)-1));
}

/* The byte-valued fields' tags on their own, so a wrong one is named precisely. */
static void test_bytes_field_tags(void **state)
{
    (void)state;
    assert_int_equal(asset_field_info(F_SECRET)->tag, 0x30000001);
    /* Asset Store Kit: ASSET_TAG_AUTH_CHALLENGE = ASSET_TYPE_BYTES | 0x07,
     * ASSET_TAG_AUTH_TOKEN = ASSET_TYPE_BYTES | 0x08 (spec: "its tags ... are kept"). */
    if (asset_field_info(F_AUTH_CHALLENGE)->tag != 0x30000007 ||
        asset_field_info(F_AUTH_TOKEN)->tag != 0x30000008)
        fail_msg("authChallenge/authToken tags are 0x%08x/0x%08x; the Asset Store Kit's are "
                 "0x30000007/0x30000008",
                 (unsigned)asset_field_info(F_AUTH_CHALLENGE)->tag,
                 (unsigned)asset_field_info(F_AUTH_TOKEN)->tag);
}

static void test_field_by_name_exact(void **state)
{
    (void)state;
    assert_int_equal(asset_field_by_name("alias", 5), F_ALIAS);
    /* length is honoured: a prefix or a longer string is not the field */
    assert_int_equal(asset_field_by_name("alias", 4), -1);
    assert_int_equal(asset_field_by_name("aliasx", 6), -1);
    assert_int_equal(asset_field_by_name("Alias", 5), -1);
    assert_int_equal(asset_field_by_name("", 0), -1);
    assert_int_equal(asset_field_by_name("updateTime", 10), -1); /* output only */
    assert_int_equal(asset_field_by_name("alias\0", 6), -1);
    assert_int_equal(asset_field_by_name("dataLabelNormal1", 16), F_LABEL0 + LABEL_NORMAL);
    assert_int_equal(asset_field_by_name("dataLabelNormalLocal4", 21), F_LABEL0 + LABEL_LOCAL + 3);
    assert_int_equal(asset_field_by_name("dataLabelCritical1", 18), F_LABEL0 + LABEL_CRITICAL);
}

typedef struct {
    asset_field f;
    unsigned v;
    const char *name;
} enum_case;

static void test_enum_names_and_values(void **state)
{
    (void)state;
    const enum_case cases[] = {
        {F_ACCESSIBILITY, 0, "DEVICE_POWERED_ON"},
        {F_ACCESSIBILITY, 1, "DEVICE_FIRST_UNLOCKED"},
        {F_ACCESSIBILITY, 2, "DEVICE_UNLOCKED"},
        {F_AUTH_TYPE, 0x00, "NONE"},
        {F_AUTH_TYPE, 0xff, "ANY"},
        {F_SYNC_TYPE, 1, "THIS_DEVICE"},
        {F_SYNC_TYPE, 2, "TRUSTED_DEVICE"},
        {F_SYNC_TYPE, 4, "TRUSTED_ACCOUNT"},
        {F_CONFLICT_RESOLUTION, 0, "OVERWRITE"},
        {F_CONFLICT_RESOLUTION, 1, "THROW_ERROR"},
        {F_WRAP_TYPE, 0, "NEVER"},
        {F_WRAP_TYPE, 1, "TRUSTED_ACCOUNT"},
        {F_RETURN_TYPE, 0, "ALL"},
        {F_RETURN_TYPE, 1, "ATTRIBUTES"},
        {F_ORDER_BY, 0, "dataLabelCritical1"},
        {F_ORDER_BY, 4, "dataLabelNormal1"},
        {F_ORDER_BY, 11, "dataLabelNormalLocal4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *n = asset_enum_name(cases[i].f, cases[i].v);
        assert_non_null(n);
        assert_string_equal(n, cases[i].name);
        /* and by name back to the value */
        asset_req r;
        asset_req_init(&r);
        assert_int_equal(set_name(&r, cases[i].f, cases[i].name), ASSET_OK);
        unsigned got = 0;
        switch (cases[i].f) {
        case F_ACCESSIBILITY:
            got = r.accessibility;
            break;
        case F_AUTH_TYPE:
            got = r.auth_type;
            break;
        case F_SYNC_TYPE:
            got = r.sync_type;
            break;
        case F_CONFLICT_RESOLUTION:
            got = r.conflict;
            break;
        case F_WRAP_TYPE:
            got = r.wrap_type;
            break;
        case F_RETURN_TYPE:
            got = r.return_type;
            break;
        default:
            got = (unsigned)r.order_by;
            break;
        }
        assert_int_equal(got, cases[i].v);
        assert_true(r.has & FBIT(cases[i].f));
        asset_req_clear(&r);
    }
    assert_null(asset_enum_name(F_ACCESSIBILITY, 3));
    assert_null(asset_enum_name(F_AUTH_TYPE, 1));
    assert_null(asset_enum_name(F_SYNC_TYPE, 3)); /* a set, not one value */
    assert_null(asset_enum_name(F_ALIAS, 0));     /* not an enum */
    assert_null(asset_enum_name(F_COUNT, 0));
}

static void test_enum_rejects_unknown_names(void **state)
{
    (void)state;
    const char *bad[] = {"",        "any", "Any", "AN",   "ANYX", " ANY",     "ANY ",
                         "DEVICE_", "0",   "255", "null", "ALL",  "NONE\x01", "DEVICE_UNLOCKED\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        asset_req r;
        asset_req_init(&r);
        assert_int_equal(set_name(&r, F_AUTH_TYPE, bad[i]), ASSET_INVALID_ARGUMENT);
        assert_int_equal(r.has, 0);
        asset_req_clear(&r);
    }
    asset_req r;
    asset_req_init(&r);
    /* length is honoured: "ANYTHING" cut to 3 is "ANY" */
    const char *why = NULL;
    assert_int_equal(asset_req_set_name(&r, F_AUTH_TYPE, "ANYTHING", 3, &why), ASSET_OK);
    assert_int_equal(r.auth_type, AUTH_TYPE_ANY);
    assert_int_equal(set_name(&r, F_ORDER_BY, "alias"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.order_by, -1);
    assert_int_equal(set_name(&r, F_WRAP_TYPE, "THIS_DEVICE"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "NEVER"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.sync_type, 0);
    asset_req_clear(&r);
}

/* ---- text boundaries ---- */

static void check_text_bounds(asset_field f, size_t min, size_t max)
{
    const size_t ok[] = {min, max};
    const size_t bad[] = {min - 1, max + 1};
    for (int i = 0; i < 2; i++) {
        asset_req r;
        const char *why = NULL;
        asset_req_init(&r);
        if (asset_req_set_text(&r, f, as(ok[i]), ok[i], &why) != ASSET_OK)
            fail_msg("%s: %zu bytes refused (%s)", asset_field_info(f)->name, ok[i], why);
        assert_true(r.has & FBIT(f));
        asset_req_clear(&r);
        asset_req_init(&r);
        if (asset_req_set_text(&r, f, as(bad[i]), bad[i], &why) != ASSET_INVALID_ARGUMENT)
            fail_msg("%s: %zu bytes accepted", asset_field_info(f)->name, bad[i]);
        assert_int_equal(r.has, 0);
        asset_req_clear(&r);
    }
}

static void test_text_lengths(void **state)
{
    (void)state;
    check_text_bounds(F_ALIAS, 1, 256);
    for (int i = 0; i < ASSET_LABELS; i++)
        check_text_bounds((asset_field)(F_LABEL0 + i), 1, 2048);
    check_text_bounds(F_GROUP_ID, 7, 127);
}

static void test_text_stores_value(void **state)
{
    (void)state;
    asset_req r;
    asset_req_init(&r);
    const char alias[] = "my alias", group[] = "com.example.group", lbl[] = "label value";
    assert_int_equal(set_text(&r, F_ALIAS, alias), ASSET_OK);
    assert_int_equal(set_text(&r, F_GROUP_ID, group), ASSET_OK);
    assert_int_equal(set_text(&r, F_LABEL0 + LABEL_LOCAL + 2, lbl), ASSET_OK);
    /* text is borrowed, not copied */
    assert_ptr_equal(r.alias.p, alias);
    assert_int_equal(r.alias.n, strlen(alias));
    assert_ptr_equal(r.group.p, group);
    assert_ptr_equal(r.labels[LABEL_LOCAL + 2].p, lbl);
    for (int i = 0; i < ASSET_LABELS; i++)
        if (i != LABEL_LOCAL + 2)
            assert_null(r.labels[i].p);
    asset_req_clear(&r);
}

static void test_text_utf8_and_nul(void **state)
{
    (void)state;
    struct {
        const char *p;
        size_t n;
        bool ok;
    } cases[] = {
        {"caf\xc3\xa9", 5, true},      /* é */
        {"\xe2\x82\xac", 3, true},     /* € */
        {"\xf0\x9f\x94\x91", 4, true}, /* U+1F511 */
        {"a\0b", 3, false},            /* U+0000 */
        {"\0", 1, false},
        {"\xc3", 1, false},             /* truncated */
        {"\xc0\xaf", 2, false},         /* overlong */
        {"\xed\xa0\x80", 3, false},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* > U+10FFFF */
        {"\xff", 1, false},
        {"\x80", 1, false}, /* lone continuation */
    };
    const asset_field fields[] = {F_ALIAS, F_GROUP_ID, F_LABEL0, F_LABEL0 + 11};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char buf[64];
            size_t n = cases[i].n;
            memcpy(buf, cases[i].p, n);
            /* pad group ids with ASCII to reach their 7-byte minimum */
            if (fields[k] == F_GROUP_ID) {
                memcpy(buf + n, "gggggggg", 8);
                n += 8;
            }
            asset_req r;
            const char *why = NULL;
            asset_req_init(&r);
            asset_err e = asset_req_set_text(&r, fields[k], buf, n, &why);
            if ((e == ASSET_OK) != cases[i].ok)
                fail_msg("%s case %zu: got %d", asset_field_info(fields[k])->name, i, e);
            if (!cases[i].ok) {
                assert_int_equal(e, ASSET_INVALID_ARGUMENT);
                assert_int_equal(r.has, 0);
            }
            asset_req_clear(&r);
        }
    /* length is counted in bytes: 128 two-byte characters make 256 bytes: ok; one more: not */
    char buf[600];
    for (int i = 0; i < 129; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 2);
    asset_req r;
    const char *why = NULL;
    asset_req_init(&r);
    assert_int_equal(asset_req_set_text(&r, F_ALIAS, buf, 256, &why), ASSET_OK);
    asset_req_clear(&r);
    assert_int_equal(asset_req_set_text(&r, F_ALIAS, buf, 258, &why), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
}

/* ---- bytes (base64) ---- */

static void test_secret_lengths(void **state)
{
    (void)state;
    const size_t ok[] = {1, 2, 3, 4, 100, 1023, 1024};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        asset_req r;
        asset_req_init(&r);
        const char *b = b64n(ok[i]);
        if (set_text(&r, F_SECRET, b) != ASSET_OK)
            fail_msg("secret of %zu bytes refused", ok[i]);
        assert_int_equal(r.secret_len, ok[i]);
        assert_memory_equal(r.secret, seq_bytes, ok[i]);
        asset_req_clear(&r);
    }
    asset_req r;
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_SECRET, ""), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_SECRET, b64n(1025)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_SECRET, b64n(2000)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.has, 0);
    assert_null(r.secret);
    asset_req_clear(&r);
}

static void test_base64_strict(void **state)
{
    (void)state;
    /* one byte 'A' is "QQ==", two bytes "AB" is "QUI=", 0xfb 0xff is "+/8=" */
    const char *good[] = {"QQ==", "QUI=", "QUJD", "+/8="};
    const char *bad[] = {
        "QQ",                                                     /* unpadded */
        "QUI",                                                    /* unpadded */
        "QQ=",                                                    /* short padding */
        "QQ===",                                                  /* extra padding */
        "-_8=",                                                   /* URL-safe alphabet */
        "QQ==\n",                                                 /* whitespace */
        " QQ==",    "QQ==\r", "QQ ==", "QQ==\t", "Q Q==", "QR==", /* non-canonical trailing bits */
        "QQ==QQ==",                                               /* data after padding */
        "Q===",                                                   /* impossible length */
        "=QQ=",     "Q",      "====",  "QUJD!",  "@@@@",  "QQ=\0=",
    };
    const size_t nbad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        asset_req r;
        asset_req_init(&r);
        if (set_text(&r, F_SECRET, good[i]) != ASSET_OK)
            fail_msg("valid base64 \"%s\" refused", good[i]);
        asset_req_clear(&r);
    }
    for (size_t i = 0; i < nbad; i++) {
        asset_req r;
        const char *why = NULL;
        asset_req_init(&r);
        size_t n = i == nbad - 1 ? 5 : strlen(bad[i]); /* the last one with its NUL */
        if (asset_req_set_text(&r, F_SECRET, bad[i], n, &why) != ASSET_INVALID_ARGUMENT)
            fail_msg("invalid base64 \"%s\" accepted", bad[i]);
        assert_non_null(why);
        assert_int_equal(r.has, 0);
        assert_null(r.secret);
        asset_req_clear(&r);
        /* the same strictness for the other byte fields */
        asset_req_init(&r);
        assert_int_equal(asset_req_set_text(&r, F_AUTH_TOKEN, bad[i], n, &why),
                         ASSET_INVALID_ARGUMENT);
        assert_null(r.auth_token);
        asset_req_clear(&r);
    }
    /* decoded value */
    asset_req r;
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_SECRET, "+/8="), ASSET_OK);
    assert_int_equal(r.secret_len, 2);
    assert_int_equal(r.secret[0], 0xfb);
    assert_int_equal(r.secret[1], 0xff);
    asset_req_clear(&r);
}

static void test_challenge_and_token(void **state)
{
    (void)state;
    asset_req r;
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(31)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(33)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, ""), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.has, 0);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
    assert_memory_equal(r.challenge, seq_bytes, 32);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, ""), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(1025)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(1024)), ASSET_OK);
    assert_int_equal(r.auth_token_len, 1024);
    assert_memory_equal(r.auth_token, seq_bytes, 1024);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(1)), ASSET_OK);
    assert_int_equal(r.auth_token_len, 1);
    asset_req_clear(&r);
}

/* ---- bool, int, kinds ---- */

static void test_bools(void **state)
{
    (void)state;
    asset_req r;
    asset_req_init(&r);
    assert_int_equal(set_bool(&r, F_REQUIRE_PASSWORD_SET, true), ASSET_OK);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, false), ASSET_OK);
    assert_int_equal(set_bool(&r, F_REQUIRE_ATTR_ENCRYPTED, true), ASSET_OK);
    assert_true(r.require_password_set);
    assert_false(r.is_persistent);
    assert_true(r.attr_enc);
    assert_int_equal(r.has, FBIT(F_REQUIRE_PASSWORD_SET) | FBIT(F_IS_PERSISTENT) |
                                FBIT(F_REQUIRE_ATTR_ENCRYPTED));
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, true), ASSET_OK);
    assert_true(r.is_persistent);
    assert_false(r.require_password_set);
    assert_false(r.attr_enc);
    asset_req_clear(&r);
}

static void test_int_ranges(void **state)
{
    (void)state;
    struct {
        asset_field f;
        long long v;
        bool ok;
    } cases[] = {
        {F_AUTH_VALIDITY_PERIOD, 0, false},
        {F_AUTH_VALIDITY_PERIOD, 1, true},
        {F_AUTH_VALIDITY_PERIOD, 600, true},
        {F_AUTH_VALIDITY_PERIOD, 601, false},
        {F_AUTH_VALIDITY_PERIOD, -1, false},
        {F_LIMIT, 0, false},
        {F_LIMIT, 1, true},
        {F_LIMIT, 1000, true},
        {F_LIMIT, 1001, false},
        {F_LIMIT, -5, false},
        {F_LIMIT, 4294967297LL, false},
        {F_OFFSET, -1, false},
        {F_OFFSET, 0, true},
        {F_OFFSET, 1000000, true},
        {F_OFFSET, INT64_MIN, false},
        {F_AUTH_VALIDITY_PERIOD, INT64_MAX, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        asset_req r;
        asset_req_init(&r);
        asset_err e = set_int(&r, cases[i].f, cases[i].v);
        if ((e == ASSET_OK) != cases[i].ok)
            fail_msg("%s = %lld: got %d", asset_field_info(cases[i].f)->name, cases[i].v, e);
        if (cases[i].ok) {
            long got = cases[i].f == F_LIMIT    ? r.limit
                       : cases[i].f == F_OFFSET ? r.offset
                                                : r.auth_validity;
            assert_int_equal(got, cases[i].v);
        } else {
            assert_int_equal(r.has, 0);
        }
        asset_req_clear(&r);
    }
}

static void test_wrong_kind_refused(void **state)
{
    (void)state;
    asset_req r;
    const char *why = NULL;
    asset_req_init(&r);
    assert_int_equal(asset_req_set_int(&r, F_ALIAS, 5, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_bool(&r, F_ALIAS, true, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_bool(&r, F_LIMIT, true, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_int(&r, F_REQUIRE_PASSWORD_SET, 1, &why),
                     ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_text(&r, F_IS_PERSISTENT, "true", 4, &why),
                     ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_text(&r, F_LIMIT, "10", 2, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_text(&r, F_ACCESSIBILITY, "DEVICE_UNLOCKED", 15, &why),
                     ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_name(&r, F_ALIAS, "x", 1, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_name(&r, F_SECRET, "QQ==", 4, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_int(&r, F_COUNT, 1, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_bool(&r, (asset_field)-1, true, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_text(&r, F_COUNT, "x", 1, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(asset_req_set_name(&r, F_COUNT, "x", 1, &why), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.has, 0);
    asset_req_clear(&r);
}

/* ---- syncType set, duplicates ---- */

static void test_sync_type_set(void **state)
{
    (void)state;
    asset_req r;
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "THIS_DEVICE"), ASSET_OK);
    assert_int_equal(r.sync_type, SYNC_TRUSTED_ACCOUNT | SYNC_THIS_DEVICE);
    /* a repeated value is refused, and the set is unchanged */
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "THIS_DEVICE"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_ACCOUNT"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.sync_type, SYNC_TRUSTED_ACCOUNT | SYNC_THIS_DEVICE);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_DEVICE"), ASSET_OK);
    assert_int_equal(r.sync_type, 7);
    asset_req_clear(&r);
    /* an empty array: the field is given, the set is NEVER (0) */
    asset_req_init(&r);
    asset_req_mark(&r, F_SYNC_TYPE);
    assert_true(r.has & FBIT(F_SYNC_TYPE));
    assert_int_equal(r.sync_type, 0);
    asset_req_clear(&r);
}

static void test_duplicate_set_refused(void **state)
{
    (void)state;
    asset_req r;
    const char *why = NULL;
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_ALIAS, "first"), ASSET_OK);
    assert_int_equal(set_text(&r, F_ALIAS, "second"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.alias.n, 5);
    assert_memory_equal(r.alias.p, "first", 5);
    assert_int_equal(set_text(&r, F_SECRET, "QQ=="), ASSET_OK);
    assert_int_equal(set_text(&r, F_SECRET, "QUI="), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.secret_len, 1);
    assert_int_equal(r.secret[0], 'A');
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, "QQ=="), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, "QQ=="), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_INVALID_ARGUMENT);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, true), ASSET_OK);
    assert_int_equal(asset_req_set_bool(&r, F_IS_PERSISTENT, false, &why), ASSET_INVALID_ARGUMENT);
    assert_true(r.is_persistent);
    assert_int_equal(set_int(&r, F_LIMIT, 10), ASSET_OK);
    assert_int_equal(set_int(&r, F_LIMIT, 20), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.limit, 10);
    assert_int_equal(set_name(&r, F_ACCESSIBILITY, "DEVICE_UNLOCKED"), ASSET_OK);
    assert_int_equal(set_name(&r, F_ACCESSIBILITY, "DEVICE_POWERED_ON"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.accessibility, ACCESSIBILITY_DEVICE_UNLOCKED);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelNormal2"), ASSET_OK);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelNormal3"), ASSET_INVALID_ARGUMENT);
    assert_int_equal(r.order_by, LABEL_NORMAL + 1);
    assert_int_equal(set_text(&r, F_LABEL0 + 5, "x"), ASSET_OK);
    assert_int_equal(set_text(&r, F_LABEL0 + 5, "y"), ASSET_INVALID_ARGUMENT);
    assert_memory_equal(r.labels[5].p, "x", 1);
    asset_req_clear(&r); /* ASan: the refused duplicate secret/token leaked nothing */
}

/* ---- asset_op_fields ---- */

static uint64_t bits_of(const char *const *names)
{
    uint64_t b = 0;
    for (size_t i = 0; names[i]; i++)
        b |= FBIT(field_named(names[i]));
    return b;
}

#define LABEL_NAMES                                                                                \
    "dataLabelCritical1", "dataLabelCritical2", "dataLabelCritical3", "dataLabelCritical4",        \
        "dataLabelNormal1", "dataLabelNormal2", "dataLabelNormal3", "dataLabelNormal4",            \
        "dataLabelNormalLocal1", "dataLabelNormalLocal2", "dataLabelNormalLocal3",                 \
        "dataLabelNormalLocal4"
/* §3 "query filter: yes" */
#define FILTER_NAMES                                                                               \
    "alias", "accessibility", "requirePasswordSet", "authType", "syncType", "isPersistent",        \
        LABEL_NAMES, "requireAttrEncrypted", "groupId", "wrapType"

static void test_op_fields(void **state)
{
    (void)state;
    /* §3 "add" column */
    const char *add[] = {"secret",
                         "alias",
                         "accessibility",
                         "requirePasswordSet",
                         "authType",
                         "syncType",
                         "isPersistent",
                         LABEL_NAMES,
                         "conflictResolution",
                         "requireAttrEncrypted",
                         "groupId",
                         "wrapType",
                         NULL};
    const char *query[] = {FILTER_NAMES, "returnType", "limit", "offset",
                           "orderBy",    "cursor",     NULL};
    const char *get_one[] = {"groupId", "requireAttrEncrypted", "returnType", NULL};
    const char *sel[] = {"groupId", "requireAttrEncrypted", NULL};
    /* §4 PATCH: "secret, dataLabelNormal*, dataLabelNormalLocal* only" */
    const char *update[] = {"secret",
                            "dataLabelNormal1",
                            "dataLabelNormal2",
                            "dataLabelNormal3",
                            "dataLabelNormal4",
                            "dataLabelNormalLocal1",
                            "dataLabelNormalLocal2",
                            "dataLabelNormalLocal3",
                            "dataLabelNormalLocal4",
                            NULL};
    const char *remove[] = {FILTER_NAMES, NULL};
    const char *pre[] = {FILTER_NAMES, "authValidityPeriod", NULL};
    const char *auth_query[] = {FILTER_NAMES, "returnType", "authChallenge", "authToken", NULL};
    const char *post[] = {"authChallenge", "groupId", NULL};
    /* §4 PATCH: the asset's other query filters as extra match conditions */
    const char *match[] = {"accessibility", "requirePasswordSet", "authType", "syncType",
                           "isPersistent",  LABEL_NAMES,          "wrapType", NULL};
    const char *update_sel[] = {
        "groupId",  "requireAttrEncrypted", "accessibility", "requirePasswordSet", "authType",
        "syncType", "isPersistent",         LABEL_NAMES,     "wrapType",           NULL};
    assert_int_equal(asset_op_fields(OP_ADD), bits_of(add));
    assert_int_equal(asset_op_fields(OP_QUERY), bits_of(query));
    assert_int_equal(asset_op_fields(OP_GET_ONE), bits_of(get_one));
    assert_int_equal(asset_op_fields(OP_UPDATE_SEL), bits_of(update_sel));
    assert_int_equal(asset_op_fields(OP_UPDATE_MATCH), bits_of(match));
    assert_int_equal(asset_op_fields(OP_UPDATE), bits_of(update));
    assert_int_equal(asset_op_fields(OP_REMOVE), bits_of(remove));
    assert_int_equal(asset_op_fields(OP_REMOVE_ONE), bits_of(sel));
    assert_int_equal(asset_op_fields(OP_PRE_QUERY), bits_of(pre));
    assert_int_equal(asset_op_fields(OP_AUTH_QUERY), bits_of(auth_query));
    assert_int_equal(asset_op_fields(OP_POST_QUERY), bits_of(post));
    assert_int_equal(asset_op_fields(OP_COUNT), 0);
    /* spot checks against the spec's words */
    assert_false(asset_op_fields(OP_UPDATE) & FBIT(F_ALIAS)); /* "no (it is the key)" */
    assert_false(asset_op_fields(OP_UPDATE) & FBIT(F_LABEL0 + LABEL_CRITICAL));
    assert_false(asset_op_fields(OP_ADD) & FBIT(F_AUTH_VALIDITY_PERIOD)); /* pre-query only */
    assert_false(asset_op_fields(OP_QUERY) & FBIT(F_SECRET));
    assert_false(asset_op_fields(OP_QUERY) & FBIT(F_CONFLICT_RESOLUTION));
}

/* ---- asset_req_finish ---- */

static void test_finish_add_required_and_defaults(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "secret");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_SECRET, "QQ=="), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "alias");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);

    base_add(&r);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_OK);
    assert_null(field);
    /* §3 defaults */
    assert_int_equal(r.accessibility, ACCESSIBILITY_DEVICE_FIRST_UNLOCKED);
    assert_false(r.require_password_set);
    assert_int_equal(r.auth_type, AUTH_TYPE_NONE);
    assert_int_equal(r.sync_type, 0);
    assert_false(r.is_persistent);
    assert_int_equal(r.conflict, CONFLICT_THROW_ERROR);
    assert_false(r.attr_enc);
    assert_int_equal(r.wrap_type, WRAP_NEVER);
    for (int i = 0; i < ASSET_LABELS; i++)
        assert_null(r.labels[i].p);
    asset_req_clear(&r);

    /* given values are kept */
    base_add(&r);
    assert_int_equal(set_name(&r, F_ACCESSIBILITY, "DEVICE_POWERED_ON"), ASSET_OK);
    assert_int_equal(set_name(&r, F_CONFLICT_RESOLUTION, "OVERWRITE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, NULL), ASSET_OK);
    assert_int_equal(r.accessibility, ACCESSIBILITY_DEVICE_POWERED_ON);
    assert_int_equal(r.conflict, CONFLICT_OVERWRITE);
    asset_req_clear(&r);
}

static void test_finish_add_unsupported(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    const char *group = "com.example.group";

    /* isPersistent true + groupId: the Kit's argument check (INVALID_ARGUMENT) */
    base_add(&r);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, true), ASSET_OK);
    assert_int_equal(set_text(&r, F_GROUP_ID, group), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_INVALID_ARGUMENT);
    assert_non_null(field);
    asset_req_clear(&r);
    /* isPersistent false + groupId is fine */
    base_add(&r);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, false), ASSET_OK);
    assert_int_equal(set_text(&r, F_GROUP_ID, group), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_OK);
    asset_req_clear(&r);
    /* groupId + syncType containing TRUSTED_ACCOUNT */
    base_add(&r);
    assert_int_equal(set_text(&r, F_GROUP_ID, group), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "THIS_DEVICE"), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_UNSUPPORTED);
    assert_non_null(field);
    asset_req_clear(&r);
    /* groupId + other sync bits is fine */
    base_add(&r);
    assert_int_equal(set_text(&r, F_GROUP_ID, group), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "THIS_DEVICE"), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_DEVICE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_OK);
    asset_req_clear(&r);
    /* TRUSTED_ACCOUNT sync without a group is fine */
    base_add(&r);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_OK);
    asset_req_clear(&r);
    /* wrapType TRUSTED_ACCOUNT + syncType TRUSTED_ACCOUNT */
    base_add(&r);
    assert_int_equal(set_name(&r, F_WRAP_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_UNSUPPORTED);
    assert_non_null(field);
    asset_req_clear(&r);
    /* wrapType TRUSTED_ACCOUNT with other sync bits is fine */
    base_add(&r);
    assert_int_equal(set_name(&r, F_WRAP_TYPE, "TRUSTED_ACCOUNT"), ASSET_OK);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "TRUSTED_DEVICE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, &field), ASSET_OK);
    assert_int_equal(r.wrap_type, WRAP_TRUSTED_ACCOUNT);
    asset_req_clear(&r);
}

static void test_finish_query(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    /* defaults */
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_OK);
    assert_int_equal(r.return_type, RETURN_ATTRIBUTES);
    assert_int_equal(r.limit, 100);
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.order_by, -1);
    asset_req_clear(&r);
    /* returnType ALL without alias */
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_RETURN_TYPE, "ALL"), ASSET_OK);
    assert_int_equal(set_text(&r, F_LABEL0, "x"), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_UNSUPPORTED);
    assert_string_equal(field, "returnType");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_RETURN_TYPE, "ALL"), ASSET_OK);
    assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_OK);
    assert_int_equal(r.return_type, RETURN_ALL);
    asset_req_clear(&r);
    /* GET /assets/{alias}: the alias comes from the path, ALL is fine */
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_RETURN_TYPE, "ALL"), ASSET_OK);
    assert_int_equal(finish(&r, OP_GET_ONE, &field), ASSET_OK);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_GET_ONE, &field), ASSET_OK);
    assert_int_equal(r.return_type, RETURN_ATTRIBUTES);
    asset_req_clear(&r);
    /* cursor + offset */
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_CURSOR, "abc"), ASSET_OK);
    assert_int_equal(set_int(&r, F_OFFSET, 0), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_PARAM_VERIFICATION_FAILED);
    assert_non_null(field);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_CURSOR, "abc"), ASSET_OK);
    assert_int_equal(set_int(&r, F_LIMIT, 5), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_OK);
    assert_int_equal(r.limit, 5);
    asset_req_clear(&r);
    /* orderBy + requireAttrEncrypted */
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelNormal1"), ASSET_OK);
    assert_int_equal(set_bool(&r, F_REQUIRE_ATTR_ENCRYPTED, true), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_UNSUPPORTED);
    assert_string_equal(field, "orderBy");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelNormal1"), ASSET_OK);
    assert_int_equal(set_bool(&r, F_REQUIRE_ATTR_ENCRYPTED, false), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_OK);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelCritical1"), ASSET_OK);
    assert_int_equal(finish(&r, OP_QUERY, &field), ASSET_OK);
    assert_int_equal(r.order_by, 0); /* slot 0 is a valid order, not "none" */
    asset_req_clear(&r);
}

static void test_finish_update_remove(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_UPDATE, &field), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_SECRET, "QQ=="), ASSET_OK);
    assert_int_equal(finish(&r, OP_UPDATE, &field), ASSET_OK);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_LABEL0 + LABEL_LOCAL, "l"), ASSET_OK);
    assert_int_equal(finish(&r, OP_UPDATE, &field), ASSET_OK);
    asset_req_clear(&r);

    /* remove: at least one filter besides the selectors */
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_GROUP_ID, "com.example.group"), ASSET_OK);
    assert_int_equal(set_bool(&r, F_REQUIRE_ATTR_ENCRYPTED, true), ASSET_OK);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_bool(&r, F_REQUIRE_ATTR_ENCRYPTED, false), ASSET_OK);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    const char *filters[] = {"alias", "dataLabelNormal2", "dataLabelCritical4"};
    for (size_t i = 0; i < 3; i++) {
        asset_req_init(&r);
        assert_int_equal(set_text(&r, field_named(filters[i]), "x"), ASSET_OK);
        assert_int_equal(set_text(&r, F_GROUP_ID, "com.example.group"), ASSET_OK);
        assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_OK);
        asset_req_clear(&r);
    }
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_SYNC_TYPE, "THIS_DEVICE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_OK);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_bool(&r, F_IS_PERSISTENT, false), ASSET_OK);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_OK);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_AUTH_TYPE, "NONE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_REMOVE, &field), ASSET_OK);
    asset_req_clear(&r);
}

static void test_finish_auth_flow(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    /* pre-query: authType NONE refused, ANY or absent fine, validity default 60 */
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_AUTH_TYPE, "NONE"), ASSET_OK);
    assert_int_equal(finish(&r, OP_PRE_QUERY, &field), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "authType");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_name(&r, F_AUTH_TYPE, "ANY"), ASSET_OK);
    assert_int_equal(finish(&r, OP_PRE_QUERY, &field), ASSET_OK);
    assert_int_equal(r.auth_validity, 60);
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_int(&r, F_AUTH_VALIDITY_PERIOD, 600), ASSET_OK);
    assert_int_equal(finish(&r, OP_PRE_QUERY, &field), ASSET_OK);
    assert_int_equal(r.auth_validity, 600);
    asset_req_clear(&r);

    /* POST /assets/query: returnType default ALL; alias, challenge and token required */
    const char *need[] = {"alias", "authChallenge", "authToken"};
    for (int skip = 0; skip < 3; skip++) {
        asset_req_init(&r);
        if (skip != 0)
            assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
        if (skip != 1)
            assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
        if (skip != 2)
            assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(64)), ASSET_OK);
        assert_int_equal(finish(&r, OP_AUTH_QUERY, &field), ASSET_INVALID_ARGUMENT);
        assert_string_equal(field, need[skip]);
        asset_req_clear(&r);
    }
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(64)), ASSET_OK);
    assert_int_equal(finish(&r, OP_AUTH_QUERY, &field), ASSET_OK);
    assert_int_equal(r.return_type, RETURN_ALL);
    asset_req_clear(&r);

    /* post-query: challenge required */
    asset_req_init(&r);
    assert_int_equal(finish(&r, OP_POST_QUERY, &field), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "authChallenge");
    asset_req_clear(&r);
    asset_req_init(&r);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
    assert_int_equal(finish(&r, OP_POST_QUERY, &field), ASSET_OK);
    asset_req_clear(&r);
}

/* ---- init / clear ---- */

static void test_init_and_clear(void **state)
{
    (void)state;
    asset_req r;
    memset(&r, 0xa5, sizeof r);
    asset_req_init(&r);
    assert_int_equal(r.has, 0);
    assert_int_equal(r.order_by, -1);
    assert_null(r.secret);
    assert_null(r.auth_token);
    assert_null(r.alias.p);

    assert_int_equal(set_text(&r, F_SECRET, b64n(1024)), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_TOKEN, b64n(100)), ASSET_OK);
    assert_int_equal(set_text(&r, F_AUTH_CHALLENGE, b64n(32)), ASSET_OK);
    assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
    assert_int_equal(set_name(&r, F_ORDER_BY, "dataLabelNormal1"), ASSET_OK);
    asset_req_clear(&r);
    /* wiped back to the initial state; the buffers are freed (ASan reports leaks) */
    asset_req z;
    asset_req_init(&z);
    assert_memory_equal(&r, &z, sizeof r);
    unsigned char zeros[ASSET_CHALLENGE_LEN] = {0};
    assert_memory_equal(r.challenge, zeros, sizeof zeros);
    /* clearing twice, or an untouched request, is safe */
    asset_req_clear(&r);
    asset_req_clear(&z);
    /* reusable after clear */
    assert_int_equal(set_text(&r, F_SECRET, "QQ=="), ASSET_OK);
    assert_int_equal(set_text(&r, F_ALIAS, "a"), ASSET_OK);
    assert_int_equal(finish(&r, OP_ADD, NULL), ASSET_OK);
    asset_req_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_table_matches_spec),
        cmocka_unit_test(test_bytes_field_tags),
        cmocka_unit_test(test_field_by_name_exact),
        cmocka_unit_test(test_enum_names_and_values),
        cmocka_unit_test(test_enum_rejects_unknown_names),
        cmocka_unit_test(test_text_lengths),
        cmocka_unit_test(test_text_stores_value),
        cmocka_unit_test(test_text_utf8_and_nul),
        cmocka_unit_test(test_secret_lengths),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_challenge_and_token),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_int_ranges),
        cmocka_unit_test(test_wrong_kind_refused),
        cmocka_unit_test(test_sync_type_set),
        cmocka_unit_test(test_duplicate_set_refused),
        cmocka_unit_test(test_op_fields),
        cmocka_unit_test(test_finish_add_required_and_defaults),
        cmocka_unit_test(test_finish_add_unsupported),
        cmocka_unit_test(test_finish_query),
        cmocka_unit_test(test_finish_update_remove),
        cmocka_unit_test(test_finish_auth_flow),
        cmocka_unit_test(test_init_and_clear),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
