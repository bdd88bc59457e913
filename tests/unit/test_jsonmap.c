/* test_jsonmap: JSON bodies and query strings -> asset_req (spec §3 "rules that apply to every
 * body and query string"), and domain results -> JSON (the asset's output shape, the device,
 * RFC 3339 times). */
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

#include "../../api/jsonmap.h"

/* ---- helpers ---- */

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", text, err.text);
    return j;
}

/* Maps body under op; returns the code, and the named field (copied) in field_out. */
static asset_err from_json(asset_req *r, asset_op op, const char *body, char *field_out)
{
    json_t *j = parse(body);
    const char *field = NULL, *why = NULL;
    asset_req_init(r);
    asset_err e = jsonmap_req_from_json(r, op, j, &field, &why);
    if (e != ASSET_OK)
        assert_non_null(why);
    else
        assert_null(field);
    snprintf(field_out, 64, "%s", field ? field : "(null)");
    /* text in r borrows from j: keep j alive only as long as the caller needs r. Tests that
     * read borrowed text use from_json_keep. */
    json_decref(j);
    return e;
}

static void expect_json_err(asset_op op, const char *body, asset_err want, const char *field)
{
    asset_req r;
    char f[64];
    asset_err e = from_json(&r, op, body, f);
    if (e != want)
        fail_msg("%s: got %s, want %s", body, asset_err_name(e), asset_err_name(want));
    if (field && strcmp(f, field) != 0)
        fail_msg("%s: names field \"%s\", want \"%s\"", body, f, field);
    asset_req_clear(&r);
}

static void expect_json_ok(asset_op op, const char *body)
{
    asset_req r;
    char f[64];
    asset_err e = from_json(&r, op, body, f);
    if (e != ASSET_OK)
        fail_msg("%s: refused (%s, field %s)", body, asset_err_name(e), f);
    asset_req_clear(&r);
}

/* Query-string arguments from "k=v" strings (already percent-decoded). */
typedef struct {
    http_arg a[16];
    int n;
    char buf[16][256];
} args_t;

static void args_add(args_t *x, const char *k, const char *v, size_t vlen)
{
    http_arg *a = &x->a[x->n];
    size_t kl = strlen(k);
    memcpy(x->buf[x->n], k, kl + 1);
    memcpy(x->buf[x->n] + kl + 1, v, vlen);
    x->buf[x->n][kl + 1 + vlen] = 0;
    a->key = x->buf[x->n];
    a->key_len = kl;
    a->val = x->buf[x->n] + kl + 1;
    a->val_len = vlen;
    x->n++;
}

static asset_err from_args1(asset_req *r, asset_op op, const char *k, const char *v,
                            const char **field)
{
    static args_t x;
    const char *why = NULL;
    memset(&x, 0, sizeof x);
    args_add(&x, k, v, strlen(v));
    asset_req_init(r);
    asset_err e = jsonmap_req_from_args(r, op, x.a, x.n, field, &why);
    if (e != ASSET_OK)
        assert_non_null(why);
    return e;
}

static void expect_arg(asset_op op, const char *k, const char *v, asset_err want)
{
    asset_req r;
    const char *field = NULL;
    asset_err e = from_args1(&r, op, k, v, &field);
    if (e != want)
        fail_msg("%s=%s: got %s, want %s", k, v, asset_err_name(e), asset_err_name(want));
    if (want != ASSET_OK)
        assert_string_equal(field, k);
    asset_req_clear(&r);
}

/* ---- JSON bodies ---- */

static void test_json_full_add(void **state)
{
    (void)state;
    json_t *j = parse("{\"secret\": \"c2VjcmV0\", \"alias\": \"my-alias\", "
                      "\"accessibility\": \"DEVICE_UNLOCKED\", \"requirePasswordSet\": true, "
                      "\"authType\": \"ANY\", \"syncType\": [\"TRUSTED_DEVICE\", \"THIS_DEVICE\"], "
                      "\"isPersistent\": false, \"dataLabelCritical2\": \"c2\", "
                      "\"dataLabelNormal1\": \"n1\", \"dataLabelNormalLocal4\": \"l4\", "
                      "\"conflictResolution\": \"OVERWRITE\", \"requireAttrEncrypted\": true, "
                      "\"groupId\": \"com.example.group\", \"wrapType\": \"TRUSTED_ACCOUNT\"}");
    asset_req r;
    const char *field = NULL, *why = NULL;
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_json(&r, OP_ADD, j, &field, &why), ASSET_OK);
    assert_null(field);
    assert_int_equal(r.secret_len, 6);
    assert_memory_equal(r.secret, "secret", 6);
    assert_int_equal(r.alias.n, 8);
    assert_memory_equal(r.alias.p, "my-alias", 8);
    assert_int_equal(r.accessibility, ACCESSIBILITY_DEVICE_UNLOCKED);
    assert_true(r.require_password_set);
    assert_int_equal(r.auth_type, AUTH_TYPE_ANY);
    assert_int_equal(r.sync_type, SYNC_THIS_DEVICE | SYNC_TRUSTED_DEVICE);
    assert_false(r.is_persistent);
    assert_true(r.has & FBIT(F_IS_PERSISTENT));
    assert_memory_equal(r.labels[LABEL_CRITICAL + 1].p, "c2", 2);
    assert_memory_equal(r.labels[LABEL_NORMAL + 0].p, "n1", 2);
    assert_memory_equal(r.labels[LABEL_LOCAL + 3].p, "l4", 2);
    assert_null(r.labels[LABEL_CRITICAL].p);
    assert_int_equal(r.conflict, CONFLICT_OVERWRITE);
    assert_true(r.attr_enc);
    assert_memory_equal(r.group.p, "com.example.group", 17);
    assert_int_equal(r.wrap_type, WRAP_TRUSTED_ACCOUNT);
    assert_int_equal(asset_req_finish(&r, OP_ADD, &field, &why), ASSET_OK);
    asset_req_clear(&r);
    json_decref(j);
}

static void test_json_unknown_or_foreign_field(void **state)
{
    (void)state;
    expect_json_err(OP_ADD, "{\"secret\": \"QQ==\", \"bogus\": 1}", ASSET_INVALID_ARGUMENT,
                    "bogus");
    expect_json_err(OP_ADD, "{\"Alias\": \"x\"}", ASSET_INVALID_ARGUMENT, "Alias");
    expect_json_err(OP_ADD, "{\"updateTime\": \"2024-01-01T00:00:00.000Z\"}",
                    ASSET_INVALID_ARGUMENT, "updateTime");
    /* fields an operation does not take are INVALID_ARGUMENT (spec §5 UNSUPPORTED note) */
    expect_json_err(OP_ADD, "{\"authValidityPeriod\": 60}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_ADD, "{\"returnType\": \"ALL\"}", ASSET_INVALID_ARGUMENT, "returnType");
    expect_json_err(OP_UPDATE, "{\"alias\": \"x\"}", ASSET_INVALID_ARGUMENT, "alias");
    expect_json_err(OP_UPDATE, "{\"dataLabelCritical1\": \"x\"}", ASSET_INVALID_ARGUMENT,
                    "dataLabelCritical1");
    expect_json_err(OP_UPDATE, "{\"accessibility\": \"DEVICE_POWERED_ON\"}", ASSET_INVALID_ARGUMENT,
                    "accessibility");
    expect_json_err(OP_UPDATE, "{\"groupId\": \"com.example.group\"}", ASSET_INVALID_ARGUMENT,
                    "groupId");
    expect_json_err(OP_PRE_QUERY, "{\"secret\": \"QQ==\"}", ASSET_INVALID_ARGUMENT, "secret");
    expect_json_err(OP_PRE_QUERY, "{\"limit\": 5}", ASSET_INVALID_ARGUMENT, "limit");
    expect_json_err(OP_POST_QUERY, "{\"alias\": \"a\"}", ASSET_INVALID_ARGUMENT, "alias");
    expect_json_ok(OP_UPDATE, "{\"secret\": \"QQ==\", \"dataLabelNormal4\": \"n\", "
                              "\"dataLabelNormalLocal1\": \"l\"}");
    expect_json_ok(OP_PRE_QUERY, "{\"alias\": \"a\", \"authValidityPeriod\": 600}");
    /* not an object */
    expect_json_err(OP_ADD, "[]", ASSET_INVALID_ARGUMENT, "body");
    expect_json_err(OP_ADD, "\"alias\"", ASSET_INVALID_ARGUMENT, "body");
    expect_json_err(OP_ADD, "null", ASSET_INVALID_ARGUMENT, "body");
    /* an empty object maps (finish decides what is required) */
    expect_json_ok(OP_ADD, "{}");
}

static void test_json_wrong_types(void **state)
{
    (void)state;
    struct {
        const char *body, *field;
    } cases[] = {
        {"{\"alias\": 5}", "alias"},
        {"{\"alias\": null}", "alias"},
        {"{\"alias\": [\"a\"]}", "alias"},
        {"{\"alias\": {\"a\": 1}}", "alias"},
        {"{\"alias\": true}", "alias"},
        {"{\"secret\": 12}", "secret"},
        {"{\"secret\": [1, 2]}", "secret"},
        {"{\"requirePasswordSet\": \"true\"}", "requirePasswordSet"},
        {"{\"requirePasswordSet\": 1}", "requirePasswordSet"},
        {"{\"isPersistent\": null}", "isPersistent"},
        {"{\"accessibility\": 2}", "accessibility"},
        {"{\"authType\": 255}", "authType"},
        {"{\"authType\": null}", "authType"},
        {"{\"syncType\": \"THIS_DEVICE\"}", "syncType"},
        {"{\"syncType\": 1}", "syncType"},
        {"{\"syncType\": [1]}", "syncType"},
        {"{\"syncType\": [\"THIS_DEVICE\", null]}", "syncType"},
        {"{\"syncType\": [[\"THIS_DEVICE\"]]}", "syncType"},
        {"{\"syncType\": null}", "syncType"},
        {"{\"conflictResolution\": true}", "conflictResolution"},
        {"{\"groupId\": 1234567}", "groupId"},
        {"{\"dataLabelNormal1\": 1}", "dataLabelNormal1"},
        {"{\"wrapType\": 0}", "wrapType"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_json_err(OP_ADD, cases[i].body, ASSET_INVALID_ARGUMENT, cases[i].field);
    /* integers: a real, a string or a bool is not an integer */
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": 60.0}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": \"60\"}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": true}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": 0}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": 601}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": -1}", ASSET_INVALID_ARGUMENT,
                    "authValidityPeriod");
    expect_json_err(OP_PRE_QUERY, "{\"authValidityPeriod\": 9223372036854775807}",
                    ASSET_INVALID_ARGUMENT, "authValidityPeriod");
    /* values out of range or malformed are named too */
    expect_json_err(OP_ADD, "{\"alias\": \"\"}", ASSET_INVALID_ARGUMENT, "alias");
    expect_json_err(OP_ADD, "{\"groupId\": \"short\"}", ASSET_INVALID_ARGUMENT, "groupId");
    expect_json_err(OP_ADD, "{\"secret\": \"QQ\"}", ASSET_INVALID_ARGUMENT, "secret");
    expect_json_err(OP_ADD, "{\"accessibility\": \"device_unlocked\"}", ASSET_INVALID_ARGUMENT,
                    "accessibility");
}

static void test_json_nul_in_text(void **state)
{
    (void)state;
    /* Jansson can hold "a\0b" (JSON_ALLOW_NUL); the mapping must still refuse it */
    json_t *j = json_object();
    json_object_set_new(j, "alias", json_stringn("a\0b", 3));
    asset_req r;
    const char *field = NULL, *why = NULL;
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_json(&r, OP_ADD, j, &field, &why), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "alias");
    asset_req_clear(&r);
    json_decref(j);
    /* invalid UTF-8 from a JSON string built by hand */
    j = json_object();
    json_object_set_new(j, "dataLabelNormal1", json_stringn_nocheck("\xc3\x28", 2));
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_json(&r, OP_ADD, j, &field, &why), ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "dataLabelNormal1");
    asset_req_clear(&r);
    json_decref(j);
}

static void test_json_sync_type(void **state)
{
    (void)state;
    asset_req r;
    char f[64];
    /* [] is NEVER for add: given, empty set */
    assert_int_equal(from_json(&r, OP_ADD, "{\"syncType\": []}", f), ASSET_OK);
    assert_true(r.has & FBIT(F_SYNC_TYPE));
    assert_int_equal(r.sync_type, 0);
    asset_req_clear(&r);
    assert_int_equal(from_json(&r, OP_ADD,
                               "{\"syncType\": [\"TRUSTED_ACCOUNT\", \"THIS_DEVICE\", "
                               "\"TRUSTED_DEVICE\"]}",
                               f),
                     ASSET_OK);
    assert_int_equal(r.sync_type, 7);
    asset_req_clear(&r);
    /* as a filter an empty array matches everything: refused */
    expect_json_err(OP_PRE_QUERY, "{\"syncType\": []}", ASSET_INVALID_ARGUMENT, "syncType");
    expect_json_err(OP_AUTH_QUERY, "{\"syncType\": []}", ASSET_INVALID_ARGUMENT, "syncType");
    assert_int_equal(from_json(&r, OP_PRE_QUERY, "{\"syncType\": [\"TRUSTED_DEVICE\"]}", f),
                     ASSET_OK);
    assert_int_equal(r.sync_type, SYNC_TRUSTED_DEVICE);
    asset_req_clear(&r);
    /* repeated or unknown values */
    expect_json_err(OP_ADD, "{\"syncType\": [\"THIS_DEVICE\", \"THIS_DEVICE\"]}",
                    ASSET_INVALID_ARGUMENT, "syncType");
    expect_json_err(OP_ADD, "{\"syncType\": [\"NEVER\"]}", ASSET_INVALID_ARGUMENT, "syncType");
    expect_json_err(OP_ADD, "{\"syncType\": [\"this_device\"]}", ASSET_INVALID_ARGUMENT,
                    "syncType");
    expect_json_err(OP_ADD, "{\"syncType\": [\"\"]}", ASSET_INVALID_ARGUMENT, "syncType");
}

/* ---- query strings ---- */

static void test_args_bools(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    assert_int_equal(from_args1(&r, OP_QUERY, "requireAttrEncrypted", "true", &field), ASSET_OK);
    assert_true(r.attr_enc);
    asset_req_clear(&r);
    assert_int_equal(from_args1(&r, OP_QUERY, "isPersistent", "false", &field), ASSET_OK);
    assert_false(r.is_persistent);
    assert_true(r.has & FBIT(F_IS_PERSISTENT));
    asset_req_clear(&r);
    const char *bad[] = {"",  "1", "0",     "TRUE",  "True",  "yes",  "on",
                         "t", "f", " true", "true ", "truee", "fals", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_arg(OP_QUERY, "requirePasswordSet", bad[i], ASSET_INVALID_ARGUMENT);
        expect_arg(OP_REMOVE, "requireAttrEncrypted", bad[i], ASSET_INVALID_ARGUMENT);
    }
    /* "true" followed by a NUL is not "true" */
    args_t x;
    const char *why = NULL;
    memset(&x, 0, sizeof x);
    args_add(&x, "isPersistent", "true\0", 5);
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why),
                     ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
}

static void test_args_ints(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    assert_int_equal(from_args1(&r, OP_QUERY, "limit", "1000", &field), ASSET_OK);
    assert_int_equal(r.limit, 1000);
    asset_req_clear(&r);
    assert_int_equal(from_args1(&r, OP_QUERY, "limit", "007", &field), ASSET_OK);
    assert_int_equal(r.limit, 7);
    asset_req_clear(&r);
    assert_int_equal(from_args1(&r, OP_QUERY, "offset", "0", &field), ASSET_OK);
    assert_int_equal(r.offset, 0);
    assert_true(r.has & FBIT(F_OFFSET));
    asset_req_clear(&r);
    assert_int_equal(from_args1(&r, OP_QUERY, "offset", "123456", &field), ASSET_OK);
    assert_int_equal(r.offset, 123456);
    asset_req_clear(&r);
    const char *bad_limit[] = {"",    "0",   "1001", "-1",  "+1",  " 1",          "1 ",
                               "1.0", "1e2", "0x10", "ten", "1,2", "99999999999", "１"};
    for (size_t i = 0; i < sizeof bad_limit / sizeof bad_limit[0]; i++)
        expect_arg(OP_QUERY, "limit", bad_limit[i], ASSET_INVALID_ARGUMENT);
    const char *bad_offset[] = {"-1", "", "+0", "1.5", "99999999999999999999", "4294967296"};
    for (size_t i = 0; i < sizeof bad_offset / sizeof bad_offset[0]; i++)
        expect_arg(OP_QUERY, "offset", bad_offset[i], ASSET_INVALID_ARGUMENT);
}

static void test_args_sync_list(void **state)
{
    (void)state;
    asset_req r;
    const char *field = NULL;
    assert_int_equal(from_args1(&r, OP_QUERY, "syncType", "THIS_DEVICE,TRUSTED_ACCOUNT", &field),
                     ASSET_OK);
    assert_int_equal(r.sync_type, SYNC_THIS_DEVICE | SYNC_TRUSTED_ACCOUNT);
    assert_true(r.has & FBIT(F_SYNC_TYPE));
    asset_req_clear(&r);
    assert_int_equal(from_args1(&r, OP_REMOVE, "syncType", "TRUSTED_DEVICE", &field), ASSET_OK);
    assert_int_equal(r.sync_type, SYNC_TRUSTED_DEVICE);
    asset_req_clear(&r);
    const char *bad[] = {"",
                         ",",
                         "THIS_DEVICE,",
                         ",THIS_DEVICE",
                         "THIS_DEVICE,,TRUSTED_DEVICE",
                         "THIS_DEVICE, TRUSTED_DEVICE",
                         "THIS_DEVICE,THIS_DEVICE",
                         "this_device",
                         "NEVER",
                         "THIS_DEVICE;TRUSTED_DEVICE"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_arg(OP_QUERY, "syncType", bad[i], ASSET_INVALID_ARGUMENT);
}

static void test_args_names_and_duplicates(void **state)
{
    (void)state;
    expect_arg(OP_QUERY, "bogus", "1", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_QUERY, "secret", "QQ==", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_QUERY, "conflictResolution", "OVERWRITE", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_GET_ONE, "alias", "a", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_GET_ONE, "limit", "5", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_UPDATE_SEL, "returnType", "ALL", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_REMOVE, "limit", "5", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_REMOVE_ONE, "dataLabelNormal1", "x", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_GET_ONE, "groupId", "com.example.group", ASSET_OK);
    expect_arg(OP_UPDATE_SEL, "requireAttrEncrypted", "true", ASSET_OK);
    expect_arg(OP_QUERY, "orderBy", "dataLabelNormal2", ASSET_OK);
    expect_arg(OP_QUERY, "orderBy", "alias", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_QUERY, "returnType", "all", ASSET_INVALID_ARGUMENT);
    expect_arg(OP_QUERY, "cursor", "", ASSET_INVALID_ARGUMENT);
    /* the key's length is honoured: "aliasx" cut to... no: the whole key must match */
    args_t x;
    asset_req r;
    const char *field = NULL, *why = NULL;
    memset(&x, 0, sizeof x);
    args_add(&x, "alias", "a", 1);
    args_add(&x, "dataLabelNormal1", "n", 1);
    args_add(&x, "alias", "b", 1);
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why),
                     ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "alias");
    asset_req_clear(&r);
    /* syncType repeated as two parameters is a duplicate, even with different values */
    memset(&x, 0, sizeof x);
    args_add(&x, "syncType", "THIS_DEVICE", 11);
    args_add(&x, "syncType", "TRUSTED_DEVICE", 14);
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why),
                     ASSET_INVALID_ARGUMENT);
    assert_string_equal(field, "syncType");
    asset_req_clear(&r);
    /* a NUL inside a decoded value (from %00) is refused for text */
    memset(&x, 0, sizeof x);
    args_add(&x, "alias", "a\0b", 3);
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why),
                     ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    /* a key with a NUL inside is not a field name */
    memset(&x, 0, sizeof x);
    args_add(&x, "alias", "a", 1);
    x.a[0].key_len = 6; /* "alias\0" */
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why),
                     ASSET_INVALID_ARGUMENT);
    asset_req_clear(&r);
    /* a complete, valid query string */
    memset(&x, 0, sizeof x);
    args_add(&x, "groupId", "com.example.group", 17);
    args_add(&x, "requireAttrEncrypted", "false", 5);
    args_add(&x, "dataLabelNormal1", "n 1", 3);
    args_add(&x, "limit", "10", 2);
    args_add(&x, "orderBy", "dataLabelNormal1", 16);
    args_add(&x, "authType", "ANY", 3);
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, x.n, &field, &why), ASSET_OK);
    assert_null(field);
    assert_int_equal(r.limit, 10);
    assert_int_equal(r.order_by, LABEL_NORMAL);
    assert_int_equal(r.auth_type, AUTH_TYPE_ANY);
    assert_memory_equal(r.labels[LABEL_NORMAL].p, "n 1", 3);
    assert_int_equal(asset_req_finish(&r, OP_QUERY, &field, &why), ASSET_OK);
    asset_req_clear(&r);
    /* no arguments at all */
    asset_req_init(&r);
    assert_int_equal(jsonmap_req_from_args(&r, OP_QUERY, x.a, 0, &field, &why), ASSET_OK);
    assert_int_equal(r.has, 0);
    asset_req_clear(&r);
}

/* ---- output ---- */

static void check_time_format(const char *t)
{
    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(strlen(t), 24);
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++) {
        if (pat[i] == 'd') {
            if (t[i] < '0' || t[i] > '9')
                fail_msg("\"%s\" is not RFC 3339 with milliseconds", t);
        } else if (t[i] != pat[i]) {
            fail_msg("\"%s\" is not RFC 3339 with milliseconds", t);
        }
    }
}

static void test_time(void **state)
{
    (void)state;
    char out[64];
    jsonmap_time(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    jsonmap_time(out, 1700000000123LL);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    jsonmap_time(out, 951782400005LL);
    assert_string_equal(out, "2000-02-29T00:00:00.005Z");
    jsonmap_time(out, 253402300799999LL);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    jsonmap_time(out, 1000);
    assert_string_equal(out, "1970-01-01T00:00:01.000Z");
    jsonmap_time(out, 1700000000999LL);
    check_time_format(out);
}

typedef struct {
    asset_out o;
    char alias[16];
    char owner[32];
} out_buf;

static void out_init(out_buf *b)
{
    memset(b, 0, sizeof *b);
    memcpy(b->alias, "alias-XYZ", 9); /* only the first 7 bytes are the alias */
    strcpy(b->owner, "com.example.app");
    b->o.rec.alias = (asset_text){b->alias, 7};
    b->o.rec.owner = (asset_text){b->owner, strlen(b->owner)};
    b->o.rec.accessibility = ACCESSIBILITY_DEVICE_FIRST_UNLOCKED;
    b->o.rec.auth_type = AUTH_TYPE_NONE;
    b->o.rec.wrap_type = WRAP_NEVER;
    b->o.rec.update_ms = 1700000000123LL;
    b->o.rec.seq = 42;
    b->o.rec.key_version = 3;
}

static const char *str_of(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string in the output", k);
    return json_string_value(v);
}

static void test_asset_output_minimal(void **state)
{
    (void)state;
    out_buf b;
    out_init(&b);
    json_t *j = jsonmap_asset(&b.o);
    assert_non_null(j);
    /* exactly the §3 "returned: yes" fields that are always there */
    const char *always[] = {
        "alias",        "accessibility", "requirePasswordSet",   "authType",  "syncType",
        "isPersistent", "wrapType",      "requireAttrEncrypted", "updateTime"};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (!json_object_get(j, always[i]))
            fail_msg("\"%s\" missing from the output", always[i]);
    assert_int_equal(json_object_size(j), sizeof always / sizeof always[0]);
    assert_string_equal(str_of(j, "alias"), "alias-X");
    assert_string_equal(str_of(j, "accessibility"), "DEVICE_FIRST_UNLOCKED");
    assert_true(json_is_false(json_object_get(j, "requirePasswordSet")));
    assert_string_equal(str_of(j, "authType"), "NONE");
    assert_true(json_is_array(json_object_get(j, "syncType")));
    assert_int_equal(json_array_size(json_object_get(j, "syncType")), 0);
    assert_true(json_is_false(json_object_get(j, "isPersistent")));
    assert_true(json_is_false(json_object_get(j, "requireAttrEncrypted")));
    assert_string_equal(str_of(j, "wrapType"), "NEVER");
    assert_string_equal(str_of(j, "updateTime"), "2023-11-14T22:13:20.123Z");
    /* never returned */
    const char *never[] = {"secret", "groupId", "conflictResolution", "authValidityPeriod",
                           "owner",  "seq",     "keyVersion"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        assert_null(json_object_get(j, never[i]));
    json_decref(j);
}

static void test_asset_output_full(void **state)
{
    (void)state;
    out_buf b;
    out_init(&b);
    const unsigned char secret[] = {0xfb, 0xff, 0x00, 'x'};
    b.o.rec.accessibility = ACCESSIBILITY_DEVICE_UNLOCKED;
    b.o.rec.require_password_set = true;
    b.o.rec.auth_type = AUTH_TYPE_ANY;
    b.o.rec.sync_type = SYNC_TRUSTED_ACCOUNT | SYNC_THIS_DEVICE | SYNC_TRUSTED_DEVICE;
    b.o.rec.is_persistent = true;
    b.o.rec.attr_enc = true;
    b.o.rec.wrap_type = WRAP_TRUSTED_ACCOUNT;
    b.o.rec.owner_kind = 1;
    b.o.has_group = true;
    strcpy(b.owner, "com.example.group");
    b.o.rec.owner = (asset_text){b.owner, strlen(b.owner)};
    b.o.rec.labels[LABEL_CRITICAL + 0] = (asset_text){"crit1", 5};
    b.o.rec.labels[LABEL_NORMAL + 3] = (asset_text){"norm4-extra", 5};
    b.o.rec.labels[LABEL_LOCAL + 1] = (asset_text){"\xc3\xa9t\xc3\xa9", 5};
    b.o.secret = secret;
    b.o.secret_len = sizeof secret;
    json_t *j = jsonmap_asset(&b.o);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 9 + 1 /* groupId */ + 3 /* labels */ + 1 /* secret */);
    assert_string_equal(str_of(j, "accessibility"), "DEVICE_UNLOCKED");
    assert_true(json_is_true(json_object_get(j, "requirePasswordSet")));
    assert_string_equal(str_of(j, "authType"), "ANY");
    json_t *sync = json_object_get(j, "syncType");
    assert_int_equal(json_array_size(sync), 3);
    /* bit order: THIS_DEVICE (1), TRUSTED_DEVICE (2), TRUSTED_ACCOUNT (4) */
    assert_string_equal(json_string_value(json_array_get(sync, 0)), "THIS_DEVICE");
    assert_string_equal(json_string_value(json_array_get(sync, 1)), "TRUSTED_DEVICE");
    assert_string_equal(json_string_value(json_array_get(sync, 2)), "TRUSTED_ACCOUNT");
    assert_true(json_is_true(json_object_get(j, "isPersistent")));
    assert_true(json_is_true(json_object_get(j, "requireAttrEncrypted")));
    assert_string_equal(str_of(j, "wrapType"), "TRUSTED_ACCOUNT");
    assert_string_equal(str_of(j, "groupId"), "com.example.group");
    assert_string_equal(str_of(j, "dataLabelCritical1"), "crit1");
    assert_string_equal(str_of(j, "dataLabelNormal4"), "norm4");
    assert_string_equal(str_of(j, "dataLabelNormalLocal2"), "\xc3\xa9t\xc3\xa9");
    assert_null(json_object_get(j, "dataLabelCritical2"));
    assert_null(json_object_get(j, "dataLabelNormal1"));
    /* secret: standard base64, padded, of exactly the bytes */
    assert_string_equal(str_of(j, "secret"), "+/8AeA==");
    json_decref(j);

    /* sync bits alone, in order */
    out_init(&b);
    b.o.rec.sync_type = SYNC_TRUSTED_ACCOUNT | SYNC_TRUSTED_DEVICE;
    j = jsonmap_asset(&b.o);
    sync = json_object_get(j, "syncType");
    assert_int_equal(json_array_size(sync), 2);
    assert_string_equal(json_string_value(json_array_get(sync, 0)), "TRUSTED_DEVICE");
    assert_string_equal(json_string_value(json_array_get(sync, 1)), "TRUSTED_ACCOUNT");
    /* the JSON text of an output round-trips */
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"syncType\":[\"TRUSTED_DEVICE\",\"TRUSTED_ACCOUNT\"]"));
    free(text);
    json_decref(j);
}

static void test_asset_output_secret_only_when_set(void **state)
{
    (void)state;
    out_buf b;
    out_init(&b);
    unsigned char one = 'A';
    b.o.secret = &one;
    b.o.secret_len = 1;
    json_t *j = jsonmap_asset(&b.o);
    assert_string_equal(str_of(j, "secret"), "QQ==");
    json_decref(j);
    b.o.secret = NULL;
    b.o.secret_len = 0;
    j = jsonmap_asset(&b.o);
    assert_null(json_object_get(j, "secret"));
    json_decref(j);
    /* a 1024-byte secret is encoded whole */
    unsigned char big[1024];
    char want[1400];
    for (int i = 0; i < 1024; i++)
        big[i] = (unsigned char)i;
    sodium_bin2base64(want, sizeof want, big, sizeof big, sodium_base64_VARIANT_ORIGINAL);
    b.o.secret = big;
    b.o.secret_len = sizeof big;
    j = jsonmap_asset(&b.o);
    assert_string_equal(str_of(j, "secret"), want);
    json_decref(j);
}

static void test_device_output(void **state)
{
    (void)state;
    device_info d;
    memset(&d, 0, sizeof d);
    strcpy(d.id, "123e4567-e89b-42d3-a456-426614174000");
    strcpy(d.name, "phone");
    d.state.unlocked_since_boot = true;
    json_t *j = jsonmap_device(&d);
    assert_non_null(j);
    assert_string_equal(str_of(j, "id"), d.id);
    assert_string_equal(str_of(j, "name"), "phone");
    assert_true(json_is_null(json_object_get(j, "accountId")));
    assert_true(json_is_null(json_object_get(j, "userAuthPublicKey")));
    json_t *st = json_object_get(j, "state");
    assert_true(json_is_object(st));
    assert_int_equal(json_object_size(st), 3);
    assert_true(json_is_false(json_object_get(st, "lockScreenPasswordSet")));
    assert_true(json_is_false(json_object_get(st, "screenLocked")));
    assert_true(json_is_true(json_object_get(st, "unlockedSinceBoot")));
    assert_int_equal(json_object_size(j), 5);
    json_decref(j);

    d.has_account = true;
    strcpy(d.account_id, "acct-1");
    d.has_pk = true;
    for (int i = 0; i < USER_AUTH_PK_LEN; i++)
        d.pk[i] = (unsigned char)i;
    d.state.lock_screen_password_set = true;
    d.state.screen_locked = true;
    d.state.unlocked_since_boot = false;
    j = jsonmap_device(&d);
    assert_string_equal(str_of(j, "accountId"), "acct-1");
    char want[64];
    sodium_bin2base64(want, sizeof want, d.pk, USER_AUTH_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
    assert_string_equal(str_of(j, "userAuthPublicKey"), want);
    st = json_object_get(j, "state");
    assert_true(json_is_true(json_object_get(st, "lockScreenPasswordSet")));
    assert_true(json_is_true(json_object_get(st, "screenLocked")));
    assert_true(json_is_false(json_object_get(st, "unlockedSinceBoot")));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_full_add),
        cmocka_unit_test(test_json_unknown_or_foreign_field),
        cmocka_unit_test(test_json_wrong_types),
        cmocka_unit_test(test_json_nul_in_text),
        cmocka_unit_test(test_json_sync_type),
        cmocka_unit_test(test_args_bools),
        cmocka_unit_test(test_args_ints),
        cmocka_unit_test(test_args_sync_list),
        cmocka_unit_test(test_args_names_and_duplicates),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_asset_output_minimal),
        cmocka_unit_test(test_asset_output_full),
        cmocka_unit_test(test_asset_output_secret_only_when_set),
        cmocka_unit_test(test_device_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
